package dev.edgeplane.controlplane.controllers.snapshotpolicy;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeSnapshotPolicy;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.controllers.LeaderWorkLoop;
import dev.edgeplane.controlplane.controllers.NodeEntryIndex;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.store.Write;
import dev.edgeplane.controlplane.volumes.SnapshotPolicyTasks;
import dev.edgeplane.controlplane.workqueue.WorkQueue;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jboss.logging.Logger;

/**
 * Hands VolumeSnapshotPolicies to the nodes, one work item per policy ("namespace/name"): informers
 * (policies, volumes, assignments) wake only the policies a change concerns (a volume change wakes the
 * policies of its namespace); a reconcile writes exactly the entries {@link SnapshotPolicyTasks#tasks}
 * wants (one per node holding a selected, created volume) and removes the others, all of them once the
 * policy is gone. Writes go through {@link LeaderWorkLoop}, fenced on leadership. The firing itself happens
 * on the nodes.
 */
@ApplicationScoped
public class SnapshotPolicyController {
    private static final Logger LOG = Logger.getLogger(SnapshotPolicyController.class);

    private final StateCaches caches;
    private final LeaderLock leader;
    private final LeaderWorkLoop loop;
    /** "namespace/policy" -> node -> its entry. */
    private final NodeEntryIndex tasks = new NodeEntryIndex(SnapshotPolicyTasks::policyOf);

    public SnapshotPolicyController(EtcdStore store, StateCaches caches, LeaderLock leader, ControlPlaneConfig config) {
        this.caches = caches;
        this.leader = leader;
        this.loop = new LeaderWorkLoop("snapshotpolicies", store, leader, config.scheduler(), () -> caches.assignments().revision());
    }

    public void start() {
        loop.start(this::reconcile);
        caches.assignments().subscribe(tasks.listener(loop::wake, this::wakeAll), (state, revision) -> {
            tasks.reset(state.values());
            return null;
        });
        caches.snapshotPolicies().subscribe(PrefixCache.Listener.waking(Keys.VOLUME_SNAPSHOT_POLICIES, loop::wake, this::wakeAll), (state, revision) -> null);
        caches.volumes().subscribe(new VolumeListener(), (state, revision) -> null);
        leader.addListener(this::wakeAll); // the App controller starts the lock
    }

    public void stop() {
        loop.stop();
    }

    private void wakeAll() {
        if (!leader.isLeader()) {
            return;
        }
        Set<String> all = tasks.owners(); // with the entries of policies deleted while no leader ran
        caches.snapshotPolicies().all().forEach(e -> all.add(Keys.suffix(e.key(), Keys.VOLUME_SNAPSHOT_POLICIES)));
        all.forEach(loop::wake);
    }

    private void wakeNamespace(String namespace) {
        caches.snapshotPolicies().list(Keys.VOLUME_SNAPSHOT_POLICIES + namespace + "/")
                .forEach(e -> loop.wake(Keys.suffix(e.key(), Keys.VOLUME_SNAPSHOT_POLICIES)));
        tasks.owners().stream().filter(k -> k.startsWith(namespace + "/")).forEach(loop::wake);
    }

    private final class VolumeListener implements PrefixCache.Listener<Volume> {
        @Override
        public void onEvents(List<PrefixCache.Event<Volume>> changes, long revision) {
            Set<String> namespaces = new HashSet<>();
            for (PrefixCache.Event<Volume> change : changes) {
                String rest = Keys.suffix(change.key(), Keys.VOLUMES);
                namespaces.add(rest.substring(0, rest.indexOf('/')));
            }
            namespaces.forEach(SnapshotPolicyController.this::wakeNamespace);
        }

        @Override
        public void onReset(Map<String, Entry<Volume>> state, long revision) {
            wakeAll();
        }
    }

    WorkQueue.Outcome reconcile(String policy) throws Exception {
        WorkQueue.Outcome notReady = loop.notReady(policy);
        if (notReady != null) {
            return notReady;
        }
        int slash = policy.indexOf('/');
        String namespace = policy.substring(0, slash);
        String name = policy.substring(slash + 1);
        Entry<VolumeSnapshotPolicy> entry = caches.snapshotPolicies().get(Keys.volumeSnapshotPolicy(namespace, name));
        Map<String, Entry<Assignment>> existing = tasks.entries(policy);
        Map<String, Assignment> wanted = entry == null ? Map.of()
                : SnapshotPolicyTasks.tasks(entry.value(), caches.volumes().list(Keys.VOLUMES + namespace + "/").stream()
                        .map(Entry::value).toList());
        List<Write> writes = new ArrayList<>();
        wanted.forEach((node, task) -> {
            Entry<Assignment> current = existing.get(node);
            if (current == null || !current.value().equals(task)) {
                writes.add(Write.put(SnapshotPolicyTasks.key(node, namespace, name), task.toByteArray()));
            }
        });
        existing.forEach((node, e) -> {
            if (!wanted.containsKey(node)) {
                writes.add(Write.delete(e.key()));
            }
        });
        if (!writes.isEmpty() && loop.commit(policy, writes, List.of()) >= 0) {
            LOG.infof("snapshot policy %s: %d node entries written (%d nodes hold volumes it selects)", policy, writes.size(),
                    wanted.size());
        }
        return WorkQueue.DONE;
    }

    /** Nothing queued, waiting or being reconciled (tests). */
    public boolean quiet() {
        return loop.quiet();
    }
}
