package dev.edgeplane.agent.volumes;

import dev.edgeplane.agent.journal.DesiredState;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.loop.PassLoop;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.VolumeClaim;
import dev.edgeplane.api.v1.VolumeTask;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.logging.Logger;

/**
 * The control plane's orders about the node's volumes (Assignment.volume_task, "volume.&lt;name&gt;"
 * entries of the desired state), carried out level-triggered like the pod reconciler: while an
 * order is desired it is done (again after a restart: deleting is idempotent), and once done it is
 * reported through the volume's state (DELETED). The only way this agent deletes a volume: scaling
 * to 0, a pod replacement or a restart never do. A volume a desired replica still names is left
 * alone until that replica is gone (the order may arrive before the replica's removal does), and
 * the driver refuses one a pod still publishes, so the order is retried soon. An EXPAND order grows
 * a volume no desired replica of this node uses (one that does grows from its claim's size); it is
 * carried out once per size and uid, and again whenever it failed.
 */
public final class VolumeTasks implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(VolumeTasks.class.getName());

    private final PodVolumes volumes;
    private final DesiredStateStore desired;
    private final BiConsumer<String, String> forget;
    private final PassLoop loop;
    /** Orders carried out since the agent started (namespace/name/uid -> namespace/name). */
    private final Map<String, String> done = new HashMap<>();
    private final Map<String, String> lastError = new HashMap<>();
    /** EXPAND orders carried out since the agent started: namespace/name/uid -> the size grown to. */
    private final Map<String, Long> expanded = new HashMap<>();
    private volatile boolean closed;
    private volatile boolean retrySoon;

    /**
     * @param forget told (namespace, name) once a deleted volume's order is gone from the desired
     *               state: the control plane has removed the Volume, nothing more to report
     */
    public VolumeTasks(PodVolumes volumes, DesiredStateStore desired, BiConsumer<String, String> forget, Duration period) {
        this.volumes = volumes;
        this.desired = desired;
        this.forget = forget;
        this.loop = new PassLoop("volume-tasks", period, Duration.ofMillis(500), () -> {
            syncOnce();
            return retrySoon;
        });
        desired.addListener(this::trigger);
    }

    public void start() {
        loop.start();
    }

    public void trigger() {
        loop.trigger();
    }

    /** One pass over the orders of the current desired state. */
    void syncOnce() {
        retrySoon = false;
        DesiredState state = desired.current();
        Set<String> claimed = new HashSet<>();
        for (Assignment replica : state.assignments().values()) {
            replica.getVolumesMap().values().forEach(claim -> claimed.add(replica.getNamespace() + "/" + claim.getUid()));
        }
        Set<String> ordered = new HashSet<>();
        for (Assignment entry : state.volumeTasks().values()) {
            if (closed) {
                return;
            }
            VolumeTask task = entry.getVolumeTask();
            String key = entry.getNamespace() + "/" + task.getName() + "/" + task.getUid();
            ordered.add(key);
            if (done.containsKey(key)) {
                continue;
            }
            if (task.getAction() == VolumeTask.Action.EXPAND) {
                if (!claimed.contains(entry.getNamespace() + "/" + task.getUid()) && volumes.hasDriver()
                        && !Long.valueOf(task.getSizeBytes()).equals(expanded.get(key))) {
                    expand(entry.getNamespace(), task, key);
                }
                continue;
            }
            if (task.getAction() != VolumeTask.Action.DELETE) {
                warnOnce(key, "volume " + key + ": unknown order " + task.getAction() + " (a newer control plane?); ignored");
                continue;
            }
            if (claimed.contains(entry.getNamespace() + "/" + task.getUid())) {
                continue; // a desired replica still names it: its removal comes next
            }
            if (!volumes.hasDriver()) {
                warnOnce(key, "volume " + key + ": ordered deleted, but this agent has no storage driver");
                continue;
            }
            delete(entry.getNamespace(), task, key);
        }
        if (state.complete()) {
            expanded.keySet().retainAll(ordered);
            done.entrySet().removeIf(e -> {
                if (ordered.contains(e.getKey())) {
                    return false;
                }
                String[] who = e.getValue().split("/", 2);
                forget.accept(who[0], who[1]);
                return true;
            });
        }
    }

    private void delete(String namespace, VolumeTask task, String key) {
        VolumeClaim volume = VolumeClaim.newBuilder().setName(task.getName()).setUid(task.getUid()).build();
        try {
            String id = volumes.deleteVolume(namespace, volume, task.getVolumeId());
            done.put(key, namespace + "/" + task.getName());
            lastError.remove(key);
            LOG.info(() -> "volume " + namespace + "/" + task.getName() + (id.isEmpty() ? " was never created on this node"
                    : " (" + id + ") deleted") + " on the control plane's order");
        } catch (StatusRuntimeException e) {
            Status.Code code = e.getStatus().getCode();
            // ABORTED: busy; FAILED_PRECONDITION: a pod being torn down still publishes it. Both pass soon.
            retrySoon |= code == Status.Code.ABORTED || code == Status.Code.FAILED_PRECONDITION;
            warnOnce(key, "cannot delete volume " + key + ": " + code + " " + e.getStatus().getDescription() + "; retrying");
        } catch (IllegalStateException e) {
            warnOnce(key, "cannot delete volume " + key + ": " + e.getMessage());
        }
    }

    private void expand(String namespace, VolumeTask task, String key) {
        VolumeClaim volume = VolumeClaim.newBuilder().setName(task.getName()).setUid(task.getUid())
                .setSizeBytes(task.getSizeBytes()).build();
        try {
            boolean exists = volumes.expandVolume(namespace, volume, task.getVolumeId());
            // A failed growth is reported on the volume (resize_error) and retried on the next pass.
            if (!exists || !volumes.lastResizeFailed(namespace, volume)) {
                expanded.put(key, task.getSizeBytes());
                lastError.remove(key);
            }
        } catch (StatusRuntimeException e) {
            retrySoon |= e.getStatus().getCode() == Status.Code.ABORTED;
            warnOnce(key, "cannot expand volume " + key + ": " + e.getStatus().getCode() + " " + e.getStatus().getDescription()
                    + "; retrying");
        } catch (IllegalStateException e) {
            warnOnce(key, "cannot expand volume " + key + ": " + e.getMessage());
        }
    }

    private void warnOnce(String key, String message) {
        if (!message.equals(lastError.put(key, message))) {
            LOG.warning(message);
        }
    }

    @Override
    public void close() {
        closed = true;
        loop.close(Duration.ofSeconds(10));
    }
}
