package dev.edgeplane.storage.metadata;

/** The node-global mount of a volume (NodeStageVolume). */
public record Staging(String stagingPath, Phase phase) {
    public Staging withPhase(Phase p) {
        return new Staging(stagingPath, p);
    }
}
