package dev.edgeplane.cli;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.LabelMatcher;
import dev.edgeplane.api.v1.QueryMetricsRequest;
import dev.edgeplane.api.v1.QueryMetricsResponse;
import dev.edgeplane.api.v1.Series;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/** Shared by `edgectl top` and `edgectl metrics`: matchers from the command line, number formats, queries. */
final class MetricsView {
    private MetricsView() {}

    /** "k=v", "k!=v", "k=~regex", "k!~regex" (the first operator in the text wins). */
    static LabelMatcher matcher(String text) {
        for (int i = 1; i < text.length(); i++) {
            LabelMatcher.Op op = null;
            int width = 2;
            if (text.startsWith("!=", i)) {
                op = LabelMatcher.Op.NOT_EQUAL;
            } else if (text.startsWith("!~", i)) {
                op = LabelMatcher.Op.NOT_REGEX;
            } else if (text.startsWith("=~", i)) {
                op = LabelMatcher.Op.REGEX;
            } else if (text.charAt(i) == '=') {
                op = LabelMatcher.Op.EQUAL;
                width = 1;
            }
            if (op != null) {
                return LabelMatcher.newBuilder().setName(text.substring(0, i)).setOp(op).setValue(text.substring(i + width)).build();
            }
        }
        throw new UsageException("not a label matcher: '" + text + "' (examples: node=edge-1, app!=web, node=~edge-.*, container!~sidecar)");
    }

    static Timestamp timestamp(Instant t) {
        return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
    }

    /** The newest value of each series of the given names over the last few minutes (raw points). */
    static QueryMetricsResponse latest(ApiClient api, List<String> names, List<LabelMatcher> matchers, Instant now) {
        return api.metrics().queryMetrics(QueryMetricsRequest.newBuilder().addAllNames(names).addAllMatchers(matchers)
                .setStart(timestamp(now.minusSeconds(300))).setEnd(timestamp(now)).setMaxSeries(100_000).build());
    }

    static double last(Series s) {
        return s.getPointsCount() == 0 ? Double.NaN : s.getPoints(s.getPointsCount() - 1).getValue();
    }

    /** "250m" (millicores) or "1.50" cores. */
    static String cores(double cores) {
        if (Double.isNaN(cores)) {
            return "<unknown>";
        }
        return cores < 1 ? Math.round(cores * 1000) + "m" : String.format(Locale.ROOT, "%.2f", cores);
    }

    /** 1024-based, as kubectl top: "512Mi", "3.2Gi". */
    static String bytes(double bytes) {
        if (Double.isNaN(bytes)) {
            return "<unknown>";
        }
        String[] units = {"", "Ki", "Mi", "Gi", "Ti", "Pi"};
        int u = 0;
        double v = bytes;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return (v >= 100 || u == 0 ? String.valueOf(Math.round(v)) : String.format(Locale.ROOT, "%.1f", v)) + units[u];
    }

    static String percent(double part, double whole) {
        return Double.isNaN(part) || Double.isNaN(whole) || whole <= 0 ? "<unknown>" : Math.round(100 * part / whole) + "%";
    }

    /** Up to 6 significant digits, no exponent for everyday magnitudes. */
    static String number(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return String.valueOf((long) v);
        }
        String s = String.format(Locale.ROOT, "%.6g", v);
        if (s.contains(".") && !s.contains("e")) {
            s = s.replaceAll("0+$", "").replaceAll("\\.$", "");
        }
        return s;
    }

    /** name{a="1",b="2"}, labels sorted. */
    static String describe(Series s) {
        StringBuilder b = new StringBuilder(s.getName()).append('{');
        Map<String, String> labels = new TreeMap<>(s.getLabelsMap());
        boolean first = true;
        for (Map.Entry<String, String> l : labels.entrySet()) {
            b.append(first ? "" : ",").append(l.getKey()).append("=\"").append(l.getValue()).append('"');
            first = false;
        }
        return b.append('}').toString();
    }
}
