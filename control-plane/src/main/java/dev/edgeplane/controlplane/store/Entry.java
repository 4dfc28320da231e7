package dev.edgeplane.controlplane.store;

/** One etcd key-value, decoded, with the revisions etcd keeps for it. */
public record Entry<T>(String key, T value, long modRevision, long createRevision) {}
