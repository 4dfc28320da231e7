package dev.edgeplane.agent.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.metrics.ValueCodes;
import dev.edgeplane.api.v1.MetricsBatch;
import dev.edgeplane.api.v1.SeriesDefinition;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Frames through a stream's coded scope and back, batch after batch: what an idle node's minute costs. */
class WireFormatTest {
    private static final Series LOAD = Series.gauge("node_load1");
    private static final Series MEMORY = Series.gauge("node_memory_used_bytes");
    private static final Series RECEIVED = Series.counter("node_network_receive_bytes_total", "interface", "eth0");
    private static final Series UPTIME = Series.counter("node_uptime_seconds");
    private static final Series CPU_SECONDS = Series.counter("agent_metrics_collect_seconds_total");

    private static Frame frame(long t, Object... seriesAndValues) {
        Map<Series, Double> values = new LinkedHashMap<>();
        for (int i = 0; i < seriesAndValues.length; i += 2) {
            values.put((Series) seriesAndValues[i], (Double) seriesAndValues[i + 1]);
        }
        return new Frame(t, values);
    }

    /** A minute of an idle host: six frames, ten seconds apart. */
    private static List<Frame> minute(long t0, Random r, double[] state) {
        List<Frame> frames = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            state[0] += 1_000 + r.nextInt(400); // bytes received
            state[1] += 10; // uptime
            frames.add(frame(t0 + i * 10_000L, LOAD, 0.07, MEMORY, 1.5e9 + r.nextInt(200_000), RECEIVED, state[0],
                    UPTIME, Math.rint(state[1] * 100) / 100, CPU_SECONDS, 0.001234));
        }
        return frames;
    }

    @Test
    void codedBatchesReadBackExactlyExceptGaugesRoundedToThePrecision() {
        Random r = new Random(5);
        WireFormat.Ids ids = new WireFormat.Ids(12);
        WireFormat.Reader reader = new WireFormat.Reader();
        double[] state = {123_456_789, 86_400.25};
        for (int m = 0; m < 5; m++) {
            List<Frame> sent = minute(1_700_000_000_000L + m * 60_000L, r, state);
            MetricsBatch.Builder batch = MetricsBatch.newBuilder().setSequence(m + 1);
            WireFormat.append(batch, sent, ids);
            assertEquals(m == 0 ? 5 : 0, batch.getNewSeriesCount(), "series are defined once a stream");
            List<Frame> read = reader.frames(batch.build());
            assertEquals(sent.size(), read.size());
            for (int i = 0; i < sent.size(); i++) {
                Frame s = sent.get(i);
                Frame got = read.get(i);
                assertEquals(s.timeUnixMs(), got.timeUnixMs());
                for (Series series : List.of(RECEIVED, UPTIME, CPU_SECONDS)) {
                    assertEquals(s.values().get(series), got.values().get(series), series.name() + " is exact");
                }
                for (Series series : List.of(LOAD, MEMORY)) {
                    assertEquals(ValueCodes.roundedValue(ValueCodes.roundedCode(s.values().get(series), 12), 12), got.values().get(series),
                            series.name() + " is the store's rounding");
                }
            }
        }
    }

    @Test
    void aSteadyMinuteCostsAFractionOfItsDoubles() {
        double[] plainState = {123_456_789, 86_400.25};
        double[] codedState = plainState.clone();
        WireFormat.Ids plain = new WireFormat.Ids();
        WireFormat.Ids coded = new WireFormat.Ids(12);
        int plainBytes = 0;
        int codedBytes = 0;
        Random r1 = new Random(9);
        Random r2 = new Random(9);
        for (int m = 0; m < 10; m++) {
            MetricsBatch.Builder p = MetricsBatch.newBuilder().setSequence(m + 1);
            WireFormat.append(p, minute(m * 60_000L + 1, r1, plainState), plain);
            MetricsBatch.Builder c = MetricsBatch.newBuilder().setSequence(m + 1);
            WireFormat.append(c, minute(m * 60_000L + 1, r2, codedState), coded);
            if (m > 0) { // past the definitions
                plainBytes += p.build().getSerializedSize();
                codedBytes += c.build().getSerializedSize();
            }
        }
        assertTrue(codedBytes * 2 < plainBytes, "coded " + codedBytes + " bytes, doubles " + plainBytes);
    }

    @Test
    void aValueItsCodingCannotSayGetsANewIdAndStillReadsBackExactly() {
        WireFormat.Ids ids = new WireFormat.Ids(12);
        WireFormat.Reader reader = new WireFormat.Reader();
        MetricsBatch.Builder batch = MetricsBatch.newBuilder().setSequence(1);
        List<Frame> sent = List.of(frame(1, UPTIME, 5.0), frame(2, UPTIME, 5.5), frame(3, UPTIME, Math.PI), frame(4, UPTIME, 7.0));
        WireFormat.append(batch, sent, ids);
        List<SeriesDefinition> defined = batch.getNewSeriesList();
        assertEquals(3, defined.size(), "integers, then one decimal, then doubles");
        assertEquals(0, defined.get(0).getCoding().getDecimals());
        assertEquals(1, defined.get(1).getCoding().getDecimals());
        assertFalse(defined.get(2).hasCoding());
        List<Frame> read = reader.frames(batch.build());
        for (int i = 0; i < sent.size(); i++) {
            assertEquals(sent.get(i).values().get(UPTIME), read.get(i).values().get(UPTIME));
        }
    }

    @Test
    void blocksReadBackAsTheFramesTheyWereMadeOf() {
        Series late = Series.gauge("container_memory_working_set_bytes", "container", "main");
        List<List<Frame>> minutes = new ArrayList<>();
        Random r = new Random(3);
        double[] state = {123_456_789, 86_400.25};
        for (int m = 0; m < 3; m++) {
            List<Frame> frames = new ArrayList<>(minute(1_700_000_000_000L + m * 60_000L, r, state));
            if (m == 1) {
                // A series that starts mid-minute, and a counter its coding cannot say: new ids, so new blocks.
                Frame third = frames.get(3);
                Map<Series, Double> values = new LinkedHashMap<>(third.values());
                values.put(late, 4.5e6);
                values.put(CPU_SECONDS, Math.PI);
                frames.set(3, new Frame(third.timeUnixMs(), values));
            }
            minutes.add(frames);
        }
        for (int precision : new int[] {12, 0}) {
            WireFormat.Ids ids = new WireFormat.Ids(precision);
            WireFormat.Ids asFrames = new WireFormat.Ids(precision);
            WireFormat.Reader reader = new WireFormat.Reader();
            WireFormat.Reader frameReader = new WireFormat.Reader();
            for (int m = 0; m < minutes.size(); m++) {
                MetricsBatch.Builder blocks = MetricsBatch.newBuilder().setSequence(m + 1);
                WireFormat.appendBlocks(blocks, minutes.get(m), ids);
                MetricsBatch.Builder frames = MetricsBatch.newBuilder().setSequence(m + 1);
                WireFormat.append(frames, minutes.get(m), asFrames);
                assertEquals(0, blocks.getFramesCount());
                assertEquals(m == 1 ? 3 : 1, blocks.getBlocksCount(), "a block per run of frames over the same series");
                if (m == 1) {
                    assertTrue(blocks.getBlocks(2).getSeriesIdsCount() > 0, "frames 4-5 list the ids they differ in");
                }
                assertEquals(frameReader.frames(frames.build()), reader.frames(blocks.build()), "minute " + m + ", precision " + precision);
            }
        }
    }

    @Test
    void blocksOfASteadyMinuteCompressToLessThanItsFrames() throws Exception {
        double[] frameState = {123_456_789, 86_400.25};
        double[] blockState = frameState.clone();
        WireFormat.Ids asFrames = new WireFormat.Ids(12);
        WireFormat.Ids asBlocks = new WireFormat.Ids(12);
        Random r1 = new Random(9);
        Random r2 = new Random(9);
        int frameBytes = 0;
        int blockBytes = 0;
        for (int m = 0; m < 10; m++) {
            MetricsBatch.Builder f = MetricsBatch.newBuilder().setSequence(m + 1);
            WireFormat.append(f, minute(1_700_000_000_000L + m * 60_000L + r1.nextInt(30), r1, frameState), asFrames);
            MetricsBatch.Builder b = MetricsBatch.newBuilder().setSequence(m + 1);
            WireFormat.appendBlocks(b, minute(1_700_000_000_000L + m * 60_000L + r2.nextInt(30), r2, blockState), asBlocks);
            if (m > 0) {
                frameBytes += gzipped(f.build().toByteArray());
                blockBytes += gzipped(b.build().toByteArray());
            }
        }
        assertTrue(blockBytes * 10 < frameBytes * 8, "blocks " + blockBytes + " bytes gzipped, frames " + frameBytes);
    }

    private static int gzipped(byte[] bytes) throws java.io.IOException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try (java.util.zip.GZIPOutputStream gzip = new java.util.zip.GZIPOutputStream(out)) {
            gzip.write(bytes);
        }
        return out.size();
    }

    @Test
    void withoutPrecisionEveryValueIsADoubleAsBefore() {
        MetricsBatch.Builder batch = MetricsBatch.newBuilder().setSequence(1);
        WireFormat.append(batch, List.of(frame(1, LOAD, 0.07, UPTIME, 5.0)), new WireFormat.Ids());
        assertEquals(List.of(0.07, 5.0), batch.getFrames(0).getValuesList());
        assertEquals(0, batch.getFrames(0).getCodeDeltasCount());
        assertFalse(batch.getNewSeries(0).hasCoding());
    }
}
