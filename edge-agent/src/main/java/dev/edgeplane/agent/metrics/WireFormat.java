package dev.edgeplane.agent.metrics;

import dev.edgeplane.api.metrics.ValueCodes;
import dev.edgeplane.api.metrics.ValuePrecision;
import dev.edgeplane.api.v1.MetricKind;
import dev.edgeplane.api.v1.MetricsBatch;
import dev.edgeplane.api.v1.SampleBlock;
import dev.edgeplane.api.v1.SampleFrame;
import dev.edgeplane.api.v1.SeriesDefinition;
import dev.edgeplane.api.v1.ValueCoding;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Frames to MetricsBatch and back. Series get small integer ids, defined once per scope (a
 * ReportMetrics stream, or one ring record); a frame whose series are those of the frame before it
 * in the batch sends no ids at all, only values. In a stream's scope most values also travel as
 * codes ({@link ValueCodes}): each the difference from its series' previous code, so a steady series
 * costs a byte a sample instead of eight. Gauges are rounded to the scope's precision (the store's
 * rounding, {@code --metrics-precision-bits}); counters, and every gauge at 53 bits, are coded as
 * exact decimals when they are, else sent as doubles.
 */
public final class WireFormat {
    /** Most decimals tried for an exact decimal code (microseconds of a seconds counter). */
    static final int DECIMALS = 6;

    /** Series ids (and the codes' state) of one scope: a stream's, or a ring record's. */
    public static final class Ids {
        private final Map<Series, Defined> ids = new HashMap<>();
        private final int precisionBits;
        private int next = 1;
        /** The ids and last frame time of the scope's last SampleBlock: what the next one counts from. */
        private List<Integer> blockIds;
        private long blockTime;

        /** Values as doubles, the format of the ring's records. */
        public Ids() {
            this(0);
        }

        /**
         * @param precisionBits 0: values as doubles; 2..52: gauges rounded to this precision and coded, counters
         *                      coded when exact decimals; 53 and up: nothing rounded, exact decimals coded
         */
        public Ids(int precisionBits) {
            if (precisionBits != 0 && precisionBits < 2) {
                throw new IllegalArgumentException("precision bits must be 0 (no codes) or 2..64: " + precisionBits);
            }
            this.precisionBits = precisionBits;
        }

        /** The series' definition for this value: its own, or a new one when its coding cannot say the value. */
        Defined definedFor(Series series, double value, MetricsBatch.Builder batch) {
            Defined d = ids.get(series);
            if (d != null && (d.coding == null || ValueCodes.code(d.coding, value) != ValueCodes.NOT_EXACT)) {
                return d;
            }
            ValueCoding coding = codingFor(series, value, d == null ? null : d.coding);
            d = new Defined(next++, coding);
            ids.put(series, d);
            SeriesDefinition.Builder definition = SeriesDefinition.newBuilder().setId(d.id).setName(series.name())
                    .putAllLabels(series.labels()).setKind(series.kind());
            if (coding != null) {
                definition.setCoding(coding);
            }
            batch.addNewSeries(definition);
            return d;
        }

        /**
         * A coding for a series' value; {@code failed} is the exact-decimal coding the value did not fit, so
         * each redefinition takes more decimals or none, and a series is defined a few times at most.
         */
        private ValueCoding codingFor(Series series, double value, ValueCoding failed) {
            if (precisionBits == 0) {
                return null;
            }
            if (series.kind() == MetricKind.GAUGE && precisionBits < ValuePrecision.LOSSLESS) {
                return ValueCodes.rounded(precisionBits);
            }
            int decimals = ValueCodes.decimalsFor(value, failed == null ? 0 : failed.getDecimals() + 1, DECIMALS);
            return decimals < 0 ? null : ValueCodes.decimals(decimals);
        }

        public int size() {
            return ids.size();
        }
    }

    /** One series id of a scope: its coding (null: doubles) and the last code sent. */
    private static final class Defined {
        final int id;
        final ValueCoding coding;
        long last;

