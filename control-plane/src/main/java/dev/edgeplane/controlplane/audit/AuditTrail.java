package dev.edgeplane.controlplane.audit;

import dev.edgeplane.api.v1.AuditRecord;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.tunnel.audit.Logfmt;
import io.etcd.jetcd.options.PutOption;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Where audit records go: at once to the "edgeplane.audit" log (one logfmt line, every value escaped),
 * then to etcd under /edgeplane/audit/, each under a lease of the retention (one lease per hour of
 * records, so etcd tracks a handful), written by one thread from a bounded queue. A record that finds
 * the queue full is only logged, and counted ({@code edgeplane_audit_records_unstored_total}).
 */
@ApplicationScoped
public class AuditTrail {
    private static final Logger AUDIT = Logger.getLogger("edgeplane.audit");
    private static final Logger LOG = Logger.getLogger(AuditTrail.class);
    private static final Duration BUCKET = Duration.ofHours(1);

    private final EtcdStore store;
    private final Duration retention;
    private final BlockingQueue<AuditRecord> pending;
    private final Counter unstored;
    private final Thread writer;
    private long leaseBucket = -1;
    private long lease;
    private volatile boolean stopped;

    public AuditTrail(EtcdStore store, ControlPlaneConfig config, MeterRegistry registry) {
        this.store = store;
        this.retention = config.audit().retention();
        this.pending = new ArrayBlockingQueue<>(Math.max(1, config.audit().maxPending()));
        this.unstored = Counter.builder("edgeplane.audit.records.unstored")
                .description("Audit records only logged: the etcd write queue was full or the write failed").register(registry);
        this.writer = new Thread(this::writeLoop, "edgeplane-audit-writer");
        writer.setDaemon(true);
        writer.start();
    }

    /** Records one call: logged now, stored in etcd soon. */
    public void record(AuditRecord record) {
        AuditRecord named = record.getName().isEmpty() ? record.toBuilder().setName(name(Instant.ofEpochSecond(
                record.getTime().getSeconds(), record.getTime().getNanos()))).build() : record;
        AUDIT.info(line(named));
        if (!pending.offer(named)) {
            unstored.increment();
            LOG.warnf("audit write queue full: record %s kept in the log only", named.getName());
        }
    }

    static String name(Instant time) {
        return String.format("%013d-%06x", time.toEpochMilli(), ThreadLocalRandom.current().nextInt(1 << 24));
    }

    static String line(AuditRecord r) {
        return "audit side=api record=" + r.getName() + " subject=" + Logfmt.quote(r.getSubject()) + " method=" + Logfmt.quote(r.getMethod())
                + " object=" + Logfmt.quote(r.getObject().getKind() + "/" + r.getObject().getNamespace() + "/" + r.getObject().getName())
                + " code=" + r.getCode() + " peer=" + Logfmt.quote(r.getPeer()) + " reason=" + Logfmt.quote(r.getReason());
    }

    private void writeLoop() {
        while (!stopped) {
            AuditRecord record;
            try {
                record = pending.poll(1, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                return;
            }
            if (record == null) {
                continue;
            }
            try {
                store.await(store.client().getKVClient().put(EtcdStore.bytes(Keys.AUDIT + record.getName()),
                        EtcdStore.bytes(record.toByteArray()), PutOption.builder().withLeaseId(leaseFor(Instant.now())).build()),
                        "audit " + record.getName());
            } catch (RuntimeException e) {
                leaseBucket = -1; // a lost lease (etcd restored?) is granted again
                unstored.increment();
                LOG.warnf("audit record %s kept in the log only: %s", record.getName(), e.getMessage());
            }
        }
    }

    /** The lease of this hour's records: the retention plus the hour, granted on first use. */
    private long leaseFor(Instant now) {
        long bucket = now.getEpochSecond() / BUCKET.getSeconds();
        if (bucket != leaseBucket) {
            lease = store.await(store.client().getLeaseClient().grant(retention.plus(BUCKET).getSeconds()), "audit lease").getID();
            leaseBucket = bucket;
        }
        return lease;
    }

    /** Records waiting for etcd (tests). */
    int pending() {
        return pending.size();
    }

    /** Gives the records still queued a few seconds to reach etcd (they are in the log anyway). */
    @PreDestroy
    public void stop() {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
        while (!pending.isEmpty() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        stopped = true;
        writer.interrupt();
    }
}
