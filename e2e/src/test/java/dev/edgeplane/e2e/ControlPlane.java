package dev.edgeplane.e2e;

import dev.edgeplane.api.v1.AppServiceGrpc;
import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenServiceGrpc;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.NodeServiceGrpc;
import dev.edgeplane.testkit.FreePorts;
import io.grpc.CallCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.NettyChannelBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/** The packaged control plane as a process, on free ports, with an admin-token API client. */
final class ControlPlane implements AutoCloseable {
    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final ManagedProcess process;
    private final int apiPort;
    private final int agentPort;
    private final Path adminTokenFile;
    private final ManagedChannel channel;
    private final CallCredentials admin;

    private ControlPlane(ManagedProcess process, int apiPort, int agentPort, Path adminTokenFile) {
        this.process = process;
        this.apiPort = apiPort;
        this.agentPort = agentPort;
        this.adminTokenFile = adminTokenFile;
        this.channel = NettyChannelBuilder.forAddress("127.0.0.1", apiPort).usePlaintext().build();
        this.admin = bearer(adminToken());
    }

    static ControlPlane start(String etcdEndpoint, Path dir) throws IOException {
        int apiPort = FreePorts.belowEphemeralRange();
        return start(etcdEndpoint, dir, apiPort, FreePorts.belowEphemeralRange(apiPort), Map.of());
    }

    /** On given ports (a restart where agents expect it) with extra environment (e.g. shorter grace periods). */
    static ControlPlane start(String etcdEndpoint, Path dir, int apiPort, int agentPort, Map<String, String> extraEnv)
            throws IOException {
        return start(etcdEndpoint, dir, apiPort, agentPort, extraEnv, "512m", Duration.ofSeconds(60));
    }

    /** With a given maximum heap, and a longer wait for readiness (a control plane reading a large fleet's state). */
    static ControlPlane start(String etcdEndpoint, Path dir, int apiPort, int agentPort, Map<String, String> extraEnv,
                              String maxHeap, Duration readyWithin) throws IOException {
        Files.createDirectories(dir);
        Path tokenFile = dir.resolve("admin-token");
        Map<String, String> env = new java.util.HashMap<>(extraEnv);
        // A fixed test key-encryption key for Secrets (what a real deployment keeps in a file of its own).
        env.putIfAbsent("EDGEPLANE_SECRETS_KEYS", "e2e:" + java.util.Base64.getEncoder().encodeToString(new byte[32]));
        env.putAll(Map.of(
                "EDGEPLANE_ETCD_ENDPOINTS", etcdEndpoint,
                "QUARKUS_HTTP_PORT", Integer.toString(apiPort),
                "EDGEPLANE_AGENT_PORT", Integer.toString(agentPort),
                "EDGEPLANE_AGENT_ADVERTISE", "127.0.0.1:" + agentPort,
                "EDGEPLANE_ADMIN_TOKEN_FILE", tokenFile.toString()));
        Binaries.Launch launch = Binaries.controlPlane(maxHeap);
        env.putAll(launch.env());
        // Each Vert.x instance (Quarkus's and jetcd's own) makes a file cache directory that only a clean stop
        // removes: in the test's own directory, a control plane killed with -9 (as restart tests do) leaves none in /tmp.
        env.put("CONTROL_PLANE_JAVA_OPTS", (env.getOrDefault("CONTROL_PLANE_JAVA_OPTS", "") + " -Dvertx.cacheDirBase="
                + dir.resolve("vertx-cache")).strip());
        ManagedProcess p = ManagedProcess.start("control-plane", launch.command(), env,
                dir.resolve("control-plane.log"));
        try {
            Await.until("control plane ready on :" + apiPort, readyWithin, p::logTail,
                    () -> {
                        if (!p.isAlive()) {
                            throw new AssertionError("control plane exited\n" + p.logTail());
                        }
                        return ready(apiPort) && Files.isRegularFile(tokenFile);
                    });
        } catch (RuntimeException | AssertionError e) {
            p.close();
            throw e;
        }
        return new ControlPlane(p, apiPort, agentPort, tokenFile);
    }

