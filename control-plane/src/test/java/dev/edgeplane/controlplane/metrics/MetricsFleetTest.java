package dev.edgeplane.controlplane.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.JoinRequest;
import dev.edgeplane.api.v1.JoinResponse;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.ListSeriesRequest;
import dev.edgeplane.api.v1.ListSeriesResponse;
import dev.edgeplane.api.v1.MetricKind;
import dev.edgeplane.api.v1.MetricsBatch;
import dev.edgeplane.api.v1.MetricsServiceGrpc;
import dev.edgeplane.api.v1.NodeInfo;
import dev.edgeplane.api.v1.SampleFrame;
import dev.edgeplane.api.v1.SeriesDefinition;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.sync.TestAgent;
import io.grpc.ManagedChannel;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * 1,000 nodes, each with its own certificate and mutual-TLS connection, report 40 series (20 node +
 * 5 containers x 4): more than both limits allow. Every batch is still acked, the store holds exactly
 * as many series as configured, and the rest are refused and counted.
 */
@QuarkusTest
@TestProfile(MetricsTestProfile.class)
@QuarkusTestResource(EtcdTestResource.class)
class MetricsFleetTest {
    private static final int NODES = 1000;
    private static final int WAVE = 100;
    private static final Duration WAIT = Duration.ofSeconds(30);

    @Inject
    AgentMetrics metrics;

    /** 20 node series and 5 containers x 4, as an agent reports them. */
    static MetricsBatch batch(long sequence, long timeMs) {
        MetricsBatch.Builder batch = MetricsBatch.newBuilder().setSequence(sequence);
        SampleFrame.Builder frame = SampleFrame.newBuilder().setTimeUnixMs(timeMs);
        int id = 0;
        for (int i = 0; i < 20; i++) {
            batch.addNewSeries(SeriesDefinition.newBuilder().setId(++id).setName("node_series_" + i).setKind(MetricKind.GAUGE));
            frame.addSeriesIds(id).addValues(i);
        }
        for (int c = 0; c < 5; c++) {
            for (String name : List.of("container_cpu_usage_cores", "container_memory_working_set_bytes", "container_restarts_total", "container_state")) {
                batch.addNewSeries(SeriesDefinition.newBuilder().setId(++id).setName(name).setKind(MetricKind.GAUGE)
                        .putAllLabels(Map.of("namespace", "default", "app", "app" + c, "replica", "app" + c + "-0", "container", "main")));
                frame.addSeriesIds(id).addValues(c);
            }
        }
        return batch.addFrames(frame).build();
    }

    @Test
    void aThousandReportingNodesStayWithinTheSeriesLimits() throws Exception {
        long refusedBefore = metrics.store().seriesRefused();
        int seriesBefore = metrics.store().seriesCount(); // other tests' series share the limit
        NioEventLoopGroup group = new NioEventLoopGroup(2);
        try (TestApi api = new TestApi(); TestAgent keys = new TestAgent("fleet-key")) {
            JoinToken token = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder()
                    .setToken(JoinToken.newBuilder().setSpec(JoinTokenSpec.newBuilder().setMaxUses(NODES))).build());
            // Join the first the way an agent does (pinning the CA), then the rest over one channel trusting that CA.
            JoinResponse firstJoin = keys.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());
            X509Certificate ca = TestAgent.parse(firstJoin.getCaBundlePem());
            ManagedChannel joinChannel = NettyChannelBuilder.forAddress("127.0.0.1", TestApi.agentPort())
                    .eventLoopGroup(group).channelType(NioSocketChannel.class)
                    .sslContext(GrpcSslContexts.forClient().trustManager(ca).build()).build();
            String csr = keys.csrPem(); // the CN is the control plane's choice: one key pair serves every simulated node
            long now = System.currentTimeMillis();
            try {
                for (int wave = 0; wave < NODES; wave += WAVE) {
                    List<ManagedChannel> channels = new ArrayList<>();
                    List<MetricsReporter> reporters = new ArrayList<>();
                    try {
                        for (int i = wave; i < wave + WAVE; i++) {
                            String name = i == 0 ? "fleet-key" : "fleet-" + i;
                            JoinResponse joined = i == 0 ? firstJoin : AgentServiceGrpc.newBlockingStub(joinChannel)
                                    .withDeadlineAfter(20, TimeUnit.SECONDS)
                                    .join(JoinRequest.newBuilder().setToken(token.getStatus().getToken()).setCsrPem(csr).setNodeName(name)
                                            .setInfo(NodeInfo.newBuilder().setHostname(name)).build());
                            ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", TestApi.agentPort())
                                    .eventLoopGroup(group).channelType(NioSocketChannel.class)
                                    .sslContext(GrpcSslContexts.forClient().trustManager(ca)
                                            .keyManager(keys.key.getPrivate(), TestAgent.parse(joined.getCertificatePem())).build())
                                    .build();
                            channels.add(channel);
                            MetricsReporter reporter = new MetricsReporter(channel);
                            reporters.add(reporter);
                            reporter.send(batch(1, now));
                        }
                        for (MetricsReporter reporter : reporters) {
                            reporter.sendAndAwaitAck(MetricsBatch.newBuilder().setSequence(2).build(), WAIT);
                        }
                    } finally {
                        reporters.forEach(MetricsReporter::close);
                        for (ManagedChannel channel : channels) {
                            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                        }
                    }
                }
            } finally {
                joinChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }

            MetricsStore store = metrics.store();
            System.out.printf("fleet: %d nodes reported %d series each; stored %d series, refused %d%n",
                    NODES, 40, store.seriesCount(), store.seriesRefused() - refusedBefore);
            assertTrue(store.seriesCount() <= MetricsTestProfile.MAX_SERIES, "total limit holds: " + store.seriesCount());
            assertEquals(MetricsTestProfile.MAX_SERIES, store.seriesCount(), "filled up to the limit, no further");
            assertEquals(MetricsTestProfile.MAX_SERIES_PER_NODE, store.seriesCount("fleet-1"), "the per-node limit holds");
            assertEquals((long) NODES * 40 - (MetricsTestProfile.MAX_SERIES - seriesBefore), store.seriesRefused() - refusedBefore,
                    "every series over a limit is counted");
            // What the API sees agrees (paged).
            var stub = api.withToken(MetricsServiceGrpc.newBlockingStub(api.channel), api.adminToken);
            int listed = 0;
            String page = "";
            do {
                ListSeriesResponse r = stub.listSeries(ListSeriesRequest.newBuilder().setPageSize(5000).setPageToken(page).build());
                listed += r.getSeriesCount();
                page = r.getNextPageToken();
            } while (!page.isEmpty());
            assertEquals(MetricsTestProfile.MAX_SERIES, listed);
        } finally {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS);
            // The store is shared with the other tests of this profile: give the limit back.
            for (int i = 0; i < NODES; i++) {
                metrics.store().dropNode(i == 0 ? "fleet-key" : "fleet-" + i);
            }
        }
    }
}
