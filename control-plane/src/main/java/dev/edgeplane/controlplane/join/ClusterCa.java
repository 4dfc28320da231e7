package dev.edgeplane.controlplane.join;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.SealedSecret;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.controlplane.secrets.SecretSealer;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import jakarta.enterprise.context.ApplicationScoped;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.PutOption;
import jakarta.annotation.PreDestroy;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * The cluster CA, loaded from (or created in) etcd at startup. Its private key is kept sealed under
 * the key-encryption key of Secrets (a SealedSecret, as Secrets are), so reading etcd does not give
 * it away; a CA kept in the clear by an earlier version is sealed on the first start that has a key,
 * and one sealed under a rotated-out key is sealed again under the primary. Without a key it stays
 * in the clear, with a warning at every start.
 *
 * <p>A CA rollover keeps a second CA at {@code /edgeplane/ca-rollover}, sealed the same way, with its
 * phase: PREPARED (the new CA is trusted, the old one still signs), SWITCHED (the new CA signs, the
 * old one is still trusted). Every replica follows it by re-reading both keys every few seconds
 * ({@link #startFollowing}); listeners hear of a change (the agent endpoint reissues its certificate).
 */
@ApplicationScoped
public class ClusterCa {
    private static final Logger LOG = Logger.getLogger(ClusterCa.class);
    /** Who the sealed CA is, for the seal's associated data: not a Secret any API call can name. */
    static final ObjectMeta SEALED_AS = ObjectMeta.newBuilder().setNamespace("edgeplane-system").setName("cluster-ca").build();
    static final ObjectMeta ROLLOVER_SEALED_AS = ObjectMeta.newBuilder().setNamespace("edgeplane-system").setName("cluster-ca-rollover").build();
    private static final String PEM_KEY = "ca.pem";
    private static final String PHASE_KEY = "phase";
    private static final Duration FOLLOW_EVERY = Duration.ofSeconds(3);

    /** The CA of a rollover other than the signing one. */
    public record Rollover(ClusterCaPhase phase, CertificateAuthority other) {}

    /** What this replica knows: the signing CA and a rollover, with the etcd revisions they were read at. */
    private record State(CertificateAuthority signing, Optional<Rollover> rollover, long caRevision, long rolloverRevision) {
        List<CertificateAuthority> trusted() {
            List<CertificateAuthority> all = new ArrayList<>();
            all.add(signing);
            rollover.ifPresent(r -> all.add(r.other()));
            return List.copyOf(all);
        }
    }

    /** The phases of a rollover (NONE: there is none). */
    public enum ClusterCaPhase { NONE, PREPARED, SWITCHED }

    private final EtcdStore store;
    private final SecretSealer sealer;
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
    private volatile State state;
    private ScheduledExecutorService follower;

    public ClusterCa(EtcdStore store, SecretSealer sealer) {
        this.store = store;
        this.sealer = sealer;
    }

    public CertificateAuthority load() {
        state = read();
        return state.signing();
    }

    /** The CA that signs now. */
    public CertificateAuthority get() {
        return current().signing();
    }

    /** Every CA trusted now, the signing one first. */
    public List<CertificateAuthority> trusted() {
        return current().trusted();
    }

    public Optional<Rollover> rollover() {
        return current().rollover();
    }

    /** The trusted CAs as PEM, signing CA first: what agents are given to trust. */
    public String bundlePem() {
        StringBuilder pem = new StringBuilder();
        for (CertificateAuthority authority : trusted()) {
            pem.append(authority.certificatePem());
        }
        return pem.toString();
    }

    /** Names the trusted set ("sha256:..." of each, joined): a node that was given this bundle has it. */
    public String bundleHash() {
        return String.join(",", trusted().stream().map(CertificateAuthority::hash).sorted().toList());
    }

    /** What the agent endpoint trusts: node certificates of any trusted CA (see {@link NodeCertificateTrust}). */
    public javax.net.ssl.X509ExtendedTrustManager nodeTrustManager(java.util.function.Function<String, String> recordedHash) {
        return new NodeCertificateTrust(this::trusted, recordedHash);
    }

    /** Told (on the follower's thread) whenever the signing CA or the rollover changed. */
    public void onChange(Runnable listener) {
        listeners.add(listener);
    }

    private State current() {
        State current = state;
        if (current == null) {
            synchronized (this) {
                if (state == null) {
                    state = read();
                }
                current = state;
            }
        }
        return current;
    }

    /** Re-reads the CA keys every few seconds, so a rollover step taken on another replica is followed. */
    public synchronized void startFollowing() {
        if (follower != null) {
            return;
        }
        ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1, runnable -> {
            Thread thread = new Thread(runnable, "cluster-ca-follower");
            thread.setDaemon(true);
            return thread;
        });
        executor.scheduleWithFixedDelay(() -> {
            try {
                refresh();
            } catch (RuntimeException e) {
                LOG.warnf("cannot re-read the cluster CA: %s", e.getMessage());
            }
        }, FOLLOW_EVERY.toMillis(), FOLLOW_EVERY.toMillis(), TimeUnit.MILLISECONDS);
        follower = executor;
    }

    @PreDestroy
    public synchronized void stopFollowing() {
        if (follower != null) {
            follower.shutdownNow();
            follower = null;
        }
    }

    /** Reads etcd again; listeners are told if anything changed. */
    public void refresh() {
        State before = current();
        Optional<Entry<byte[]>> ca = store.get(Keys.CA);
        Optional<Entry<byte[]>> rollover = store.get(Keys.CA_ROLLOVER);
        if (ca.map(Entry::modRevision).orElse(0L) == before.caRevision()
                && rollover.map(Entry::modRevision).orElse(0L) == before.rolloverRevision()) {
            return;
        }
        State after = read();
        state = after;
        LOG.infof("cluster CA: signing %s, rollover %s", after.signing().hash(),
                after.rollover().map(r -> r.phase() + " with " + r.other().hash()).orElse("none"));
        for (Runnable listener : listeners) {
            try {
                listener.run();
            } catch (RuntimeException e) {
                LOG.errorf(e, "a cluster CA listener failed");
            }
        }
    }

    /** PREPARED: a new CA, trusted next to the signing one. FAILED_PRECONDITION during a rollover. */
    public void startRollover() {
        refresh();
        if (current().rollover().isPresent()) {
            throw precondition("a CA rollover is already " + current().rollover().get().phase());
        }
        CertificateAuthority next = CertificateAuthority.generate();
        if (store.create(Keys.CA_ROLLOVER, storedRollover(next, ClusterCaPhase.PREPARED)).isEmpty()) {
            throw io.grpc.Status.ABORTED.withDescription("another CA rollover was started at the same time").asRuntimeException();
        }
        LOG.infof("CA rollover started: %s is trusted next to the signing %s", next.hash(), current().signing().hash());
        refresh();
    }

    /** SWITCHED: the new CA signs, the old one stays trusted. In one transaction, or ABORTED. */
    public void switchSigner() {
        refresh();
        State now = current();
        Rollover rollover = now.rollover().filter(r -> r.phase() == ClusterCaPhase.PREPARED)
                .orElseThrow(() -> precondition("no CA rollover is PREPARED (start one first)"));
        TxnResponse response = store.await(store.client().getKVClient().txn()
                .If(new Cmp(EtcdStore.bytes(Keys.CA), Cmp.Op.EQUAL, CmpTarget.modRevision(now.caRevision())),
                        new Cmp(EtcdStore.bytes(Keys.CA_ROLLOVER), Cmp.Op.EQUAL, CmpTarget.modRevision(now.rolloverRevision())))
                .Then(Op.put(EtcdStore.bytes(Keys.CA), EtcdStore.bytes(stored(rollover.other())), PutOption.DEFAULT),
                        Op.put(EtcdStore.bytes(Keys.CA_ROLLOVER), EtcdStore.bytes(storedRollover(now.signing(), ClusterCaPhase.SWITCHED)),
                                PutOption.DEFAULT))
                .commit(), "switch the signing CA");
        if (!response.isSucceeded()) {
            throw io.grpc.Status.ABORTED.withDescription("the cluster CA changed meanwhile; look again").asRuntimeException();
        }
        LOG.infof("CA rollover switched: %s signs, %s is still trusted", rollover.other().hash(), now.signing().hash());
        refresh();
    }

    /** Ends a SWITCHED rollover (the old CA is no longer trusted) or cancels a PREPARED one. */
    public void endRollover(ClusterCaPhase expected) {
        refresh();
        State now = current();
        if (now.rollover().map(Rollover::phase).orElse(ClusterCaPhase.NONE) != expected) {
            throw precondition("the CA rollover is " + now.rollover().map(r -> r.phase().name()).orElse("not under way")
                    + ", not " + expected);
        }
        TxnResponse response = store.await(store.client().getKVClient().txn()
                .If(new Cmp(EtcdStore.bytes(Keys.CA_ROLLOVER), Cmp.Op.EQUAL, CmpTarget.modRevision(now.rolloverRevision())))
                .Then(Op.delete(EtcdStore.bytes(Keys.CA_ROLLOVER), io.etcd.jetcd.options.DeleteOption.DEFAULT))
                .commit(), "end the CA rollover");
        if (!response.isSucceeded()) {
            throw io.grpc.Status.ABORTED.withDescription("the CA rollover changed meanwhile; look again").asRuntimeException();
        }
        LOG.infof("CA rollover %s: only %s is trusted", expected == ClusterCaPhase.SWITCHED ? "finished" : "cancelled", now.signing().hash());
        refresh();
    }

    private static io.grpc.StatusRuntimeException precondition(String message) {
        return io.grpc.Status.FAILED_PRECONDITION.withDescription(message).asRuntimeException();
    }

    private State read() {
        for (int attempt = 0; attempt < 5; attempt++) {
            Entry<CertificateAuthority> signing = loadOrCreate();
            Optional<Entry<byte[]>> rollover = store.get(Keys.CA_ROLLOVER);
            Optional<Entry<byte[]>> again = store.get(Keys.CA);
            if (again.isEmpty() || again.get().modRevision() != signing.modRevision()) {
                continue; // a switch between the two reads: read both again
            }
            return new State(signing.value(), rollover.map(e -> openRollover(e.value())), signing.modRevision(),
                    rollover.map(Entry::modRevision).orElse(0L));
        }
        throw new IllegalStateException("the cluster CA kept changing while it was read; try again");
    }

    private Rollover openRollover(byte[] raw) {
        Secret secret;
        SealedSecret sealed = null;
        try {
            sealed = SealedSecret.parseFrom(raw);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            // not sealed
        }
        if (sealed != null && !sealed.getKeyId().isEmpty()) {
            if (!sealer.configured()) {
                throw new IllegalStateException("the CA rollover's key in etcd is sealed under key '" + sealed.getKeyId()
                        + "': start the control plane with its key-encryption key (edgeplane.secrets.key-file)");
            }
            secret = sealer.open(sealed.toBuilder().setMetadata(sealed.getMetadata().toBuilder()
                    .setNamespace(ROLLOVER_SEALED_AS.getNamespace()).setName(ROLLOVER_SEALED_AS.getName())).build());
        } else {
            secret = EtcdStore.decode(Secret.parser(), raw);
        }
        return new Rollover(ClusterCaPhase.valueOf(secret.getDataOrThrow(PHASE_KEY).toStringUtf8()),
                CertificateAuthority.parse(secret.getDataOrThrow(PEM_KEY).toStringUtf8()));
    }

    private byte[] storedRollover(CertificateAuthority authority, ClusterCaPhase phase) {
        Secret secret = Secret.newBuilder().setMetadata(ROLLOVER_SEALED_AS).setType(Secret.Type.OPAQUE)
                .putData(PEM_KEY, ByteString.copyFromUtf8(authority.storedPem()))
                .putData(PHASE_KEY, ByteString.copyFromUtf8(phase.name())).build();
        return sealer.configured() ? sealer.seal(secret).toByteArray() : secret.toByteArray();
    }

    private Entry<CertificateAuthority> loadOrCreate() {
        for (int attempt = 0; attempt < 5; attempt++) {
            Optional<Entry<byte[]>> existing = store.get(Keys.CA);
            if (existing.isEmpty()) {
                CertificateAuthority created = CertificateAuthority.generate();
                java.util.OptionalLong revision = store.create(Keys.CA, stored(created));
                if (revision.isPresent()) {
                    LOG.infof("generated the cluster CA (%s)%s", created.hash(), sealer.configured() ? ", its key sealed" : "");
                    warnIfClear();
                    return new Entry<>(Keys.CA, created, revision.getAsLong(), revision.getAsLong());
                }
                continue; // another replica won the race: use its CA
            }
            byte[] raw = existing.get().value();
            if (new String(raw, 0, Math.min(raw.length, 11), StandardCharsets.US_ASCII).equals("-----BEGIN ")) {
                CertificateAuthority clear = CertificateAuthority.parse(new String(raw, StandardCharsets.UTF_8));
                if (sealer.configured() && store.update(Keys.CA, stored(clear), existing.get().modRevision()).isPresent()) {
                    LOG.infof("sealed the cluster CA's key under key '%s' (it was in etcd in the clear)", sealer.primaryKeyId());
                    continue; // read what was written
                }
                warnIfClear();
                return new Entry<>(Keys.CA, clear, existing.get().modRevision(), existing.get().createRevision());
            }
            SealedSecret sealed = EtcdStore.decode(SealedSecret.parser(), raw);
            if (!sealer.configured()) {
                throw new IllegalStateException("the cluster CA's key in etcd is sealed under key '" + sealed.getKeyId()
                        + "': start the control plane with its key-encryption key (edgeplane.secrets.key-file)");
            }
            // Opened as the CA whatever name it carries: a Secret's seal copied here fails authentication.
            CertificateAuthority opened = CertificateAuthority.parse(sealer.open(sealed.toBuilder().setMetadata(
                    sealed.getMetadata().toBuilder().setNamespace(SEALED_AS.getNamespace()).setName(SEALED_AS.getName())).build())
                    .getDataOrThrow(PEM_KEY).toStringUtf8());
            if (sealer.needsResealing(sealed) && store.update(Keys.CA, stored(opened), existing.get().modRevision()).isPresent()) {
                LOG.infof("sealed the cluster CA's key again, under key '%s' (it was under '%s')", sealer.primaryKeyId(), sealed.getKeyId());
                continue; // read what was written
            }
            return new Entry<>(Keys.CA, opened, existing.get().modRevision(), existing.get().createRevision());
        }
        throw new IllegalStateException("the cluster CA in etcd kept changing under this start; start again");
    }

    private byte[] stored(CertificateAuthority authority) {
        if (!sealer.configured()) {
            return authority.storedPem().getBytes(StandardCharsets.UTF_8);
        }
        return sealer.seal(Secret.newBuilder().setMetadata(SEALED_AS).setType(Secret.Type.OPAQUE)
                .putData(PEM_KEY, ByteString.copyFromUtf8(authority.storedPem())).build()).toByteArray();
    }

    private void warnIfClear() {
        if (!sealer.configured()) {
            LOG.warn("the cluster CA's private key is kept in etcd in the clear: configure a key-encryption key "
                    + "(edgeplane.secrets.key-file) and it is sealed at the next start");
        }
    }
}
