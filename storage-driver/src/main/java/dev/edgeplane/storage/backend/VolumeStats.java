package dev.edgeplane.storage.backend;

/** Bytes and inodes of one volume as NodeGetVolumeStats reports them. */
public record VolumeStats(long totalBytes, long usedBytes, long availableBytes,
                          long totalInodes, long usedInodes, long freeInodes) {
}
