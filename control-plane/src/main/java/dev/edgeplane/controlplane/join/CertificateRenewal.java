package dev.edgeplane.controlplane.join;

import dev.edgeplane.api.RenewalProof;
import dev.edgeplane.api.v1.AuditRecord;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.ObjectReference;
import dev.edgeplane.api.v1.RenewNodeCertificateRequest;
import dev.edgeplane.api.v1.RenewNodeCertificateResponse;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.api.Validation;
import dev.edgeplane.controlplane.audit.AuditTrail;
import dev.edgeplane.controlplane.events.EventRecorder;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StoreException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.security.GeneralSecurityException;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * RenewNodeCertificate: a node gets a certificate for a new key before its current one expires, as
 * the kubelet rotates its client certificate, and a node whose certificate expired while it was
 * offline gets one back by proving it still holds that certificate's key, within the offline grace.
 *
 * <p>The certificate presented (over mutual TLS, or with a proof) must be one the Node accepts (see
 * {@link Joiner#acceptsCertificate}); an identity reset or a newer join therefore ends renewal too.
 * The Node then records the new certificate as current and the presented one as previous, in one
 * compare-and-swap: an agent that crashes before storing the new certificate keeps working with the
 * old one and renews again. Every outcome is audited.
 */
@ApplicationScoped
public class CertificateRenewal {
    public static final String METHOD = "edgeplane.v1.AgentService/RenewNodeCertificate";
    /** Annotation on the Node: when its certificate was last renewed (renewals closer together are refused). */
    static final String RENEWED_ANNOTATION = "edgeplane.dev/certificate-renewed";
    private static final Logger LOG = Logger.getLogger(CertificateRenewal.class);
    private static final Duration PROOF_SKEW = Duration.ofMinutes(5);
    /** Renewals of one node closer together are refused (a node renewing in a loop does bounded work). */
    private static final Duration MIN_INTERVAL = Duration.ofSeconds(10);
    private static final int MAX_PEM_CHARS = 16 * 1024;
    private static final int MAX_PROOF_BYTES = 512;
    private static final int ATTEMPTS = 5;

    private final EtcdStore store;
    private final ClusterCa ca;
    private final Duration validity;
    private final Duration offlineGrace;
    private final EventRecorder events;
    private final AuditTrail audit;
    private final Clock clock;

    @Inject
    public CertificateRenewal(EtcdStore store, ClusterCa ca, ControlPlaneConfig config, EventRecorder events, AuditTrail audit) {
        this(store, ca, config.node().certificateValidity(), config.node().offlineGrace(), events, audit, Clock.systemUTC());
    }

    public CertificateRenewal(EtcdStore store, ClusterCa ca, Duration validity, Duration offlineGrace,
                              EventRecorder events, AuditTrail audit, Clock clock) {
        this.store = store;
        this.ca = ca;
        this.validity = validity;
        this.offlineGrace = offlineGrace;
        this.events = events;
        this.audit = audit;
        this.clock = clock;
    }

    /**
     * @param peer        the client certificate the TLS handshake verified, or null (then the request
     *                    carries the certificate and the proof)
     * @param peerAddress the caller's address, for the audit record
     */
    public RenewNodeCertificateResponse renew(RenewNodeCertificateRequest request, X509Certificate peer, String peerAddress) {
        Instant now = clock.instant();
        // Until the proof is checked, a certificate in the request is only a claim: audited as the object, not the subject.
        String node = peer != null ? CertificateAuthority.commonName(peer) : claimedNode(request);
        String subject = peer != null ? "node:" + node : "anonymous";
        try {
            X509Certificate presented = peer != null ? peer : provenCertificate(request, now);
            subject = "node:" + node;
            boolean expired = now.isAfter(presented.getNotAfter().toInstant());
            RenewNodeCertificateResponse response = renew(node, presented, request.getCsrPem(), now);
            X509Certificate issued = CertificateAuthority.parseCertificate(response.getCertificatePem());
            String outcome = expired
                    ? "recovered: the certificate expired at " + presented.getNotAfter().toInstant() + ", "
                            + Duration.between(presented.getNotAfter().toInstant(), now).toHours() + " h ago (offline grace " + offlineGrace + ")"
                    : "renewed";
            LOG.infof("node %s: certificate %s; the new one expires at %s", node, outcome, issued.getNotAfter().toInstant());
            if (expired) {
                events.warning(EventRecorder.node(node), "CertificateRecovered", "certificate " + outcome, node);
            } else {
                events.info(EventRecorder.node(node), "CertificateRenewed", "certificate renewed; the new one expires at "
                        + issued.getNotAfter().toInstant(), node);
            }
            record(subject, node, Status.Code.OK, outcome + "; expires " + issued.getNotAfter().toInstant(), peerAddress, now);
            return response;
        } catch (StatusRuntimeException e) {
            LOG.infof("certificate renewal of %s refused: %s", node.isEmpty() ? "an unknown node" : node, e.getStatus().getDescription());
            record(subject, node, e.getStatus().getCode(), e.getStatus().getDescription(), peerAddress, now);
            throw e;
        }
    }

    /** The certificate the request carries, once it is this CA's node certificate, within the grace, with a good proof of its key. */
    private X509Certificate provenCertificate(RenewNodeCertificateRequest request, Instant now) {
        if (request.getCertificatePem().isEmpty()) {
            throw Status.UNAUTHENTICATED.withDescription("RenewNodeCertificate needs mutual TLS with the node certificate, "
                    + "or (for a certificate that expired while offline) certificate_pem with a proof").asRuntimeException();
        }
        Validation validation = new Validation();
        if (request.getCertificatePem().length() > MAX_PEM_CHARS) {
            validation.add("certificate_pem", "longer than " + MAX_PEM_CHARS + " characters");
        }
        if (request.getProof().isEmpty() || request.getProof().size() > MAX_PROOF_BYTES) {
            validation.add("proof", "must be a signature of at most " + MAX_PROOF_BYTES + " bytes");
        }
        if (!request.hasProofTime()) {
            validation.add("proof_time", "required with a proof");
        }
        validation.throwIfInvalid();
        X509Certificate certificate;
        try {
            certificate = CertificateAuthority.parseCertificate(request.getCertificatePem());
        } catch (IllegalArgumentException e) {
            throw Validation.invalid("certificate_pem", e.getMessage());
        }
        if (ca.trusted().stream().noneMatch(authority -> authority.issuedNodeCertificate(certificate))) {
            throw Status.UNAUTHENTICATED.withDescription("certificate_pem is not a node certificate of this cluster's CA").asRuntimeException();
        }
        Instant notAfter = certificate.getNotAfter().toInstant();
        if (now.isAfter(notAfter.plus(offlineGrace))) {
            throw Status.PERMISSION_DENIED.withDescription("the certificate of node " + CertificateAuthority.commonName(certificate)
                    + " expired at " + notAfter + ", beyond the offline grace of " + offlineGrace
                    + "; reset its identity (edgectl node reset-identity) and join it again").asRuntimeException();
        }
        Instant proofTime = Joiner.toInstant(request.getProofTime());
        if (Duration.between(proofTime, now).abs().compareTo(PROOF_SKEW) > 0) {
            throw Status.UNAUTHENTICATED.withDescription("proof_time " + proofTime + " is more than " + PROOF_SKEW.toMinutes()
                    + " minutes from the control plane's clock (" + now + "); check the host's clock").asRuntimeException();
        }
        if (!proofVerifies(certificate, request.getCsrPem(), request.getProofTime().getSeconds(), request.getProof().toByteArray())) {
            throw Status.UNAUTHENTICATED.withDescription("the proof is not a signature of this certificate's key").asRuntimeException();
        }
        return certificate;
    }

    private RenewNodeCertificateResponse renew(String node, X509Certificate presented, String csrPem, Instant now) {
        if (csrPem.isEmpty() || csrPem.length() > MAX_PEM_CHARS) {
            throw Validation.invalid("csr_pem", "required, at most " + MAX_PEM_CHARS + " characters");
        }
        String presentedHash = CertificateAuthority.hashOf(presented);
        CertificateAuthority signer = ca.get();
        String bundle = ca.bundlePem();
        String bundleHash = ca.bundleHash();
        X509Certificate issued = null;
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            Entry<Node> entry = store.get(Keys.node(node), Node.parser()).orElseThrow(() -> Status.UNAUTHENTICATED
                    .withDescription("node " + node + " is not registered (deleted?); join it again").asRuntimeException());
            Node current = entry.value();
            if (current.getMetadata().containsAnnotations(Joiner.IDENTITY_RESET_ANNOTATION)) {
                throw Status.PERMISSION_DENIED.withDescription("the identity of node " + node
                        + " was reset by an admin; join it again with a token").asRuntimeException();
            }
            if (!Joiner.acceptsCertificate(current, presentedHash)) {
                throw Status.UNAUTHENTICATED.withDescription("this certificate of node " + node
                        + " was replaced by a newer join or renewal").asRuntimeException();
            }
            String last = current.getMetadata().getAnnotationsOrDefault(RENEWED_ANNOTATION, "");
            if (!last.isEmpty() && Duration.between(Instant.parse(last), now).compareTo(MIN_INTERVAL) < 0) {
                throw dev.edgeplane.controlplane.api.RetryLater.resourceExhausted("node " + node + " renewed its certificate at "
                        + last + "; at most one renewal per " + MIN_INTERVAL.toSeconds() + " s",
                        MIN_INTERVAL.minus(Duration.between(Instant.parse(last), now)));
            }
            if (issued == null) {
                try {
                    issued = signer.signNodeCsr(csrPem, node, now, validity);
                } catch (CertificateAuthority.InvalidCsrException e) {
                    throw Validation.invalid("csr_pem", e.getMessage());
                }
                if (Arrays.equals(issued.getPublicKey().getEncoded(), presented.getPublicKey().getEncoded())) {
                    throw Validation.invalid("csr_pem", "must be for a new key, not the current certificate's");
                }
            }
            Node renewed = current.toBuilder().setMetadata(current.getMetadata().toBuilder()
                    .putAnnotations(Joiner.CERT_HASH_ANNOTATION, CertificateAuthority.hashOf(issued))
                    .putAnnotations(Joiner.PREVIOUS_CERT_HASH_ANNOTATION, presentedHash)
                    .putAnnotations(RENEWED_ANNOTATION, now.toString())
                    .putAnnotations(Joiner.CERT_ISSUER_ANNOTATION, signer.hash())
                    .putAnnotations(Joiner.CA_BUNDLE_ANNOTATION, bundleHash)).build();
            if (store.update(Keys.node(node), renewed.toByteArray(), entry.modRevision()).isPresent()) {
                return RenewNodeCertificateResponse.newBuilder()
                        .setCertificatePem(CertificateAuthority.pem(issued))
                        .setCaBundlePem(bundle)
                        .build();
            }
            // The Node changed under us (status, labels): look again.
        }
        throw Status.ABORTED.withDescription("the certificate renewal of " + node + " kept conflicting with other writes to the node; retry")
                .asRuntimeException();
    }

    /**
     * What a heartbeat says the agent has installed ({@code installed}, "sha256:hex"): the renewal's
     * certificate is recorded as installed (one guarded write per renewal: the evidence a CA rollover
     * waits for), and true is returned when the agent still holds the certificate its last renewal
     * replaced, i.e. it lost that renewal's answer or crashed before storing it, and must renew again.
     *
     * @throws StoreException when etcd does not take the write; the agent reports again at its next heartbeat
     */
    public boolean installedCertificate(String node, String installed) {
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            Optional<Entry<Node>> entry = store.get(Keys.node(node), Node.parser());
            if (entry.isEmpty()) {
                return false;
            }
            Map<String, String> annotations = entry.get().value().getMetadata().getAnnotationsMap();
            if (!installed.equals(annotations.get(Joiner.CERT_HASH_ANNOTATION))) {
                return installed.equals(annotations.get(Joiner.PREVIOUS_CERT_HASH_ANNOTATION));
            }
            if (installed.equals(annotations.get(Joiner.INSTALLED_CERT_ANNOTATION))) {
                return false;
            }
            Node confirmed = entry.get().value().toBuilder().setMetadata(entry.get().value().getMetadata().toBuilder()
                    .putAnnotations(Joiner.INSTALLED_CERT_ANNOTATION, installed)).build();
            if (store.update(Keys.node(node), confirmed.toByteArray(), entry.get().modRevision()).isPresent()) {
                LOG.debugf("node %s has installed its certificate %s", node, installed);
                return false;
            }
        }
        throw new StoreException("node " + node + " kept changing while its installed certificate was recorded", null);
    }

    private static boolean proofVerifies(X509Certificate certificate, String csrPem, long epochSeconds, byte[] proof) {
        try {
            Signature signature = Signature.getInstance(RenewalProof.ALGORITHM);
            signature.initVerify(certificate.getPublicKey());
            signature.update(RenewalProof.payload(CertificateAuthority.commonName(certificate), csrPem, epochSeconds));
            return signature.verify(proof);
        } catch (GeneralSecurityException e) {
            return false; // not an EC key, or a malformed signature
        }
    }

    /** The node a request's certificate names, or "" if there is none (or it does not parse). */
    private static String claimedNode(RenewNodeCertificateRequest request) {
        if (request.getCertificatePem().isEmpty() || request.getCertificatePem().length() > MAX_PEM_CHARS) {
            return "";
        }
        try {
            return CertificateAuthority.commonName(CertificateAuthority.parseCertificate(request.getCertificatePem()));
        } catch (IllegalArgumentException e) {
            return "";
        }
    }

    private void record(String subject, String node, Status.Code code, String reason, String peer, Instant now) {
        audit.record(AuditRecord.newBuilder()
                .setTime(Joiner.timestamp(now))
                .setSubject(subject)
                .setMethod(METHOD)
                .setObject(ObjectReference.newBuilder().setKind("Node").setName(node))
                .setCode(code.name())
                .setReason(reason == null ? "" : reason.length() > 512 ? reason.substring(0, 512) : reason)
                .setPeer(peer == null ? "" : peer)
                .build());
    }
}
