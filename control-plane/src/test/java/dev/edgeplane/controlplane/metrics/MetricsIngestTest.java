package dev.edgeplane.controlplane.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import com.google.rpc.BadRequest;
import dev.edgeplane.api.metrics.ValueCodes;
import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.DeleteNodeRequest;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.LabelMatcher;
import dev.edgeplane.api.v1.ListSeriesRequest;
import dev.edgeplane.api.v1.MetricKind;
import dev.edgeplane.api.v1.MetricsBatch;
import dev.edgeplane.api.v1.MetricsServiceGrpc;
import dev.edgeplane.api.v1.Point;
import dev.edgeplane.api.v1.QueryMetricsRequest;
import dev.edgeplane.api.v1.QueryMetricsResponse;
import dev.edgeplane.api.v1.SampleBlock;
import dev.edgeplane.api.v1.SampleFrame;
import dev.edgeplane.api.v1.Series;
import dev.edgeplane.api.v1.SeriesDefinition;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.sync.TestAgent;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Batches streamed over real mutual TLS into the control plane, read back through MetricsService. */
@QuarkusTest
@TestProfile(MetricsTestProfile.class)
@QuarkusTestResource(EtcdTestResource.class)
class MetricsIngestTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private TestApi api;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @BeforeEach
    void connect() {
        api = new TestApi();
    }

    @AfterEach
    void disconnect() throws Exception {
        for (AutoCloseable c : closeables) {
            c.close();
        }
        api.close();
    }

    private MetricsServiceGrpc.MetricsServiceBlockingStub metrics() {
        return api.withToken(MetricsServiceGrpc.newBlockingStub(api.channel), api.adminToken);
    }

    private TestAgent joined(String name) throws Exception {
        JoinToken token = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder()
                .setToken(JoinToken.newBuilder().setSpec(JoinTokenSpec.newBuilder())).build());
        TestAgent agent = new TestAgent(name);
        closeables.add(agent);
        agent.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());
        return agent;
    }

    private MetricsReporter reporter(TestAgent agent) throws Exception {
        MetricsReporter reporter = new MetricsReporter(agent.syncChannel(TestApi.agentPort()));
        closeables.add(0, reporter);
        return reporter;
    }

    private static Timestamp ts(long ms) {
        return Timestamp.newBuilder().setSeconds(Math.floorDiv(ms, 1000)).setNanos((int) Math.floorMod(ms, 1000) * 1_000_000).build();
    }

    private static SeriesDefinition def(int id, String name, MetricKind kind, Map<String, String> labels) {
        return SeriesDefinition.newBuilder().setId(id).setName(name).setKind(kind).putAllLabels(labels).build();
    }

    @Test
    void aBatchOverMutualTlsIsStoredAckedAndQueryable() throws Exception {
        TestAgent agent = joined("metrics-a");
        MetricsReporter reporter = reporter(agent);
        long now = System.currentTimeMillis();
        long t0 = now - 30_000;
        Map<String, String> container = Map.of("namespace", "default", "app", "web", "replica", "web-0", "container", "main");
        reporter.sendAndAwaitAck(MetricsBatch.newBuilder().setSequence(1)
                .addNewSeries(def(1, "node_cpu_usage_cores", MetricKind.GAUGE, Map.of("node", "forged")))
                .addNewSeries(def(2, "container_cpu_usage_cores", MetricKind.GAUGE, container))
                .addNewSeries(def(3, "node_network_receive_bytes_total", MetricKind.COUNTER, Map.of("interface", "eth0")))
                .addFrames(SampleFrame.newBuilder().setTimeUnixMs(t0).addAllSeriesIds(List.of(1, 2, 3)).addAllValues(List.of(0.5, 0.25, 1000.0)))
                .addFrames(SampleFrame.newBuilder().setTimeUnixMs(t0 + 10_000).addAllValues(List.of(0.75, 0.5, 2000.0)))
                .addFrames(SampleFrame.newBuilder().setTimeUnixMs(t0 + 20_000).addAllSeriesIds(List.of(1)).addValues(1.0))
                .build(), WAIT);

        QueryMetricsResponse cpu = metrics().queryMetrics(QueryMetricsRequest.newBuilder()
                .addNames("node_cpu_usage_cores").addNames("container_cpu_usage_cores")
                .addMatchers(LabelMatcher.newBuilder().setName("node").setValue("metrics-a"))
                .setStart(ts(now - 60_000)).setEnd(ts(now)).build());
        assertEquals(2, cpu.getSeriesCount());
        Series containerCpu = cpu.getSeries(0);
        assertEquals("container_cpu_usage_cores", containerCpu.getName());
        assertEquals("metrics-a", containerCpu.getLabelsOrThrow("node"));
        assertEquals("web-0", containerCpu.getLabelsOrThrow("replica"));
        assertEquals(List.of(0.25, 0.5), containerCpu.getPointsList().stream().map(Point::getValue).toList());
        Series nodeCpu = cpu.getSeries(1);
        assertEquals(Map.of("node", "metrics-a"), nodeCpu.getLabelsMap(), "the node label is the certificate's");
        assertEquals(List.of(t0, t0 + 10_000, t0 + 20_000), nodeCpu.getPointsList().stream().map(Point::getTimeUnixMs).toList(),
                "raw points keep their original timestamps");
        assertFalse(nodeCpu.getPoints(0).getBackfill());

        // A backlog from while the link was down: older than what is stored, out of order, marked.
        reporter.sendAndAwaitAck(MetricsBatch.newBuilder().setSequence(2).setBackfill(true)
                .addFrames(SampleFrame.newBuilder().setTimeUnixMs(t0 - 600_000).addAllSeriesIds(List.of(1)).addValues(0.1))
                .addFrames(SampleFrame.newBuilder().setTimeUnixMs(t0 - 300_000).addValues(0.2))
                .build(), WAIT);
        Series withBacklog = metrics().queryMetrics(QueryMetricsRequest.newBuilder().addNames("node_cpu_usage_cores")
                .addMatchers(LabelMatcher.newBuilder().setName("node").setValue("metrics-a")).build()).getSeries(0);
        assertEquals(List.of(t0 - 600_000, t0 - 300_000, t0, t0 + 10_000, t0 + 20_000),
                withBacklog.getPointsList().stream().map(Point::getTimeUnixMs).toList());
        assertEquals(List.of(true, true, false, false, false), withBacklog.getPointsList().stream().map(Point::getBackfill).toList());

        // A step averages gauges and takes the last value of counters.
        QueryMetricsResponse stepped = metrics().queryMetrics(QueryMetricsRequest.newBuilder()
                .addNames("node_network_receive_bytes_total").addMatchers(LabelMatcher.newBuilder()
                        .setName("interface").setOp(LabelMatcher.Op.REGEX).setValue("eth.*"))
                .addMatchers(LabelMatcher.newBuilder().setName("node").setValue("metrics-a"))
                .setStep(com.google.protobuf.Duration.newBuilder().setSeconds(3600)).build());
        assertEquals(1, stepped.getSeriesCount());
        assertEquals(MetricKind.COUNTER, stepped.getSeries(0).getKind());
        assertEquals(2000.0, stepped.getSeries(0).getPoints(stepped.getSeries(0).getPointsCount() - 1).getValue());

        var listed = metrics().listSeries(ListSeriesRequest.newBuilder()
                .addMatchers(LabelMatcher.newBuilder().setName("node").setValue("metrics-a")).setPageSize(2).build());
        assertEquals(2, listed.getSeriesCount());
        assertFalse(listed.getNextPageToken().isEmpty());
        var rest = metrics().listSeries(ListSeriesRequest.newBuilder()
                .addMatchers(LabelMatcher.newBuilder().setName("node").setValue("metrics-a")).setPageToken(listed.getNextPageToken()).build());
        assertEquals(1, rest.getSeriesCount());
        assertTrue(rest.getNextPageToken().isEmpty());
        assertEquals(0, rest.getSeries(0).getPointsCount(), "ListSeries carries no points");

        // Deleting the node forgets its series.
        api.nodes().deleteNode(DeleteNodeRequest.newBuilder().setName("metrics-a").build());
        TestApi.await("series of the deleted node dropped", WAIT, () -> metrics().listSeries(ListSeriesRequest.newBuilder()
                .addMatchers(LabelMatcher.newBuilder().setName("node").setValue("metrics-a")).build()).getSeriesCount() == 0);
    }

    @Test
    void codedValuesCarryOverFromBatchToBatchAndComeBackAsSent() throws Exception {
        TestAgent agent = joined("metrics-coded");
        MetricsReporter reporter = reporter(agent);
        long t0 = System.currentTimeMillis() - 30_000;
        // Uptime as exact decimals (code = value x 100), memory rounded at 12 bits, bytes as exact integers, cpu as doubles.
        long memory0 = ValueCodes.roundedCode(1.5e9, 12);
        long memory1 = ValueCodes.roundedCode(1.6e9, 12);
        reporter.sendAndAwaitAck(MetricsBatch.newBuilder().setSequence(1)
                .addNewSeries(def(1, "node_uptime_seconds", MetricKind.COUNTER, Map.of()).toBuilder().setCoding(ValueCodes.decimals(2)))
                .addNewSeries(def(2, "node_memory_used_bytes", MetricKind.GAUGE, Map.of()).toBuilder().setCoding(ValueCodes.rounded(12)))
                .addNewSeries(def(3, "node_network_receive_bytes_total", MetricKind.COUNTER, Map.of()).toBuilder().setCoding(ValueCodes.decimals(0)))
                .addNewSeries(def(4, "node_cpu_usage_cores", MetricKind.GAUGE, Map.of()))
                .addFrames(SampleFrame.newBuilder().setTimeUnixMs(t0).addAllSeriesIds(List.of(1, 4, 2, 3)).addValues(0.125)
                        .addAllCodeDeltas(List.of(1_234_567L, memory0, 1_000_000_000L)))
                .addFrames(SampleFrame.newBuilder().setTimeUnixMs(t0 + 10_000).addValues(0.25).addAllCodeDeltas(List.of(1_000L, 0L, 4_096L)))
                .build(), WAIT);
        // The next batch's deltas count from the last codes of the one before.
        reporter.sendAndAwaitAck(MetricsBatch.newBuilder().setSequence(2)
                .addFrames(SampleFrame.newBuilder().setTimeUnixMs(t0 + 20_000).addAllSeriesIds(List.of(1, 4, 2, 3)).addValues(0.5)
                        .addAllCodeDeltas(List.of(999L, memory1 - memory0, 1L)))
                .build(), WAIT);
        assertEquals(List.of(12_345.67, 12_355.67, 12_365.66), values("metrics-coded", "node_uptime_seconds"));
        assertEquals(List.of(0.125, 0.25, 0.5), values("metrics-coded", "node_cpu_usage_cores"));
        assertEquals(List.of(1e9, 1e9 + 4_096, 1e9 + 4_097), values("metrics-coded", "node_network_receive_bytes_total"));
        assertEquals(List.of(ValueCodes.roundedValue(memory0, 12), ValueCodes.roundedValue(memory0, 12), ValueCodes.roundedValue(memory1, 12)),
                values("metrics-coded", "node_memory_used_bytes"));
        assertEquals(1.6e9, ValueCodes.roundedValue(memory1, 12), 1.6e9 / 4096, "within the precision");

        // Fewer code deltas than coded ids: the stream ends, and the batch (codes included) is not kept.
        reporter.send(MetricsBatch.newBuilder().setSequence(3)
                .addFrames(SampleFrame.newBuilder().setTimeUnixMs(t0 + 25_000).addAllSeriesIds(List.of(1, 3)).addCodeDeltas(1L))
                .build());
        StatusRuntimeException missing = (StatusRuntimeException) reporter.awaitError(WAIT);
        assertEquals(Status.Code.INVALID_ARGUMENT, missing.getStatus().getCode());
        assertEquals(List.of("frames[0].code_deltas"), badRequestFields(missing));
        assertEquals(3, values("metrics-coded", "node_uptime_seconds").size(), "nothing of the bad batch is stored");

        MetricsReporter badCoding = reporter(agent);
        badCoding.send(MetricsBatch.newBuilder().setSequence(4)
                .addNewSeries(def(1, "node_load1", MetricKind.GAUGE, Map.of()).toBuilder().setCoding(ValueCodes.rounded(60)))
                .addNewSeries(def(2, "node_load5", MetricKind.GAUGE, Map.of()).toBuilder().setCoding(ValueCodes.decimals(12)))
                .build());
        StatusRuntimeException codings = (StatusRuntimeException) badCoding.awaitError(WAIT);
        assertEquals(Status.Code.INVALID_ARGUMENT, codings.getStatus().getCode());
        assertEquals(List.of("new_series[0].coding.precision_bits", "new_series[1].coding.decimals"), badRequestFields(codings));
    }

    @Test
    void blocksCarryFramesInColumnsOnceTheFirstAckSaysTheyAreRead() throws Exception {
        TestAgent agent = joined("metrics-blocks");
        MetricsReporter reporter = reporter(agent);
        long t0 = System.currentTimeMillis() - 60_000;
        long memory0 = ValueCodes.roundedCode(1.5e9, 12);
        long memory1 = ValueCodes.roundedCode(1.6e9, 12);
        reporter.sendAndAwaitAck(MetricsBatch.newBuilder().setSequence(1)
                .addNewSeries(def(1, "node_uptime_seconds", MetricKind.COUNTER, Map.of()).toBuilder().setCoding(ValueCodes.decimals(2)))
                .addNewSeries(def(2, "node_memory_used_bytes", MetricKind.GAUGE, Map.of()).toBuilder().setCoding(ValueCodes.rounded(12)))
                .addNewSeries(def(4, "node_cpu_usage_cores", MetricKind.GAUGE, Map.of()))
                .addFrames(SampleFrame.newBuilder().setTimeUnixMs(t0).addAllSeriesIds(List.of(1, 4, 2)).addValues(0.125)
                        .addAllCodeDeltas(List.of(1_000L, memory0)))
                .build(), WAIT);
        assertTrue(reporter.received.get(0).getReadsBlocks(), "the stream's first ack says blocks are read");
        // Three frames in columns: times as differences, then series by series, the codes from the last frame's.
        reporter.sendAndAwaitAck(MetricsBatch.newBuilder().setSequence(2)
                .addBlocks(SampleBlock.newBuilder().addAllSeriesIds(List.of(1, 4, 2))
                        .addAllTimeDeltasMs(List.of(t0 + 10_000, 10_000L, 10_000L))
                        .addAllValues(List.of(0.25, 0.5, 0.75))
                        .addAllCodeDeltas(List.of(1_000L, 1_000L, 1_001L, 0L, memory1 - memory0, 0L)))
                // A second block over the same series (no ids, its time from the last frame's), then one over fewer.
                .addBlocks(SampleBlock.newBuilder().addTimeDeltasMs(10_000).addValues(1.0).addAllCodeDeltas(List.of(1L, 0L)))
                .addBlocks(SampleBlock.newBuilder().addSeriesIds(1).addTimeDeltasMs(10_000).addCodeDeltas(2L))
                .build(), WAIT);
        assertFalse(reporter.received.get(1).getReadsBlocks(), "said once a stream");
        // The next batch's first block carries on from the stream's last block: its ids and its time.
        reporter.sendAndAwaitAck(MetricsBatch.newBuilder().setSequence(3)
                .addBlocks(SampleBlock.newBuilder().addTimeDeltasMs(10_000).addCodeDeltas(3L)).build(), WAIT);
        assertEquals(List.of(10.0, 20.0, 30.0, 40.01, 40.02, 40.04, 40.07), values("metrics-blocks", "node_uptime_seconds"));
        assertEquals(List.of(0.125, 0.25, 0.5, 0.75, 1.0), values("metrics-blocks", "node_cpu_usage_cores"));
        double m0 = ValueCodes.roundedValue(memory0, 12);
        double m1 = ValueCodes.roundedValue(memory1, 12);
        assertEquals(List.of(m0, m0, m1, m1, m1), values("metrics-blocks", "node_memory_used_bytes"));
        QueryMetricsResponse uptime = metrics().queryMetrics(QueryMetricsRequest.newBuilder().addNames("node_uptime_seconds")
                .addMatchers(LabelMatcher.newBuilder().setName("node").setValue("metrics-blocks")).build());
        assertEquals(List.of(t0, t0 + 10_000, t0 + 20_000, t0 + 30_000, t0 + 40_000, t0 + 50_000, t0 + 60_000),
                uptime.getSeries(0).getPointsList().stream().map(Point::getTimeUnixMs).toList());

        // Malformed blocks end the stream naming the field, and nothing of the batch is stored.
        Map<String, MetricsBatch.Builder> bad = new java.util.LinkedHashMap<>();
        bad.put("blocks[0].values", MetricsBatch.newBuilder()
                .addBlocks(SampleBlock.newBuilder().addAllSeriesIds(List.of(1, 4)).addAllTimeDeltasMs(List.of(t0 + 60_000, 10_000L))
                        .addAllValues(List.of(1.0, 2.0)).addCodeDeltas(1L)));
        bad.put("blocks[0].series_ids[1]", MetricsBatch.newBuilder()
                .addBlocks(SampleBlock.newBuilder().addAllSeriesIds(List.of(1, 1)).addTimeDeltasMs(t0 + 60_000).addAllCodeDeltas(List.of(1L, 1L))));
        bad.put("blocks[0].time_deltas_ms[1]", MetricsBatch.newBuilder()
                .addBlocks(SampleBlock.newBuilder().addSeriesIds(1).addAllTimeDeltasMs(List.of(t0 + 60_000, -t0 - 60_000))
                        .addAllCodeDeltas(List.of(1L, 1L))));
        bad.put("blocks[0].time_deltas_ms", MetricsBatch.newBuilder().addBlocks(SampleBlock.newBuilder().addSeriesIds(1)));
        bad.put("blocks[0].series_ids", MetricsBatch.newBuilder().addBlocks(SampleBlock.newBuilder().addTimeDeltasMs(t0 + 60_000)));
        bad.put("blocks[0].series_ids[0]", MetricsBatch.newBuilder()
                .addBlocks(SampleBlock.newBuilder().addAllSeriesIds(List.of(7, 1)).addTimeDeltasMs(t0 + 60_000).addCodeDeltas(1L).addValues(1.0)));
        bad.put("blocks", MetricsBatch.newBuilder()
                .addFrames(SampleFrame.newBuilder().setTimeUnixMs(t0 + 60_000).addSeriesIds(1).addCodeDeltas(1L))
                .addBlocks(SampleBlock.newBuilder().addSeriesIds(1).addTimeDeltasMs(t0 + 70_000).addCodeDeltas(1L)));
        for (Map.Entry<String, MetricsBatch.Builder> e : bad.entrySet()) {
            MetricsReporter stream = reporter(agent);
            stream.send(e.getValue().setSequence(10)
                    .addNewSeries(def(1, "node_uptime_seconds", MetricKind.COUNTER, Map.of()).toBuilder().setCoding(ValueCodes.decimals(2)))
                    .addNewSeries(def(4, "node_cpu_usage_cores", MetricKind.GAUGE, Map.of())).build());
            StatusRuntimeException refused = (StatusRuntimeException) stream.awaitError(WAIT);
            assertEquals(Status.Code.INVALID_ARGUMENT, refused.getStatus().getCode(), e.getKey());
            assertEquals(List.of(e.getKey()), badRequestFields(refused));
            assertTrue(stream.received.isEmpty(), e.getKey() + ": nothing acked");
        }
        assertEquals(7, values("metrics-blocks", "node_uptime_seconds").size(), "nothing of the bad batches is stored");
    }

    private List<Double> values(String node, String name) {
        QueryMetricsResponse response = metrics().queryMetrics(QueryMetricsRequest.newBuilder().addNames(name)
                .addMatchers(LabelMatcher.newBuilder().setName("node").setValue(node)).build());
        assertEquals(1, response.getSeriesCount(), name);
        return response.getSeries(0).getPointsList().stream().map(Point::getValue).toList();
    }

    @Test
    void anUnknownSeriesIdEndsTheStreamWithInvalidArgument() throws Exception {
        TestAgent agent = joined("metrics-bad");
        MetricsReporter reporter = reporter(agent);
        reporter.send(MetricsBatch.newBuilder().setSequence(1)
                .addNewSeries(def(1, "node_load1", MetricKind.GAUGE, Map.of()))
                .addFrames(SampleFrame.newBuilder().setTimeUnixMs(System.currentTimeMillis()).addAllSeriesIds(List.of(1, 7)).addAllValues(List.of(1.0, 2.0)))
                .build());
        Throwable error = reporter.awaitError(WAIT);
        assertNotNull(error);
        StatusRuntimeException e = (StatusRuntimeException) error;
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals("frames[0].series_ids[1]", badRequestFields(e).get(0));
        assertTrue(reporter.acks.isEmpty(), "nothing of a bad batch is acked");
        assertEquals(0, metrics().listSeries(ListSeriesRequest.newBuilder()
                .addMatchers(LabelMatcher.newBuilder().setName("node").setValue("metrics-bad")).build()).getSeriesCount(),
                "nothing of a bad batch is stored");
    }

    @Test
    void aHostileAgentCannotMakeTheStoreHoldLongNamesOrUnboundedSeries() throws Exception {
        TestAgent agent = joined("metrics-hostile");
        MetricsReporter longName = reporter(agent);
        longName.send(MetricsBatch.newBuilder().setSequence(1)
                .addNewSeries(def(1, "n".repeat(MetricsReceiver.MAX_NAME + 1), MetricKind.GAUGE, Map.of()))
                .addNewSeries(def(2, "node_load1", MetricKind.GAUGE, Map.of("l".repeat(MetricsReceiver.MAX_LABEL_NAME + 1), "v")))
                .build());
        StatusRuntimeException names = (StatusRuntimeException) longName.awaitError(WAIT);
        assertEquals(Status.Code.INVALID_ARGUMENT, names.getStatus().getCode());
        assertEquals(List.of("new_series[0].name", "new_series[1].labels[" + "l".repeat(MetricsReceiver.MAX_LABEL_NAME) + "]"),
                badRequestFields(names));

        MetricsReporter many = reporter(agent);
        MetricsBatch.Builder batch = MetricsBatch.newBuilder().setSequence(1);
        for (int id = 0; id <= MetricsReceiver.MAX_SERIES_PER_STREAM; id++) {
            batch.addNewSeries(def(id, "s", MetricKind.GAUGE, Map.of()));
        }
        many.send(batch.build());
        StatusRuntimeException tooMany = (StatusRuntimeException) many.awaitError(WAIT);
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, tooMany.getStatus().getCode());
        assertTrue(tooMany.getStatus().getDescription().startsWith("series per stream"), tooMany.getStatus().getDescription());
        assertTrue(many.acks.isEmpty());
    }

    @Test
    void reportMetricsNeedsTheNodeCertificate() throws Exception {
        TestAgent agent = joined("metrics-nocert");
        MetricsReporter reporter = new MetricsReporter(agent.syncChannel(TestApi.agentPort(), false));
        closeables.add(0, reporter);
        reporter.send(MetricsBatch.newBuilder().setSequence(1).build());
        StatusRuntimeException e = (StatusRuntimeException) reporter.awaitError(WAIT);
        assertNotNull(e);
        assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
    }

    @Test
    void queriesAreValidatedAndNeedTheToken() {
        StatusRuntimeException noNames = assertThrows(StatusRuntimeException.class,
                () -> metrics().queryMetrics(QueryMetricsRequest.newBuilder().build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, noNames.getStatus().getCode());
        assertEquals(List.of("names"), badRequestFields(noNames));

        StatusRuntimeException bad = assertThrows(StatusRuntimeException.class,
                () -> metrics().queryMetrics(QueryMetricsRequest.newBuilder().addNames("node_load1")
                        .addMatchers(LabelMatcher.newBuilder().setName("node").setOp(LabelMatcher.Op.REGEX).setValue("(unclosed"))
                        .setStep(com.google.protobuf.Duration.newBuilder().setSeconds(90)).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, bad.getStatus().getCode());
        assertEquals(List.of("matchers[0].value", "step"), badRequestFields(bad));

        StatusRuntimeException noToken = assertThrows(StatusRuntimeException.class,
                () -> MetricsServiceGrpc.newBlockingStub(api.channel).queryMetrics(QueryMetricsRequest.newBuilder().addNames("x").build()));
        assertEquals(Status.Code.UNAUTHENTICATED, noToken.getStatus().getCode());
    }

    static List<String> badRequestFields(StatusRuntimeException e) {
        com.google.rpc.Status status = StatusProto.fromThrowable(e);
        assertNotNull(status, "status details expected");
        return status.getDetailsList().stream().filter(a -> a.is(BadRequest.class)).flatMap(a -> {
            try {
                return a.unpack(BadRequest.class).getFieldViolationsList().stream().map(BadRequest.FieldViolation::getField);
            } catch (com.google.protobuf.InvalidProtocolBufferException ex) {
                throw new IllegalStateException(ex);
            }
        }).toList();
    }
}
