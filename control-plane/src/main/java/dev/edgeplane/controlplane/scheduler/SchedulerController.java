package dev.edgeplane.controlplane.scheduler;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.Volume;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import java.util.Optional;
import dev.edgeplane.controlplane.events.EventRecorder;
import dev.edgeplane.controlplane.events.Occurrence;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.PutOption;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jboss.logging.Logger;

/**
 * Turns Apps into per-node assignments. Level-triggered: any change of apps, nodes or assignments
 * (from the in-memory watches, one per prefix) marks the world dirty and one thread reconciles
 * everything against {@link Placement}; a periodic pass catches time-based decisions. Only the
 * leader writes, and its transactions are fenced on the leader key.
 */
@ApplicationScoped
public class SchedulerController {
    private static final Logger LOG = Logger.getLogger(SchedulerController.class);
    private static final int OPS_PER_TXN = 64;

    private final EtcdStore store;
    private final StateCaches caches;
    private final LeaderLock leader;
    private final EventRecorder events;
    private final ScheduledExecutorService worker = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "edgeplane-scheduler");
        t.setDaemon(true);
        return t;
    });
    private final AtomicBoolean queued = new AtomicBoolean();
    /** etcd revision of this process's newest assignment write (worker thread only). */
    private long lastWrite;
    private long lastWriteNanos;

    public SchedulerController(EtcdStore store, StateCaches caches, LeaderLock leader, EventRecorder events) {
        this.store = store;
        this.events = events;
        this.caches = caches;
        this.leader = leader;
    }

    public void start() {
        caches.apps().subscribe(trigger());
        caches.nodes().subscribe(trigger());
        caches.assignments().subscribe(trigger());
        leader.start(this::kick);
        worker.scheduleWithFixedDelay(this::kick, 10, 10, TimeUnit.SECONDS);
    }

    public void stop() {
        worker.shutdownNow();
        leader.stop();
    }

    private <T> PrefixCache.Listener<T> trigger() {
        return new PrefixCache.Listener<>() {
            @Override
            public void onEvents(List<PrefixCache.Event<T>> events, long revision) {
                kick();
            }

            @Override
            public void onReset(Map<String, Entry<T>> state, long revision) {
                kick();
            }
        };
    }

    /** Schedules one reconcile pass unless one is already waiting. */
    public void kick() {
        if (queued.compareAndSet(false, true)) {
            try {
                worker.execute(() -> {
                    queued.set(false);
                    reconcile();
                });
            } catch (java.util.concurrent.RejectedExecutionException e) {
                queued.set(false);
            }
        }
    }

    private void reconcile() {
        if (!leader.isLeader()) {
            return;
        }
        if (caches.assignments().revision() < lastWrite && System.nanoTime() - lastWriteNanos < TimeUnit.SECONDS.toNanos(2)) {
            // Our own last writes are not in the cache yet: planning now could place a replica twice.
            // (Bounded: a write that changed nothing under the prefix never shows up there.)
            worker.schedule(this::kick, 20, TimeUnit.MILLISECONDS);
            return;
        }
        try {
            // Volumes are few and read once per pass (no watch of their own); binding writes are guarded per key.
            Map<String, Entry<Volume>> volumes = new HashMap<>();
            for (Entry<byte[]> e : store.listAll(Keys.VOLUMES).entries()) {
                volumes.put(e.key(), new Entry<>(e.key(), EtcdStore.decode(Volume.parser(), e.value()), e.modRevision(), e.createRevision()));
            }
            List<VolumeBinding.VolumeWrite> volumeWrites = new ArrayList<>();
            List<Occurrence> planned = new ArrayList<>();
            List<Op> ops = plan(caches.apps().all(), caches.nodes().all(), caches.assignments().all(), Instant.now(),
                    volumes, volumeWrites, planned);
            writeVolumes(volumeWrites);
            for (int i = 0; i < ops.size(); i += OPS_PER_TXN) {
                List<Op> chunk = ops.subList(i, Math.min(ops.size(), i + OPS_PER_TXN));
                TxnResponse response = store.await(store.client().getKVClient().txn()
                        .If(leader.fence())
                        .Then(chunk.toArray(Op[]::new))
                        .commit(), "write assignments");
                if (!response.isSucceeded()) {
                    LOG.warn("assignment write refused: this process is no longer the leader");
                    return;
                }
                lastWrite = response.getHeader().getRevision();
                lastWriteNanos = System.nanoTime();
            }
            planned.forEach(events::record); // only once the assignments are written
        } catch (RuntimeException e) {
            LOG.warnf("scheduling pass failed (%s); retrying", e.getMessage());
            worker.schedule(this::kick, 1, TimeUnit.SECONDS);
        }
    }

    /** Each volume status change in its own transaction, fenced on leadership and on the volume's revision. */
    private void writeVolumes(List<VolumeBinding.VolumeWrite> writes) {
        for (VolumeBinding.VolumeWrite write : writes) {
            ByteSequence key = EtcdStore.bytes(write.key());
            List<Op> ops = new ArrayList<>(List.of(write.value().isPresent()
                    ? Op.put(key, EtcdStore.bytes(write.value().get().toByteArray()), PutOption.DEFAULT)
                    : Op.delete(key, DeleteOption.DEFAULT)));
            // A volume task (its node deletes the data) appears with the phase that explains it, or not at all.
            write.task().ifPresent(task -> ops.add(Op.put(EtcdStore.bytes(Keys.assignment(task.getNode(), task.getNamespace(),
                    task.getReplica())), EtcdStore.bytes(task.toByteArray()), PutOption.DEFAULT)));
            TxnResponse response = store.await(store.client().getKVClient().txn()
                    .If(leader.fence(), new Cmp(key, Cmp.Op.EQUAL, CmpTarget.modRevision(write.modRevision())))
                    .Then(ops.toArray(Op[]::new)).commit(), "write volume status");
            if (response.isSucceeded()) {
                LOG.infof("volume %s: %s", Keys.suffix(write.key(), Keys.VOLUMES), write.why());
                write.value().filter(v -> v.getStatus().getPhase() == dev.edgeplane.api.v1.VolumeStatus.Phase.BOUND)
                        .ifPresent(v -> events.info(EventRecorder.volume(v.getMetadata().getNamespace(), v.getMetadata().getName()),
                                "VolumeBound", write.why(), v.getStatus().getNode()));
            } else {
                worker.schedule(this::kick, 200, TimeUnit.MILLISECONDS); // changed meanwhile: look again
            }
        }
    }

    /** The etcd operations that bring assignments in line with the apps and nodes. */
    List<Op> plan(List<Entry<App>> apps, List<Entry<Node>> nodeEntries, List<Entry<Assignment>> assignments, Instant now) {
        return plan(apps, nodeEntries, assignments, now, Map.of(), new ArrayList<>());
    }

    /** Also resolves, pins and binds the Apps' volumes; their status changes are added to {@code volumeWrites}. */
    List<Op> plan(List<Entry<App>> apps, List<Entry<Node>> nodeEntries, List<Entry<Assignment>> assignments, Instant now,
                  Map<String, Entry<Volume>> volumes, List<VolumeBinding.VolumeWrite> volumeWrites) {
        return plan(apps, nodeEntries, assignments, now, volumes, volumeWrites, new ArrayList<>());
    }

    /** Also says what it did as events (Scheduled, Rescheduled, NodeDrained), to record once the ops are written. */
    List<Op> plan(List<Entry<App>> apps, List<Entry<Node>> nodeEntries, List<Entry<Assignment>> assignments, Instant now,
                  Map<String, Entry<Volume>> volumes, List<VolumeBinding.VolumeWrite> volumeWrites, List<Occurrence> planned) {
        List<Node> nodes = nodeEntries.stream().map(Entry::value).toList();
        // namespace/app -> replica -> current assignment entry
        Map<String, Map<String, Entry<Assignment>>> byApp = new HashMap<>();
        Map<String, Integer> load = new HashMap<>();
        List<Op> ops = new ArrayList<>();
        Set<String> volumesInUse = new HashSet<>();
        for (Entry<Assignment> e : assignments) {
            Assignment a = e.value();
            if (a.hasVolumeSnapshot() || a.hasVolumeTask()) {
                continue; // a snapshot or volume task of the node (VolumeService's), not a replica
            }
            Map<String, Entry<Assignment>> replicas = byApp.computeIfAbsent(a.getNamespace() + "/" + a.getApp(), k -> new HashMap<>());
            Entry<Assignment> other = replicas.get(a.getReplica());
            if (other != null) {
                // One replica on two nodes must never last: keep the newer placement, drop the other key.
                Entry<Assignment> older = other.modRevision() <= e.modRevision() ? other : e;
                LOG.warnf("replica %s/%s was assigned twice; removing it from %s", a.getNamespace(), a.getReplica(), older.value().getNode());
                ops.add(Op.delete(EtcdStore.bytes(older.key()), DeleteOption.DEFAULT));
                load.merge(older.value().getNode(), -1, Integer::sum);
                if (older == other) {
                    replicas.put(a.getReplica(), e);
                }
                load.merge(a.getNode(), older == e ? 0 : 1, Integer::sum);
                continue;
            }
            replicas.put(a.getReplica(), e);
            load.merge(a.getNode(), 1, Integer::sum);
        }
        for (Entry<App> entry : apps) {
            App app = entry.value();
            String ns = app.getMetadata().getNamespace();
            String appId = ns + "/" + app.getMetadata().getName();
            Map<String, Entry<Assignment>> mine = byApp.getOrDefault(appId, Map.of());
            byApp.remove(appId);
            Map<String, String> current = new HashMap<>();
            Map<String, Integer> others = new HashMap<>(load);
            for (Entry<Assignment> e : mine.values()) {
                current.put(e.value().getReplica(), e.value().getNode());
                others.merge(e.value().getNode(), -1, Integer::sum);
            }
            Optional<VolumeBinding.Resolved> resolved = VolumeBinding.resolve(app, volumes);
            if (resolved.isEmpty()) {
                if (!mine.isEmpty()) { // what keeps running keeps its volumes in use
                    app.getSpec().getTemplate().getVolumesList().stream()
                            .filter(pv -> pv.getSourceCase() == dev.edgeplane.api.v1.PodVolume.SourceCase.VOLUME)
                            .forEach(pv -> volumesInUse.add(Keys.volume(ns, pv.getVolume())));
                }
                continue; // a volume it names does not exist (yet): keep what runs, place nothing new
            }
            Map<String, String> desired = Placement.place(app, nodes, current, others, now, resolved.get().pinnedTo());
            for (Map.Entry<String, String> d : desired.entrySet()) {
                String replica = d.getKey();
                String node = d.getValue();
                volumeWrites.addAll(VolumeBinding.bind(resolved.get(), volumes, ns, replica, node, now));
                resolved.get().claims().keySet().forEach(v -> volumesInUse.add(Keys.volume(ns, v)));
                Entry<Assignment> existing = mine.get(replica);
                Assignment wanted = Assignment.newBuilder()
                        .setNode(node)
                        .setNamespace(ns)
                        .setApp(app.getMetadata().getName())
                        .setReplica(replica)
                        .setTemplate(app.getSpec().getTemplate())
                        .setGeneration(app.getMetadata().getGeneration())
                        .putAllAppLabels(app.getMetadata().getLabelsMap())
                        .putAllVolumes(resolved.get().claims())
                        .build();
                if (existing != null && existing.value().getNode().equals(node) && sameWork(existing.value(), wanted)) {
                    continue; // unchanged: no write, so agents see no churn
                }
                if (existing != null && !existing.value().getNode().equals(node)) {
                    ops.add(Op.delete(EtcdStore.bytes(existing.key()), DeleteOption.DEFAULT));
                    ops.add(Op.delete(EtcdStore.bytes(Keys.replicaStatus(ns, replica)), DeleteOption.DEFAULT));
                    String from = existing.value().getNode();
                    LOG.infof("moving %s/%s from %s to %s", ns, replica, from, node);
                    boolean drained = nodes.stream().anyMatch(n -> n.getMetadata().getName().equals(from) && n.getSpec().getDrained());
                    planned.add(Occurrence.of(dev.edgeplane.api.v1.EventLevel.INFO, EventRecorder.replica(ns, replica), "Rescheduled",
                            "moved from " + from + " to " + node + (drained ? " (" + from + " is drained)" : ""), node,
                            EventRecorder.SOURCE, now));
                    if (drained) {
                        planned.add(Occurrence.of(dev.edgeplane.api.v1.EventLevel.INFO, EventRecorder.node(from), "NodeDrained",
                                "moved replica " + ns + "/" + replica + " to " + node, from, EventRecorder.SOURCE, now));
                    }
                } else if (existing == null) {
                    LOG.infof("placing %s/%s on %s", ns, replica, node);
                    planned.add(Occurrence.of(dev.edgeplane.api.v1.EventLevel.INFO, EventRecorder.replica(ns, replica), "Scheduled",
                            "assigned to node " + node, node, EventRecorder.SOURCE, now));
                }
                ops.add(Op.put(EtcdStore.bytes(Keys.assignment(node, ns, replica)), EtcdStore.bytes(wanted.toByteArray()), PutOption.DEFAULT));
            }
            for (Entry<Assignment> e : mine.values()) {
                if (!desired.containsKey(e.value().getReplica())) {
                    LOG.infof("removing %s/%s from %s", ns, e.value().getReplica(), e.value().getNode());
                    ops.addAll(removal(e));
                }
            }
        }
        volumeWrites.addAll(VolumeBinding.settle(apps, volumesInUse, volumes));
        // Assignments of apps that no longer exist.
        for (Map<String, Entry<Assignment>> orphans : byApp.values()) {
            for (Entry<Assignment> e : orphans.values()) {
                LOG.infof("removing %s/%s from %s (app deleted)", e.value().getNamespace(), e.value().getReplica(), e.value().getNode());
                ops.addAll(removal(e));
            }
        }
        return ops;
    }

    private static List<Op> removal(Entry<Assignment> e) {
        return List.of(
                Op.delete(EtcdStore.bytes(e.key()), DeleteOption.DEFAULT),
                Op.delete(EtcdStore.bytes(Keys.replicaStatus(e.value().getNamespace(), e.value().getReplica())), DeleteOption.DEFAULT));
    }

    /** Same template and labels: the generation alone changing (e.g. a scale) does not rewrite. */
    private static boolean sameWork(Assignment a, Assignment b) {
        return a.getTemplate().equals(b.getTemplate()) && a.getAppLabelsMap().equals(b.getAppLabelsMap())
                && a.getVolumesMap().equals(b.getVolumesMap());
    }
}