        Defined(int id, ValueCoding coding) {
            this.id = id;
            this.coding = coding;
        }
    }

    private WireFormat() {}

    /** Appends frames to a batch as SampleFrames, defining series new to this scope. */
    public static void append(MetricsBatch.Builder batch, List<Frame> frames, Ids ids) {
        List<Integer> previous = batch.getFramesCount() == 0 ? null : idsOf(batch, batch.getFramesCount() - 1);
        for (Frame frame : frames) {
            if (frame.values().isEmpty()) {
                continue; // an empty id list means "as before": an empty frame cannot be said, and says nothing
            }
            Row row = row(frame, ids, batch);
            SampleFrame.Builder out = SampleFrame.newBuilder().setTimeUnixMs(row.timeUnixMs());
            for (int j = 0; j < row.ids().size(); j++) {
                if (row.coded()[j]) {
                    out.addCodeDeltas(row.deltas()[j]);
                } else {
                    out.addValues(row.values()[j]);
                }
            }
            if (!row.ids().equals(previous)) {
                out.addAllSeriesIds(row.ids());
            }
            previous = row.ids();
            batch.addFrames(out);
        }
    }

    /**
     * Appends frames to a batch as SampleBlocks (a control plane that reads them), defining series new
     * to this scope: consecutive frames over the same series make one block, written series by series.
     * The codes are those {@link #append} would send, in another order: about half the bytes once
     * compressed, since a steady series becomes a run and each frame's framing and time are gone.
     */
    public static void appendBlocks(MetricsBatch.Builder batch, List<Frame> frames, Ids ids) {
        List<Row> run = new ArrayList<>();
        for (Frame frame : frames) {
            if (frame.values().isEmpty()) {
                continue;
            }
            Row row = row(frame, ids, batch);
            if (!run.isEmpty() && !row.ids().equals(run.get(0).ids())) {
                addBlock(batch, run, ids);
                run.clear();
            }
            run.add(row);
        }
        if (!run.isEmpty()) {
            addBlock(batch, run, ids);
        }
    }

    /** One block of frames over the same ids, counting from the scope's block before it. */
    private static void addBlock(MetricsBatch.Builder batch, List<Row> run, Ids ids) {
        List<Integer> blockIds = run.get(0).ids();
        SampleBlock.Builder block = SampleBlock.newBuilder();
        if (!blockIds.equals(ids.blockIds)) {
            block.addAllSeriesIds(blockIds);
        }
        long time = ids.blockTime;
        for (Row row : run) {
            block.addTimeDeltasMs(row.timeUnixMs() - time);
            time = row.timeUnixMs();
        }
        ids.blockIds = blockIds;
        ids.blockTime = time;
        boolean[] coded = run.get(0).coded(); // an id's coding is fixed: the same in every frame of the run
        for (int j = 0; j < blockIds.size(); j++) {
            for (Row row : run) {
                if (coded[j]) {
                    block.addCodeDeltas(row.deltas()[j]);
                } else {
                    block.addValues(row.values()[j]);
                }
            }
        }
        batch.addBlocks(block);
    }

    /** One frame in wire terms: its ids, and per id a double or a code delta (advancing the ids' code state). */
    private record Row(long timeUnixMs, List<Integer> ids, double[] values, long[] deltas, boolean[] coded) {}

    private static Row row(Frame frame, Ids ids, MetricsBatch.Builder batch) {
        int n = frame.values().size();
        Row row = new Row(frame.timeUnixMs(), new ArrayList<>(n), new double[n], new long[n], new boolean[n]);
        frame.values().forEach((series, value) -> {
            Defined d = ids.definedFor(series, value, batch);
            int j = row.ids().size();
            row.ids().add(d.id);
            if (d.coding == null) {
                row.values()[j] = value;
            } else {
                long code = ValueCodes.code(d.coding, value);
                row.deltas()[j] = code - d.last;
                row.coded()[j] = true;
                d.last = code;
            }
        });
        return row;
    }

