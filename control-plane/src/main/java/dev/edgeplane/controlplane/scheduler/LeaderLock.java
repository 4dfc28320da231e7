package dev.edgeplane.controlplane.scheduler;

import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.lease.LeaseKeepAliveResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.PutOption;
import io.etcd.jetcd.support.CloseableClient;
import io.grpc.stub.StreamObserver;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Leadership among control-plane replicas: the leader holds {@code /edgeplane/leader/scheduler},
 * written with its own id under a lease it keeps alive. Only the leader schedules and marks nodes
 * unreachable; its writes compare the key's value with its id (fencing), so a deposed leader's
 * late write fails instead of fighting the new one.
 */
@ApplicationScoped
public class LeaderLock {
    private static final Logger LOG = Logger.getLogger(LeaderLock.class);
    private static final long TTL_SECONDS = 10;

    private final EtcdStore store;
    private final String id = UUID.randomUUID().toString();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "edgeplane-leader");
        t.setDaemon(true);
        return t;
    });
    private volatile boolean leader;
    private volatile long leaseId;
    private volatile CloseableClient keepAlive;
    /** Told of every gain and loss of leadership (the App controller, the NodePool controller), on the leader thread. */
    private final java.util.List<Runnable> listeners = new java.util.concurrent.CopyOnWriteArrayList<>();

    public LeaderLock(EtcdStore store) {
        this.store = store;
    }

    public String id() {
        return id;
    }

    public boolean isLeader() {
        return leader;
    }

    /** A comparison that holds only while this process is the leader: add it to every leader-only txn. */
    public Cmp fence() {
        return new Cmp(EtcdStore.bytes(Keys.SCHEDULER_LEADER), Cmp.Op.EQUAL, CmpTarget.value(EtcdStore.bytes(id)));
    }

    /** Adds {@code onLeadershipChange} to the listeners and starts competing for the leader key. */
    public void start(Runnable onLeadershipChange) {
        listeners.add(onLeadershipChange);
        timer.scheduleWithFixedDelay(this::tryAcquire, 0, 2, TimeUnit.SECONDS);
    }

    /** Another controller's listener; add it before {@link #start} so that it sees the first gain. */
    public void addListener(Runnable onLeadershipChange) {
        listeners.add(onLeadershipChange);
    }

    private void changed() {
        for (Runnable listener : listeners) {
            try {
                listener.run();
            } catch (RuntimeException e) {
                LOG.error("leadership listener failed", e);
            }
        }
    }

    private void tryAcquire() {
        try {
            if (leader) {
                // Still ours? (the lease may have expired while etcd was unreachable)
                var current = store.get(Keys.SCHEDULER_LEADER);
                if (current.isEmpty() || !new String(current.get().value()).equals(id)) {
                    lose("lost the leader key");
                }
                return;
            }
            // Our key may have outlived a broken keep-alive stream (e.g. an etcd restart): take it back.
            var held = store.await(store.client().getKVClient().get(EtcdStore.bytes(Keys.SCHEDULER_LEADER)), "leader check").getKvs();
            if (!held.isEmpty()) {
                if (held.get(0).getValue().toString(java.nio.charset.StandardCharsets.UTF_8).equals(id) && held.get(0).getLease() != 0) {
                    becomeLeader(held.get(0).getLease());
                }
                return;
            }
            long lease = store.await(store.client().getLeaseClient().grant(TTL_SECONDS), "lease grant").getID();
            TxnResponse response = store.await(store.client().getKVClient().txn()
                    .If(new Cmp(EtcdStore.bytes(Keys.SCHEDULER_LEADER), Cmp.Op.EQUAL, CmpTarget.version(0)))
                    .Then(Op.put(EtcdStore.bytes(Keys.SCHEDULER_LEADER), EtcdStore.bytes(id), PutOption.builder().withLeaseId(lease).build()))
                    .commit(), "leader election");
            if (!response.isSucceeded()) {
                store.client().getLeaseClient().revoke(lease);
                return;
            }
            becomeLeader(lease);
        } catch (RuntimeException e) {
            LOG.debugf("leader election attempt failed: %s", e.getMessage());
        }
    }

    private void becomeLeader(long lease) {
        leaseId = lease;
        keepAlive = store.client().getLeaseClient().keepAlive(lease, new StreamObserver<LeaseKeepAliveResponse>() {
            @Override
            public void onNext(LeaseKeepAliveResponse value) {}

            @Override
            public void onError(Throwable t) {
                later(() -> lose("lease keep-alive failed: " + t.getMessage()));
            }

            @Override
            public void onCompleted() {
                later(() -> lose("lease keep-alive ended"));
            }
        });
        leader = true;
        LOG.infof("this control plane (%s) is now the scheduler leader", id);
        changed();
    }

    private void later(Runnable task) {
        try {
            timer.execute(task);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // stopping
        }
    }

    private void lose(String why) {
        if (!leader) {
            return;
        }
        leader = false;
        LOG.warnf("no longer the scheduler leader: %s", why);
        closeKeepAlive();
        changed();
    }

    private void closeKeepAlive() {
        CloseableClient k = keepAlive;
        if (k != null) {
            k.close();
            keepAlive = null;
        }
    }

    /** Gives leadership up (revoking the lease deletes the key) so another replica takes over at once. */
    public void stop() {
        timer.shutdownNow();
        closeKeepAlive();
        if (leader) {
            leader = false;
            try {
                store.await(store.client().getLeaseClient().revoke(leaseId), "lease revoke");
            } catch (RuntimeException e) {
                LOG.debugf("revoking the leader lease failed: %s", e.getMessage());
            }
        }
    }
}
