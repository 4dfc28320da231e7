package dev.edgeplane.agent.identity;

import com.google.protobuf.ByteString;
import com.google.protobuf.Timestamp;
import dev.edgeplane.agent.loop.PassLoop;
import dev.edgeplane.api.RenewalProof;
import dev.edgeplane.api.SwappableKeyManager;
import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.RenewNodeCertificateRequest;
import dev.edgeplane.api.v1.RenewNodeCertificateResponse;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.logging.Logger;
import java.util.random.RandomGenerator;

/**
 * Keeps the node certificate valid, as the kubelet rotates its client certificate: at a random point
 * between 70% and 90% of its lifetime (so a fleet joined in one day does not renew in one minute) it
 * makes a new key, asks RenewNodeCertificate over the mutual-TLS channel for a certificate, stores
 * key, certificate and CA bundle crash-safely and swaps them into the channel's key manager: the next
 * connection presents the new certificate, the open one goes on with the old (which the control plane
 * still accepts until it expires).
 *
 * <p>A certificate that expired while the host was offline cannot open mutual TLS any more: then the
 * request goes over server-authenticated TLS with the expired certificate and a signature of its key,
 * which the control plane accepts within its offline grace (no new join token needed).
 */
public final class CertificateRotation implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(CertificateRotation.class.getName());
    private static final int MAX_BUNDLE_CERTIFICATES = 8;

    /**
     * @param earliest   renew no sooner than this fraction of the certificate's lifetime
     * @param latest     and no later than this one (the point is random in between, per certificate)
     * @param checkEvery how often the clock is looked at
     */
    public record Settings(double earliest, double latest, Duration checkEvery, Duration retryBase, Duration retryCap,
                           Duration callTimeout) {
        public Settings {
            if (!(earliest > 0 && earliest <= latest && latest < 1)) {
                throw new IllegalArgumentException("renewal fractions must satisfy 0 < earliest <= latest < 1");
            }
        }

        public static Settings defaults() {
            return new Settings(0.7, 0.9, Duration.ofMinutes(1), Duration.ofMinutes(1), Duration.ofHours(1), Duration.ofSeconds(30));
        }

        public Settings withCheckEvery(Duration every) {
            return new Settings(earliest, latest, every, retryBase, retryCap, callTimeout);
        }

        public Settings withRetry(Duration base, Duration cap) {
            return new Settings(earliest, latest, checkEvery, base, cap, callTimeout);
        }
    }

    private final StateDir state;
    private final String nodeName;
    private final SwappableKeyManager identity;
    private final Channel mutualTls;
    private final Supplier<ManagedChannel> serverAuthenticated;
    private final Settings settings;
    private final Clock clock;
    private final RandomGenerator random;
    private final PassLoop loop;
    /** After a renewal is stored: the trust anchors may have changed with it (a CA rollover). */
    private final Runnable onRenewed;
    private Instant renewAt;
    /** Set by {@link #renewSoon} (any thread), taken by the next {@link #checkOnce}. */
    private volatile boolean renewRequested;
    private Instant nextAttempt = Instant.MIN;
    private int failures;

    /**
     * @param mutualTls           the agent's channel to the control plane (presents {@code identity})
     * @param serverAuthenticated a new channel to the same endpoint that trusts the CA bundle and
     *                            presents no certificate (for an expired one); closed after use
     */
    public CertificateRotation(StateDir state, String nodeName, SwappableKeyManager identity, Channel mutualTls,
                               Supplier<ManagedChannel> serverAuthenticated, Runnable onRenewed, Settings settings, Clock clock,
                               RandomGenerator random) {
        this.onRenewed = onRenewed;
        this.state = state;
        this.nodeName = nodeName;
        this.identity = identity;
        this.mutualTls = mutualTls;
        this.serverAuthenticated = serverAuthenticated;
        this.settings = settings;
        this.clock = clock;
        this.random = random;
        this.renewAt = renewalTime(identity.get().certificate());
        this.loop = new PassLoop("certificate-rotation", settings.checkEvery(), this::checkOnce);
    }

    public void start() {
        LOG.info(() -> "node certificate expires at " + identity.get().certificate().getNotAfter().toInstant() + "; renewing at " + renewAt);
        loop.start();
    }

    /**
     * Renew at the next look, not at the usual time (the control plane asked: a CA rollover). Called from
     * a heartbeat's callback: it only flags, never waits for a renewal in progress.
     */
    public void renewSoon() {
        renewRequested = true;
        loop.trigger();
    }

    /** When the current certificate is due for renewal. */
    public synchronized Instant renewAt() {
        return renewAt;
    }

    /** One look at the clock; renews when due (and not backing off after a failure). */
    public synchronized void checkOnce() {
        Instant now = clock.instant();
        if (renewRequested) {
            renewRequested = false;
            if (renewAt.isAfter(now)) {
                renewAt = now;
                LOG.info("the control plane asks for the node certificate to be renewed now");
            }
        }
        if (now.isBefore(renewAt) || now.isBefore(nextAttempt)) {
            return;
        }
        X509Certificate current = identity.get().certificate();
        boolean expired = !now.isBefore(current.getNotAfter().toInstant());
        try {
            X509Certificate renewed = renew(current, expired, now);
            failures = 0;
            nextAttempt = Instant.MIN;
            renewAt = renewalTime(renewed);
            LOG.info(() -> (expired ? "recovered the node certificate (it had expired at " + current.getNotAfter().toInstant() + ")"
                    : "renewed the node certificate") + "; the new one expires at " + renewed.getNotAfter().toInstant()
                    + ", renewing at " + renewAt);
        } catch (StatusRuntimeException | IOException | GeneralSecurityException | IllegalStateException e) {
            failures++;
            // A control plane that says when to come back (renewals too close together) is believed, within the cap.
            Duration wait = e instanceof StatusRuntimeException s
                    ? dev.edgeplane.agent.sync.SyncClient.retryDelay(s, s.getStatus()).filter(d -> d.compareTo(settings.retryCap()) <= 0)
                            .orElseGet(this::backoff)
                    : backoff();
            nextAttempt = now.plus(wait);
            String why = e instanceof StatusRuntimeException s ? s.getStatus().getCode() + ": " + s.getStatus().getDescription() : e.toString();
            if (e instanceof StatusRuntimeException s && s.getStatus().getCode() == Status.Code.PERMISSION_DENIED) {
                LOG.severe("the control plane refuses to renew this node's certificate (" + why + "); retrying in " + wait);
            } else {
                LOG.warning("cannot renew the node certificate (" + why + "); retrying in " + wait
                        + (expired ? "" : "; it expires at " + current.getNotAfter().toInstant()));
            }
        }
    }

    private X509Certificate renew(X509Certificate current, boolean expired, Instant now) throws IOException, GeneralSecurityException {
        KeyPair keys = NodeKeys.generate();
        String csr = NodeKeys.csrPem(keys, nodeName);
        RenewNodeCertificateRequest.Builder request = RenewNodeCertificateRequest.newBuilder().setCsrPem(csr);
        RenewNodeCertificateResponse response;
        if (expired) {
            long seconds = now.getEpochSecond();
            Signature signature = Signature.getInstance(RenewalProof.ALGORITHM);
            signature.initSign(identity.get().key());
            signature.update(RenewalProof.payload(nodeName, csr, seconds));
            request.setCertificatePem(Pem.encode(current))
                    .setProof(ByteString.copyFrom(signature.sign()))
                    .setProofTime(Timestamp.newBuilder().setSeconds(seconds));
            ManagedChannel channel = serverAuthenticated.get();
            try {
                response = call(channel, request.build());
            } finally {
                channel.shutdownNow();
            }
        } else {
            response = call(mutualTls, request.build());
        }
        X509Certificate certificate = Pem.certificates(response.getCertificatePem()).get(0);
        List<X509Certificate> bundle = Pem.certificates(response.getCaBundlePem());
        check(certificate, keys.getPublic(), bundle);
        state.writeRenewedIdentity(Pem.pkcs8(keys.getPrivate()), Pem.encode(certificate), response.getCaBundlePem());
        identity.set(new SwappableKeyManager.Identity(keys.getPrivate(), new X509Certificate[] {certificate}));
        onRenewed.run();
        return certificate;
    }

    private RenewNodeCertificateResponse call(Channel channel, RenewNodeCertificateRequest request) {
        return AgentServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(settings.callTimeout().toMillis(), TimeUnit.MILLISECONDS)
                .renewNodeCertificate(request);
    }

    /** The new certificate is for our new key and our name, and chains to the bundle the agent will trust. */
    private void check(X509Certificate certificate, PublicKey key, List<X509Certificate> bundle) throws GeneralSecurityException {
        if (!certificate.getPublicKey().equals(key)) {
            throw new GeneralSecurityException("the renewed certificate is not for the key this agent made");
        }
        if (!commonName(certificate).equals(nodeName)) {
            throw new GeneralSecurityException("the renewed certificate names " + commonName(certificate) + ", not " + nodeName);
        }
        if (bundle.size() > MAX_BUNDLE_CERTIFICATES) {
            throw new GeneralSecurityException("the CA bundle holds " + bundle.size() + " certificates (at most " + MAX_BUNDLE_CERTIFICATES + ")");
        }
        for (X509Certificate ca : bundle) {
            try {
                certificate.verify(ca.getPublicKey());
                return;
            } catch (GeneralSecurityException e) {
                // try the next CA of the bundle
            }
        }
        throw new GeneralSecurityException("the renewed certificate does not chain to the CA bundle it came with");
    }

    private Instant renewalTime(X509Certificate certificate) {
        Instant from = certificate.getNotBefore().toInstant();
        Duration lifetime = Duration.between(from, certificate.getNotAfter().toInstant());
        double fraction = settings.earliest() + random.nextDouble() * (settings.latest() - settings.earliest());
        return from.plusMillis((long) (lifetime.toMillis() * fraction));
    }

    private Duration backoff() {
        long factor = 1L << Math.min(failures - 1, 20);
        Duration wait = settings.retryBase().multipliedBy(factor);
        return wait.compareTo(settings.retryCap()) > 0 ? settings.retryCap() : wait;
    }

    private static String commonName(X509Certificate certificate) {
        try {
            for (javax.naming.ldap.Rdn rdn : new javax.naming.ldap.LdapName(
                    certificate.getSubjectX500Principal().getName(javax.security.auth.x500.X500Principal.RFC2253)).getRdns()) {
                if (rdn.getType().equalsIgnoreCase("CN")) {
                    return rdn.getValue().toString();
                }
            }
        } catch (javax.naming.InvalidNameException e) {
            return "";
        }
        return "";
    }

    @Override
    public void close() {
        loop.close();
    }
}
