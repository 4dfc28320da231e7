package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.testkit.Commands;
import dev.edgeplane.testkit.Containerd;
import dev.edgeplane.testkit.TestImages;
import dev.edgeplane.testkit.EtcdServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The control plane on a 3-member etcd cluster, as deploy/kubernetes runs it: an admin token provided
 * in the token file is adopted, and losing the etcd leader loses nothing: the API keeps answering,
 * and the watch-driven scheduler and sync still get a new App running on a connected agent.
 */
class EtcdClusterE2ETest {
    @TempDir Path dir;

    @Test
    void survivesTheLossOfTheEtcdLeader() throws Exception {
        List<EtcdServer.Member> members = List.of(EtcdServer.member("etcd-0"), EtcdServer.member("etcd-1"),
                EtcdServer.member("etcd-2"));
        List<AutoCloseable> started = new ArrayList<>();
        try {
            List<EtcdServer> etcd = new ArrayList<>();
            for (EtcdServer.Member m : members) {
                EtcdServer server = EtcdServer.start(m, members);
                started.add(server);
                etcd.add(server);
            }
            for (EtcdServer server : etcd) {
                server.awaitHealthy(Duration.ofSeconds(60));
            }
            String endpoints = etcd.stream().map(EtcdServer::endpoint).collect(Collectors.joining(","));

            // As a Kubernetes Secret would: the token is in the file before the first start.
            String provided = HexFormat.of().formatHex(java.security.SecureRandom.getSeed(32));
            Path cpDir = Files.createDirectories(dir.resolve("cp"));
            Files.writeString(cpDir.resolve("admin-token"), provided + "\n");
            ControlPlane cloud = ControlPlane.start(endpoints, cpDir);
            started.add(0, cloud);
            assertEquals(provided, cloud.adminToken(), "the provided admin token is the one in force");

            Containerd containerd = Containerd.start(List.of(TestImages.BUSYBOX));
            started.add(0, containerd);
            JoinToken token = cloud.createJoinToken(Duration.ofMinutes(10), 1);
            EdgeHost host = new EdgeHost("edge-1", dir.resolve("edge-1"), containerd.endpoint(), List.of());
            started.add(0, host);
            Commands.Result joined = host.join(token.getStatus().getJoinCommand());
            assertEquals(0, joined.exitCode(), joined.output());
            host.start();
            awaitReplicaOn(cloud, host, "before", "edge-1");

            EtcdServer leader = leader(etcd);
            leader.kill();
            // A new leader is elected among the other two; every call below goes through it.
            awaitReplicaOn(cloud, host, "after", "edge-1");
            assertTrue(cloud.process().isAlive(), cloud.process().logTail());
        } finally {
            for (AutoCloseable c : started) {
                c.close();
            }
        }
    }

    @Test
    void refusesToStartWithAProvidedAdminTokenTooShortToBeASecret() throws Exception {
        try (EtcdServer etcd = EtcdServer.start()) {
            Path cpDir = Files.createDirectories(dir.resolve("cp"));
            Files.writeString(cpDir.resolve("admin-token"), "letmein\n");
            AssertionError refused = assertThrows(AssertionError.class, () -> ControlPlane.start(etcd.endpoint(), cpDir));
            assertTrue(refused.getMessage().contains("at least 32 printable ASCII characters"), refused.getMessage());
            Commands.Result hash = Commands.exec(List.of("etcdctl", "--endpoints", etcd.endpoint(), "get",
                    "--prefix", "/edgeplane/auth/"), Map.of("ETCDCTL_API", "3"), Duration.ofSeconds(10));
            assertEquals("", hash.output().trim(), "nothing was stored");
        }
    }

    /** Creates an App named after {@code phase} and waits until its one replica runs on the node. */
    private static void awaitReplicaOn(ControlPlane cloud, EdgeHost host, String phase, String node) {
        String name = "web-" + phase;
        App app = App.newBuilder().setMetadata(ObjectMeta.newBuilder().setName(name))
                .setSpec(AppSpec.newBuilder().setReplicas(1).setTemplate(PodTemplate.newBuilder()
                        .setTerminationGraceSeconds(1)
                        .addContainers(Container.newBuilder().setName("main").setImage(TestImages.BUSYBOX.name())
                                .addAllCommand(List.of("sleep", "3600")))))
                .build();
        // The first call after losing the leader may fail while etcd elects a new one: retry it.
        Await.until("App " + name + " created", Duration.ofSeconds(30), host::logTail, () -> {
            try {
                cloud.apps().createApp(CreateAppRequest.newBuilder().setApp(app).build());
                return true;
            } catch (io.grpc.StatusRuntimeException e) {
                return e.getStatus().getCode() == io.grpc.Status.Code.ALREADY_EXISTS;
            }
        });
        Await.until("replica of " + name + " running on " + node, Duration.ofSeconds(60), host::logTail, () -> {
            App current = cloud.apps().getApp(GetAppRequest.newBuilder().setNamespace("default").setName(name).build());
            return current.getStatus().getReplicasList().stream().anyMatch(r -> r.getNode().equals(node)
                    && r.getPhase() == ReplicaStatus.Phase.RUNNING);
        });
    }

    /** The member that etcd itself reports as leader. */
    private static EtcdServer leader(List<EtcdServer> etcd) throws Exception {
        ObjectMapper json = new ObjectMapper();
        for (EtcdServer server : etcd) {
            String out = Commands.run(List.of("etcdctl", "--endpoints", server.endpoint(), "endpoint", "status",
                    "-w", "json"), Duration.ofSeconds(10));
            JsonNode header = json.readTree(out).get(0).get("Status").get("header");
            long leader = json.readTree(out).get(0).get("Status").get("leader").asLong();
            if (header.get("member_id").asLong() == leader) {
                return server;
            }
        }
        throw new AssertionError("no member reports itself as leader");
    }
}