    /** The ids of frame i of a batch (walking back to the last frame that lists them). */
    private static List<Integer> idsOf(MetricsBatch.Builder batch, int i) {
        for (int j = i; j >= 0; j--) {
            if (batch.getFrames(j).getSeriesIdsCount() > 0) {
                return batch.getFrames(j).getSeriesIdsList();
            }
        }
        return List.of();
    }


    /** The frames of a self-contained batch (its own definitions): a ring record. */
    public static List<Frame> frames(MetricsBatch batch) {
        return new Reader().frames(batch);
    }

    /** Reads the batches of one scope in order (a stream's codes carry over from batch to batch). */
    static final class Reader {
        private final Map<Integer, Series> defined = new HashMap<>();
        private final Map<Integer, ValueCoding> codings = new HashMap<>();
        private final Map<Integer, Long> last = new HashMap<>();
        private List<Integer> blockIds = List.of();
        private long blockTime;

        List<Frame> frames(MetricsBatch batch) {
            for (SeriesDefinition d : batch.getNewSeriesList()) {
                defined.put(d.getId(), new Series(d.getName(), new java.util.TreeMap<>(d.getLabelsMap()), d.getKind()));
                if (d.hasCoding()) {
                    codings.put(d.getId(), d.getCoding());
                }
            }
            if (batch.getBlocksCount() > 0) {
                return blocks(batch);
            }
            List<Frame> frames = new ArrayList<>();
            List<Integer> ids = List.of();
            for (SampleFrame f : batch.getFramesList()) {
                if (f.getSeriesIdsCount() > 0) {
                    ids = f.getSeriesIdsList();
                }
                if (ids.size() != f.getValuesCount() + f.getCodeDeltasCount()) {
                    throw new IllegalArgumentException("a frame has " + (f.getValuesCount() + f.getCodeDeltasCount()) + " values for "
                            + ids.size() + " series");
                }
                Map<Series, Double> values = new LinkedHashMap<>();
                int doubles = 0;
                int codes = 0;
                for (int id : ids) {
                    Series s = series(id);
                    ValueCoding coding = codings.get(id);
                    values.put(s, coding == null ? f.getValues(doubles++) : decoded(id, coding, f.getCodeDeltas(codes++)));
                }
                frames.add(new Frame(f.getTimeUnixMs(), values));
            }
            return frames;
        }

        private Series series(int id) {
            Series s = defined.get(id);
            if (s == null) {
                throw new IllegalArgumentException("series id " + id + " is not defined");
            }
            return s;
        }

        /** The value of {@code id}'s next code delta; its code moves on. */
        private double decoded(int id, ValueCoding coding, long delta) {
            long code = last.getOrDefault(id, 0L) + delta;
            last.put(id, code);
            return ValueCodes.value(coding, code);
        }

        private List<Frame> blocks(MetricsBatch batch) {
            List<Frame> frames = new ArrayList<>();
            for (SampleBlock b : batch.getBlocksList()) {
                if (b.getSeriesIdsCount() > 0) {
                    blockIds = b.getSeriesIdsList();
                }
                List<Integer> ids = blockIds;
                int n = b.getTimeDeltasMsCount();
                List<Map<Series, Double>> values = new ArrayList<>(n);
                long time = blockTime;
                long[] times = new long[n];
                for (int f = 0; f < n; f++) {
                    time += b.getTimeDeltasMs(f);
                    times[f] = time;
                    values.add(new LinkedHashMap<>());
                }
                blockTime = time;
                int doubles = 0;
                int codes = 0;
                for (int id : ids) {
                    Series s = series(id);
                    ValueCoding coding = codings.get(id);
                    for (int f = 0; f < n; f++) {
                        values.get(f).put(s, coding == null ? b.getValues(doubles++) : decoded(id, coding, b.getCodeDeltas(codes++)));
                    }
                }
                for (int f = 0; f < n; f++) {
                    frames.add(new Frame(times[f], values.get(f)));
                }
            }
            return frames;
        }
    }
}
