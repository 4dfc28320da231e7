package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.AuditRecord;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.ListAuditRecordsRequest;
import dev.edgeplane.api.v1.NodeStatus;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node certificate's life with the real control plane and agent, on certificates that live 40 s:
 * a host that was off past its certificate's expiry comes back without a new token (proving its key),
 * and a running agent renews over mutual TLS before expiry and keeps its node READY across restarts.
 */
class CertificateLifecycleE2ETest {
    private static final Duration VALIDITY = Duration.ofSeconds(40);

    @TempDir
    Path dir;

    @Test
    void anExpiredHostComesBackByItsKeyAndARunningAgentRenewsBeforeExpiry() throws Exception {
        List<String> flags = new ArrayList<>(EdgeCluster.FAST_AGENT);
        flags.addAll(List.of("--certificate-check-period", "1s"));
        Map<String, String> env = Map.of("EDGEPLANE_NODE_UNREACHABLE_AFTER", "6s",
                "EDGEPLANE_NODE_CERTIFICATE_VALIDITY", VALIDITY.toSeconds() + "s",
                "EDGEPLANE_NODE_OFFLINE_GRACE", "1h");
        try (EdgeCluster cluster = EdgeCluster.start(dir, env, flags, "cert-node")) {
            EdgeHost host = cluster.host;
            // Off before the first renewal (70% of ~44 s), and kept off until the certificate has expired.
            host.stopAgent();
            X509Certificate joined = certificate(host);
            String joinedHash = hash(joined);
            assertEquals(joinedHash, recordedHash(cluster));
            Await.until("the node certificate expired", Duration.ofSeconds(90), cluster::diagnostics,
                    () -> Instant.now().isAfter(joined.getNotAfter().toInstant().plusSeconds(2)));

            host.start();
            cluster.awaitPhase(NodeStatus.Phase.READY);
            X509Certificate recovered = certificate(host);
            assertNotEquals(joinedHash, hash(recovered), "a new certificate");
            assertTrue(recovered.getNotAfter().toInstant().isAfter(Instant.now()));
            assertEquals(hash(recovered), recordedHash(cluster), "the Node accepts the recovered certificate");
            List<AuditRecord> audit = cluster.cloud.audit().listAuditRecords(ListAuditRecordsRequest.newBuilder()
                    .setMethod("RenewNodeCertificate").build()).getRecordsList();
            assertTrue(audit.stream().anyMatch(r -> r.getCode().equals("OK") && r.getSubject().equals("node:cert-node")
                    && r.getReason().startsWith("recovered")), "the recovery is audited: " + audit);

            // Running on, the agent renews over mutual TLS at 70-90% of the new certificate's life.
            Await.until("a renewal before expiry", Duration.ofSeconds(90), cluster::diagnostics,
                    () -> !recordedHash(cluster).equals(hash(recovered)));
            X509Certificate renewed = certificate(host);
            assertEquals(hash(renewed), recordedHash(cluster), "the agent stored what the Node records");
            assertEquals(NodeStatus.Phase.READY, cluster.phase(), "the stream stayed up through the renewal");

            // A restart connects with the renewed certificate.
            host.stopAgent();
            cluster.awaitPhase(NodeStatus.Phase.UNREACHABLE);
            host.start();
            cluster.awaitPhase(NodeStatus.Phase.READY);
        }
    }

    private static X509Certificate certificate(EdgeHost host) {
        try {
            return (X509Certificate) CertificateFactory.getInstance("X.509")
                    .generateCertificate(new ByteArrayInputStream(Files.readAllBytes(host.stateDir().resolve("node.crt"))));
        } catch (Exception e) {
            throw new IllegalStateException("cannot read the node certificate of " + host.name(), e);
        }
    }

    private static String hash(X509Certificate certificate) {
        try {
            return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(certificate.getEncoded()));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static String recordedHash(EdgeCluster cluster) {
        return cluster.cloud.nodes().getNode(GetNodeRequest.newBuilder().setName("cert-node").build())
                .getMetadata().getAnnotationsOrDefault("edgeplane.dev/certificate-sha256", "");
    }
}
