package dev.edgeplane.controlplane.controllers;

import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.TxnWriter;
import dev.edgeplane.controlplane.store.Write;
import dev.edgeplane.controlplane.workqueue.WorkQueue;
import io.etcd.jetcd.op.Cmp;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.jboss.logging.Logger;

/**
 * What every leader-only controller keyed by "namespace/name" shares, held by composition: its work
 * queue (one worker), waking, commits fenced on leadership, and the wait for its own last write to
 * show in the informer it plans from, so a reconcile never plans on a view older than what it wrote.
 * A reconcile starts with {@link #notReady} and writes with {@link #commit}.
 */
public final class LeaderWorkLoop {
    private static final Logger LOG = Logger.getLogger(LeaderWorkLoop.class);
    private static final long COMMIT_TIMEOUT_SECONDS = 60;
    private static final Duration OWN_WRITES_WAIT = Duration.ofSeconds(2);
    private static final Duration OWN_WRITES_POLL = Duration.ofMillis(5);

    private record Written(long revision, long nanos) {}

    private final String name;
    private final EtcdStore store;
    private final LeaderLock leader;
    private final ControlPlaneConfig.Scheduler config;
    private final LongSupplier viewRevision;
    private final Map<String, Written> written = new ConcurrentHashMap<>();
    private volatile TxnWriter writer;
    private volatile WorkQueue<String> queue;

    /**
     * @param name         the queue's name (threads are edgeplane-{@code name}-*), e.g. "snapshotpolicies"
     * @param viewRevision the revision of the informer the controller's own writes land in
     */
    public LeaderWorkLoop(String name, EtcdStore store, LeaderLock leader, ControlPlaneConfig.Scheduler config,
                          LongSupplier viewRevision) {
        this.name = name;
        this.store = store;
        this.leader = leader;
        this.config = config;
        this.viewRevision = viewRevision;
    }

    public void start(WorkQueue.Reconciler<String> reconciler) {
        writer = new TxnWriter(store, config.writesInFlight());
        queue = new WorkQueue<>("edgeplane-" + name, 1, config.queueCapacity(), reconciler);
    }

    public void stop() {
        WorkQueue<String> q = queue;
        if (q != null) {
            q.close();
        }
    }

    public void wake(String key) {
        WorkQueue<String> q = queue;
        if (q != null && !q.add(key)) {
            LOG.warnf("%s queue full: %s not queued", name, key);
        }
    }

    public boolean isLeader() {
        return leader.isLeader();
    }

    /**
     * Why this reconcile of {@code key} must not plan now, or null: not the leader (done: the leader
     * does it), or the informer does not show this key's last write yet (look again in a moment, up to
     * a bound after which the view is taken as it is).
     */
    public WorkQueue.Outcome notReady(String key) {
        if (!leader.isLeader()) {
            return WorkQueue.DONE;
        }
        Written last = written.get(key);
        if (last != null && viewRevision.getAsLong() < last.revision()
                && System.nanoTime() - last.nanos() < OWN_WRITES_WAIT.toNanos()) {
            return new WorkQueue.RequeueAfter(OWN_WRITES_POLL);
        }
        written.remove(key);
        return null;
    }

    /**
     * Commits {@code writes} for {@code key}, fenced on leadership and guarded by {@code guards}; the
     * revision written, or -1 when a guard failed (leadership lost, or a guarded key changed). The
     * key's next reconcile waits for the view to show the write; {@code key} null: writes the view
     * does not hold (a status), not waited for.
     */
    public long commit(String key, List<Write> writes, List<Cmp> guards) throws Exception {
        List<Cmp> all = new ArrayList<>(guards.size() + 1);
        all.add(leader.fence());
        all.addAll(guards);
        try {
            long revision = writer.commit(writes, all).get(COMMIT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            if (key != null) {
                written.put(key, new Written(revision, System.nanoTime()));
            }
            return revision;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof TxnWriter.GuardFailed) {
                return -1;
            }
            throw e;
        }
    }

    /** Nothing queued, waiting or being reconciled (tests). */
    public boolean quiet() {
        WorkQueue<String> q = queue;
        return q == null || q.depth() + q.delayed() + q.inProgress() == 0;
    }
}
