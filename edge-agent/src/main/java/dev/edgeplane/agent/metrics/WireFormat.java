package dev.edgeplane.agent.metrics;

import dev.edgeplane.api.v1.MetricsBatch;
import dev.edgeplane.api.v1.SampleFrame;
import dev.edgeplane.api.v1.SeriesDefinition;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Frames to MetricsBatch and back. Series get small integer ids, defined once per scope (a
 * ReportMetrics stream, or one ring record); a frame whose series are those of the frame before it
 * in the batch sends no ids at all, only values.
 */
public final class WireFormat {
    /** Series ids of one scope: a stream's, or a ring record's. */
    public static final class Ids {
        private final Map<Series, Integer> ids = new HashMap<>();

        int idOf(Series series, MetricsBatch.Builder batch) {
            Integer id = ids.get(series);
            if (id == null) {
                id = ids.size() + 1;
                ids.put(series, id);
                batch.addNewSeries(SeriesDefinition.newBuilder().setId(id).setName(series.name())
                        .putAllLabels(series.labels()).setKind(series.kind()));
            }
            return id;
        }

        public int size() {
            return ids.size();
        }
    }

    private WireFormat() {}

    /** Appends frames to a batch, defining series new to this scope. */
    public static void append(MetricsBatch.Builder batch, List<Frame> frames, Ids ids) {
        List<Integer> previous = batch.getFramesCount() == 0 ? null : idsOf(batch, batch.getFramesCount() - 1);
        for (Frame frame : frames) {
            if (frame.values().isEmpty()) {
                continue; // an empty id list means "as before": an empty frame cannot be said, and says nothing
            }
            List<Integer> frameIds = new ArrayList<>(frame.values().size());
            SampleFrame.Builder out = SampleFrame.newBuilder().setTimeUnixMs(frame.timeUnixMs());
            frame.values().forEach((series, value) -> {
                frameIds.add(ids.idOf(series, batch));
                out.addValues(value);
            });
            if (!frameIds.equals(previous)) {
                out.addAllSeriesIds(frameIds);
            }
            previous = frameIds;
            batch.addFrames(out);
        }
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

    /** The frames of a self-contained batch (its own definitions). */
    public static List<Frame> frames(MetricsBatch batch) {
        Map<Integer, Series> defined = new HashMap<>();
        for (SeriesDefinition d : batch.getNewSeriesList()) {
            defined.put(d.getId(), new Series(d.getName(), new java.util.TreeMap<>(d.getLabelsMap()), d.getKind()));
        }
        List<Frame> frames = new ArrayList<>();
        List<Integer> ids = List.of();
        for (SampleFrame f : batch.getFramesList()) {
            if (f.getSeriesIdsCount() > 0) {
                ids = f.getSeriesIdsList();
            }
            if (ids.size() != f.getValuesCount()) {
                throw new IllegalArgumentException("a frame has " + f.getValuesCount() + " values for " + ids.size() + " series");
            }
            Map<Series, Double> values = new LinkedHashMap<>();
            for (int i = 0; i < ids.size(); i++) {
                Series s = defined.get(ids.get(i));
                if (s == null) {
                    throw new IllegalArgumentException("series id " + ids.get(i) + " is not defined");
                }
                values.put(s, f.getValues(i));
            }
            frames.add(new Frame(f.getTimeUnixMs(), values));
        }
        return frames;
    }
}
