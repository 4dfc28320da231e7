package dev.edgeplane.storage;

/**
 * Called at named points inside multi-step operations. Production uses {@link #NONE}; crash tests
 * use it to stop the driver process at an exact step and kill -9 it there.
 */
@FunctionalInterface
public interface StepHook {
    StepHook NONE = (step, id) -> { };

    /** Steps that are reached, in order, inside NodeStage / NodePublish / CreateSnapshot. */
    String STAGE_AFTER_ATTACH = "stage-after-attach";
    String STAGE_AFTER_MOUNT = "stage-after-mount";
    String PUBLISH_AFTER_MOUNT = "publish-after-mount";
    String SNAPSHOT_WHILE_FROZEN = "snapshot-while-frozen";
    String SNAPSHOT_COPYING = "snapshot-copying";

    void reached(String step, String id);
}