    /** The value of a sample on /metrics ({@code name} with its labels as printed, e.g. {@code x_total{a="b"}}), or NaN. */
    double scrape(String sample) throws IOException, InterruptedException {
        String text = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build().send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + apiPort + "/metrics")).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        for (String line : text.split("\n")) {
            if (line.startsWith(sample + " ")) {
                return Double.parseDouble(line.substring(sample.length() + 1).trim());
            }
        }
        return Double.NaN;
    }

    private static boolean ready(int port) {
        try {
            HttpResponse<Void> r = HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/health/ready"))
                            .timeout(Duration.ofSeconds(2)).build(),
                    HttpResponse.BodyHandlers.discarding());
            return r.statusCode() == 200;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    int apiPort() {
        return apiPort;
    }

    int agentPort() {
        return agentPort;
    }

    String apiAddress() {
        return "127.0.0.1:" + apiPort;
    }

    String agentAddress() {
        return "127.0.0.1:" + agentPort;
    }

    Path adminTokenFile() {
        return adminTokenFile;
    }

    String adminToken() {
        try {
            return Files.readString(adminTokenFile).trim();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    ManagedProcess process() {
        return process;
    }

    AppServiceGrpc.AppServiceBlockingStub apps() {
        return AppServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.NodePoolServiceGrpc.NodePoolServiceBlockingStub nodePools() {
        return dev.edgeplane.api.v1.NodePoolServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.StorageClassServiceGrpc.StorageClassServiceBlockingStub storageClasses() {
        return dev.edgeplane.api.v1.StorageClassServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.JobServiceGrpc.JobServiceBlockingStub jobs() {
        return dev.edgeplane.api.v1.JobServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(30, java.util.concurrent.TimeUnit.SECONDS);
    }

    NodeServiceGrpc.NodeServiceBlockingStub nodes() {
        return NodeServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    JoinTokenServiceGrpc.JoinTokenServiceBlockingStub tokens() {
        return JoinTokenServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.VolumeServiceGrpc.VolumeServiceBlockingStub volumes() {
        return dev.edgeplane.api.v1.VolumeServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.AutoscalerServiceGrpc.AutoscalerServiceBlockingStub autoscalers() {
        return dev.edgeplane.api.v1.AutoscalerServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.CronJobServiceGrpc.CronJobServiceBlockingStub cronJobs() {
        return dev.edgeplane.api.v1.CronJobServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.VolumeSnapshotPolicyServiceGrpc.VolumeSnapshotPolicyServiceBlockingStub snapshotPolicies() {
        return dev.edgeplane.api.v1.VolumeSnapshotPolicyServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.ConfigMapServiceGrpc.ConfigMapServiceBlockingStub configMaps() {
        return dev.edgeplane.api.v1.ConfigMapServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.ImagePrefetchServiceGrpc.ImagePrefetchServiceBlockingStub imagePrefetches() {
        return dev.edgeplane.api.v1.ImagePrefetchServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.SecretServiceGrpc.SecretServiceBlockingStub secrets() {
        return dev.edgeplane.api.v1.SecretServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.EventServiceGrpc.EventServiceBlockingStub events() {
        return dev.edgeplane.api.v1.EventServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.AuditServiceGrpc.AuditServiceBlockingStub audit() {
        return dev.edgeplane.api.v1.AuditServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.ClusterCaServiceGrpc.ClusterCaServiceBlockingStub clusterCa() {
        return dev.edgeplane.api.v1.ClusterCaServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    dev.edgeplane.api.v1.OpsServiceGrpc.OpsServiceBlockingStub ops() {
        return dev.edgeplane.api.v1.OpsServiceGrpc.newBlockingStub(channel).withCallCredentials(admin)
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    JoinToken createJoinToken(Duration ttl, int maxUses) {
        return tokens().createJoinToken(CreateJoinTokenRequest.newBuilder()
                .setToken(JoinToken.newBuilder().setSpec(JoinTokenSpec.newBuilder()
                        .setTtl(com.google.protobuf.Duration.newBuilder().setSeconds(ttl.toSeconds()))
                        .setMaxUses(maxUses)))
                .build());
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        process.close();
    }

    /** Call credentials that send {@code token} as the bearer token (as edgectl does). */
    static CallCredentials bearer(String token) {
        return new CallCredentials() {
            @Override
            public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
                Metadata headers = new Metadata();
                headers.put(AUTHORIZATION, "Bearer " + token);
                applier.apply(headers);
            }
        };
    }
}
