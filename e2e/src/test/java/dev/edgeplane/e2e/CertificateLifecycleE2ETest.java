package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.AuditRecord;
import dev.edgeplane.api.v1.ClusterCa;
import dev.edgeplane.api.v1.FinishCaRolloverRequest;
import dev.edgeplane.api.v1.GetClusterCaRequest;
import dev.edgeplane.api.v1.LogsRequest;
import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.api.v1.StartCaRolloverRequest;
import dev.edgeplane.api.v1.SwitchCaRolloverRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
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
            // The Node records the certificate when the control plane issues it, before the agent has its
            // answer and writes it: polled, not read once (it failed once under load, read a moment early).
            Await.until("the agent stored what the Node records", Duration.ofSeconds(30), cluster::diagnostics,
                    () -> hash(certificate(host)).equals(recordedHash(cluster)));
            assertEquals(NodeStatus.Phase.READY, cluster.phase(), "the stream stayed up through the renewal");

            // The same agent reconnects to a restarted control plane (tickets outlive restarts). It forgot its
            // TLS sessions at the renewal: a resumed one would carry the certificate before it. (Whether a
            // session is resumed here is not asserted: a connection made after the renewal gives the agent
            // a ticket with the renewed certificate, which it may resume; SessionResumptionTest checks that
            // forgetting makes the next handshake a full one.)
            long connects = cluster.agentLogCount("sync: connected");
            cluster.restartCloud();
            Await.until("the running agent reconnected", Duration.ofSeconds(90), cluster::diagnostics,
                    () -> cluster.agentLogCount("sync: connected") > connects);

            // A restart connects with the renewed certificate.
            host.stopAgent();
            cluster.awaitPhase(NodeStatus.Phase.UNREACHABLE);
            host.start();
            cluster.awaitPhase(NodeStatus.Phase.READY);
        }
    }

    /**
     * A CA rollover with a running agent: it is given the new CA (nudged by its heartbeat), renews onto
     * it after the switch, ops grants signed by the new CA work, and after finish a restarted agent
     * connects to the endpoint's certificate of the new CA. Every step audited.
     */
    @Test
    void aCaRolloverReachesARunningAgentWithoutCuttingItOff() throws Exception {
        List<String> flags = new ArrayList<>(EdgeCluster.FAST_AGENT);
        flags.addAll(List.of("--certificate-check-period", "1s"));
        try (EdgeCluster cluster = EdgeCluster.start(dir, EdgeCluster.FAST_FAULTS, flags, "cert-node")) {
            EdgeHost host = cluster.host;
            cluster.create(cluster.app("echo", 1, "sh", "-c", "echo rollover-line; sleep 3600"));
            Await.until("echo running", EdgeCluster.CONVERGE, cluster::diagnostics, () -> host.runningIds("echo").size() == 1);
            String oldCa = cluster.cloud.clusterCa().getClusterCa(GetClusterCaRequest.getDefaultInstance()).getSigningCaHash();

            ClusterCa started = cluster.cloud.clusterCa().startCaRollover(StartCaRolloverRequest.getDefaultInstance());
            assertEquals(ClusterCa.Phase.PREPARED, started.getPhase());
            String newCa = started.getRolloverCaHash();
            StatusRuntimeException early = null;
            try {
                cluster.cloud.clusterCa().finishCaRollover(FinishCaRolloverRequest.getDefaultInstance());
            } catch (StatusRuntimeException e) {
                early = e;
            }
            assertEquals(Status.Code.FAILED_PRECONDITION, early == null ? Status.Code.OK : early.getStatus().getCode(),
                    "finish before switch is refused");
            awaitNoPendingNode(cluster, "the agent has the new CA");
            // Read once: a node stops counting as pending only when its agent says it installed the renewal
            // (Heartbeat.installed_certificate), not when the control plane answered it.
            assertEquals(2, certificates(host.stateDir().resolve("ca.crt")).size(), "the agent trusts both CAs");

            ClusterCa switched = cluster.cloud.clusterCa().switchCaRollover(SwitchCaRolloverRequest.getDefaultInstance());
            assertEquals(newCa, switched.getSigningCaHash());
            awaitNoPendingNode(cluster, "the agent renewed onto the new CA");
            X509Certificate renewed = certificate(host);
            X509Certificate signer = certificates(host.stateDir().resolve("ca.crt")).stream()
                    .filter(ca -> hash(ca).equals(newCa)).findFirst().orElseThrow();
            renewed.verify(signer.getPublicKey());
            assertEquals(NodeStatus.Phase.READY, cluster.phase());

            // An ops session: its grant is signed by the new CA now, and the agent verifies it.
            String replica = "echo-0";
            String logs = new String(cluster.cloud.ops().logs(LogsRequest.newBuilder().setTarget(OpsTarget.newBuilder()
                    .setNode("cert-node").setNamespace("default").setReplica(replica)).build()).next().getData().toByteArray(), java.nio.charset.StandardCharsets.UTF_8);
            assertTrue(logs.contains("rollover-line"), logs);

            ClusterCa finished = cluster.cloud.clusterCa().finishCaRollover(FinishCaRolloverRequest.getDefaultInstance());
            assertEquals(ClusterCa.Phase.NONE, finished.getPhase());
            assertEquals(1, certificates(finished.getBundlePem()).size());
            host.stopAgent();
            cluster.awaitPhase(NodeStatus.Phase.UNREACHABLE);
            host.start();
            cluster.awaitPhase(NodeStatus.Phase.READY);

            List<String> steps = cluster.cloud.audit().listAuditRecords(ListAuditRecordsRequest.newBuilder().setMethod("CaRollover").build())
                    .getRecordsList().stream().filter(r -> r.getCode().equals("OK")).map(r -> r.getMethod().replaceAll(".*/", "")).toList();
            assertEquals(List.of("StartCaRollover", "SwitchCaRollover", "FinishCaRollover"), steps, "audited, refused finish aside");
            assertNotEquals(oldCa, newCa);
        }
    }

    private static void awaitNoPendingNode(EdgeCluster cluster, String what) {
        Await.until(what, Duration.ofSeconds(90), cluster::diagnostics, () -> cluster.cloud.clusterCa()
                .getClusterCa(GetClusterCaRequest.getDefaultInstance()).getPendingNodeCount() == 0);
    }

    private static List<X509Certificate> certificates(Path file) throws Exception {
        return certificates(Files.readString(file));
    }

    private static List<X509Certificate> certificates(String pem) throws Exception {
        return CertificateFactory.getInstance("X.509").generateCertificates(new ByteArrayInputStream(pem.getBytes(java.nio.charset.StandardCharsets.US_ASCII)))
                .stream().map(c -> (X509Certificate) c).toList();
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
