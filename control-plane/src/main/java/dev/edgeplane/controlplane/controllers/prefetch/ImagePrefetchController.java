package dev.edgeplane.controlplane.controllers.prefetch;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.ImagePrefetch;
import dev.edgeplane.api.v1.ImagePrefetchStatus;
import dev.edgeplane.api.v1.LocalObjectReference;
import dev.edgeplane.api.v1.NodeImagePrefetchStatus;
import dev.edgeplane.api.v1.SealedSecret;
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
import dev.edgeplane.controlplane.workqueue.WorkQueue;
import dev.edgeplane.controlplane.join.Joiner;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jboss.logging.Logger;

/**
 * Carries out ImagePrefetches, one per work item ("namespace/name"), the Kubernetes way: informers
 * (image prefetches, assignments, secrets) wake only the prefetch a change concerns; a reconcile
 * writes the target nodes' image_pull entries ({@link PrefetchTasks}: exactly the resolved targets,
 * with the pull Secrets' current versions), removes entries no longer wanted (all of them once the
 * prefetch is deleted), then settles the status ({@link PrefetchStatuses#settle}: PULLING once told,
 * FAILED nodes past the deadline, COMPLETE or FAILED when every node has finished). Writes go through
 * {@link LeaderWorkLoop}, fenced on leadership; the status write is also guarded on the resource's
 * mod_revision (the agents' reports are folded into the same status by {@link PrefetchReports}).
 * A prefetch not finished is looked at again at its deadline.
 */
@ApplicationScoped
public class ImagePrefetchController {
    private static final Logger LOG = Logger.getLogger(ImagePrefetchController.class);
    private static final Duration CONFLICT_RETRY = Duration.ofMillis(200);

    private final StateCaches caches;
    private final LeaderLock leader;
    private final LeaderWorkLoop loop;
    /** "namespace/name" -> node -> its task's entry. */
    private final NodeEntryIndex tasks = new NodeEntryIndex(PrefetchTasks::prefetchOf);

    public ImagePrefetchController(EtcdStore store, StateCaches caches, LeaderLock leader, ControlPlaneConfig config) {
        this.caches = caches;
        this.leader = leader;
        this.loop = new LeaderWorkLoop("imageprefetches", store, leader, config.scheduler(), () -> caches.assignments().revision());
    }

    public void start() {
        loop.start(this::reconcile);
        caches.assignments().subscribe(tasks.listener(loop::wake, this::onLeadershipChange), (state, revision) -> {
            tasks.reset(state.values());
            return null;
        });
        caches.imagePrefetches().subscribe(PrefixCache.Listener.waking(Keys.IMAGE_PREFETCHES, loop::wake, this::onLeadershipChange), (state, revision) -> null);
        caches.secrets().subscribe(new SecretListener(), (state, revision) -> null);
        leader.addListener(this::onLeadershipChange); // the App controller starts the lock
    }

    public void stop() {
        loop.stop();
    }

    // ---- what wakes what ----

    private void onLeadershipChange() {
        if (!leader.isLeader()) {
            return;
        }
        Set<String> all = tasks.owners(); // with the entries of prefetches deleted while no leader ran
        caches.imagePrefetches().all().forEach(e -> all.add(Keys.suffix(e.key(), Keys.IMAGE_PREFETCHES)));
        all.forEach(loop::wake);
    }

    /** A pull Secret changed: the prefetches of its namespace naming it write its new version into their entries. */
    private final class SecretListener implements PrefixCache.Listener<SealedSecret> {
        @Override
        public void onEvents(List<PrefixCache.Event<SealedSecret>> changes, long revision) {
            for (PrefixCache.Event<SealedSecret> change : changes) {
                String rest = Keys.suffix(change.key(), Keys.SECRETS);
                int slash = rest.indexOf('/');
                String ns = rest.substring(0, slash);
                String name = rest.substring(slash + 1);
                for (Entry<ImagePrefetch> e : caches.imagePrefetches().list(Keys.IMAGE_PREFETCHES + ns + "/")) {
                    if (e.value().getSpec().getImagePullSecretsList().stream().anyMatch(s -> s.getName().equals(name))) {
                        loop.wake(Keys.suffix(e.key(), Keys.IMAGE_PREFETCHES));
                    }
                }
            }
        }

