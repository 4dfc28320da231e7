package dev.edgeplane.storage.metadata;

/** A bind mount of a staged volume into a workload's target path. */
public record Publication(String targetPath, boolean readOnly, Phase phase) {
    public Publication withPhase(Phase p) {
        return new Publication(targetPath, readOnly, p);
    }
}