        @Override
        public void onReset(Map<String, Entry<SealedSecret>> state, long revision) {
            onLeadershipChange();
        }
    }

    // ---- reconcile one prefetch ----

    WorkQueue.Outcome reconcile(String prefetch) throws Exception {
        WorkQueue.Outcome notReady = loop.notReady(prefetch);
        if (notReady != null) {
            return notReady;
        }
        int slash = prefetch.indexOf('/');
        String namespace = prefetch.substring(0, slash);
        String name = prefetch.substring(slash + 1);
        String key = Keys.imagePrefetch(namespace, name);
        Entry<ImagePrefetch> entry = caches.imagePrefetches().get(key);
        Map<String, Entry<Assignment>> existing = tasks.entries(prefetch);
        List<Write> writes = new ArrayList<>();
        if (entry == null) {
            existing.values().forEach(e -> writes.add(Write.delete(e.key())));
            if (!writes.isEmpty()) {
                if (loop.commit(prefetch, writes, List.of()) < 0) {
                    return WorkQueue.DONE; // no longer the leader; the next one cleans up
                }
                LOG.infof("image prefetch %s deleted: removed its %d node entries", prefetch, writes.size());
            }
            return WorkQueue.DONE;
        }
        ImagePrefetch value = entry.value();
        List<ConfigRef> secrets = secretVersions(namespace, value.getSpec().getImagePullSecretsList());
        Set<String> targets = new HashSet<>();
        for (NodeImagePrefetchStatus node : value.getStatus().getNodesList()) {
            targets.add(node.getNode());
            Assignment task = PrefetchTasks.task(value, node.getNode(), secrets);
            Entry<Assignment> current = existing.get(node.getNode());
            if (current == null || !current.value().equals(task)) {
                writes.add(Write.put(PrefetchTasks.key(node.getNode(), namespace, name), task.toByteArray()));
            }
        }
        for (Map.Entry<String, Entry<Assignment>> e : existing.entrySet()) {
            if (!targets.contains(e.getKey())) {
                writes.add(Write.delete(e.getValue().key())); // an older prefetch of the same name
            }
        }
        if (!writes.isEmpty()) {
            if (loop.commit(prefetch, writes, List.of()) < 0) {
                return WorkQueue.DONE;
            }
            LOG.debugf("image prefetch %s: %d node entries written", prefetch, writes.size());
        }
        Instant now = Instant.now();
        Duration deadline = PrefetchStatuses.deadline(value);
        ImagePrefetchStatus settled = PrefetchStatuses.settle(value.getStatus(), true, deadline, now);
        if (!settled.equals(value.getStatus())) {
            ImagePrefetch next = value.toBuilder().setStatus(settled).build();
            Cmp unchanged = new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(entry.modRevision()));
            if (loop.commit(null, List.of(Write.put(key, next.toByteArray())), List.of(unchanged)) < 0) {
                return leader.isLeader() ? new WorkQueue.RequeueAfter(CONFLICT_RETRY) : WorkQueue.DONE;
            }
            if (settled.getPhase() != value.getStatus().getPhase()) {
                LOG.infof("image prefetch %s: %s (%s)", prefetch, settled.getPhase(), settled.getMessage());
            }
        }
        if (!PrefetchStatuses.terminal(settled)) {
            Instant due = Joiner.toInstant(settled.getStartTime()).plus(deadline).plusMillis(10);
            Duration until = Duration.between(now, due);
            return new WorkQueue.RequeueAfter(until.isNegative() ? Duration.ofMillis(10) : until);
        }
        return WorkQueue.DONE;
    }

    /** The pull Secrets at the versions the informer holds now (0: missing, the node pulls without it). */
    private List<ConfigRef> secretVersions(String namespace, List<LocalObjectReference> names) {
        List<ConfigRef> refs = new ArrayList<>();
        for (LocalObjectReference ref : names) {
            Entry<SealedSecret> secret = caches.secrets().get(Keys.secret(namespace, ref.getName()));
            refs.add(ConfigRef.newBuilder().setKind(ConfigRef.Kind.SECRET).setName(ref.getName())
                    .setVersion(secret == null ? 0 : secret.modRevision()).build());
        }
        return refs;
    }

    /** Nothing queued, waiting or being reconciled (tests). */
    public boolean quiet() {
        return loop.quiet();
    }
}
