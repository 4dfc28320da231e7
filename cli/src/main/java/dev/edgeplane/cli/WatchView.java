package dev.edgeplane.cli;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppEvent;
import dev.edgeplane.api.v1.WatchAppsRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * get -w: apps from WatchApps as they change; other kinds by listing again every interval and printing
 * the rows that are new or changed. Ends cleanly when interrupted (Ctrl-C ends the JVM itself).
 */
final class WatchView {
    static final Duration MIN_INTERVAL = Duration.ofSeconds(1);
    static final Duration MAX_INTERVAL = Duration.ofMinutes(5);
    /** Columns that move with the clock alone: a row differing only there has not changed. */
    static final Set<String> CLOCK_COLUMNS = Set.of("AGE", "HEARTBEAT", "LAST");

    private WatchView() {}

    static Duration interval(String text) {
        Duration d = Durations.parse(text);
        if (d.compareTo(MIN_INTERVAL) < 0 || d.compareTo(MAX_INTERVAL) > 0) {
            throw new UsageException("--watch-interval must be from 1s to 5m, not " + text);
        }
        return d;
    }

    /** The table once, then every interval its new and changed rows (a JSON or YAML document: all of it, when it changed). */
    static int poll(PrintWriter out, Output.Format format, Duration interval, BiConsumer<PrintWriter, Instant> render) {
        Set<String> shown = null;
        String lastDocument = null;
        try {
            while (true) {
                StringWriter buffer = new StringWriter();
                render.accept(new PrintWriter(buffer), Instant.now());
                if (format.isTable()) {
                    shown = printChangedRows(out, buffer.toString(), shown);
                } else if (!buffer.toString().equals(lastDocument)) {
                    lastDocument = buffer.toString();
                    out.print(lastDocument);
                }
                out.flush();
                Thread.sleep(interval.toMillis());
            }
        } catch (InterruptedException e) {
            // The interrupt is how a watch ends, consumed here so the channel's close still waits for it.
            return 0;
        }
    }

    /** Prints the rows of table whose clock-free form is not among shown (all, and the header, when shown is null). */
    static Set<String> printChangedRows(PrintWriter out, String table, Set<String> shown) {
        List<String> lines = table.lines().toList();
        if (lines.isEmpty()) {
            return shown == null ? Set.of() : shown;
        }
        if (shown == null) {
            out.println(lines.get(0));
        }
        List<int[]> clock = clockColumns(lines.get(0));
        Set<String> now = new HashSet<>();
        for (String row : lines.subList(1, lines.size())) {
            String key = withoutClock(row, clock);
            now.add(key);
            if (shown == null || !shown.contains(key)) {
                out.println(row);
            }
        }
        return now;
    }

    /** [start, end) of each clock column in an aligned table, from where its header's cells start. */
    static List<int[]> clockColumns(String header) {
        List<int[]> starts = new ArrayList<>();
        List<String> names = new ArrayList<>();
        int i = 0;
        while (i < header.length()) {
            int start = i;
            // a header name may hold single spaces; columns are apart by three
            int end = header.indexOf("   ", start);
            end = end < 0 ? header.length() : end;
            names.add(header.substring(start, end));
            starts.add(new int[] {start});
            i = end;
            while (i < header.length() && header.charAt(i) == ' ') {
                i++;
            }
        }
        List<int[]> clock = new ArrayList<>();
        for (int c = 0; c < names.size(); c++) {
            if (CLOCK_COLUMNS.contains(names.get(c))) {
                clock.add(new int[] {starts.get(c)[0], c + 1 < starts.size() ? starts.get(c + 1)[0] : Integer.MAX_VALUE});
            }
        }
        return clock;
    }

    private static String withoutClock(String row, List<int[]> clock) {
        StringBuilder sb = new StringBuilder(row);
        for (int k = clock.size() - 1; k >= 0; k--) {
            int start = Math.min(clock.get(k)[0], sb.length());
            int end = Math.min(clock.get(k)[1], sb.length());
            sb.replace(start, end, "~   ");
        }
        // the cells, not the padding: a wider row elsewhere moves every column
        return sb.toString().strip().replaceAll(" {3,}", "\t");
    }

    /** WatchApps: its current apps, then each change as it comes, one row per event (EVENT first). */
    static int apps(ApiClient api, PrintWriter out, String namespace, String name, Output.Format format) {
        Iterator<AppEvent> stream = api.appsWatch().watchApps(WatchAppsRequest.newBuilder()
                .setNamespace(namespace == null ? (name == null ? "" : "default") : namespace).build());
        boolean wide = format == Output.Format.wide;
        List<String> header = new ArrayList<>(List.of("EVENT"));
        header.addAll(AppRows.header(wide, List.of()));
        if (format.isTable()) {
            out.println(fixed(header));
            out.flush();
        }
        try {
            while (stream.hasNext()) {
                AppEvent event = stream.next();
                App app = event.getApp();
                if (name != null && !name.equals(app.getMetadata().getName())) {
                    continue;
                }
                switch (format) {
                    case table, wide -> {
                        List<String> row = new ArrayList<>(List.of(event.getType().name()));
                        row.addAll(AppRows.row(app, wide, List.of(app), Instant.now()));
                        out.println(fixed(row));
                    }
                    case json -> out.println(Output.json(event).replaceAll("\\s*\\n\\s*", " "));
                    case yaml -> out.print("---\n" + Output.yaml(event));
                }
                out.flush();
            }
        } catch (StatusRuntimeException e) {
            // gRPC cancels a blocking call whose thread is interrupted: that is how a watch ends. The flag
            // it set again is consumed so the channel's close still waits for it.
            if (e.getStatus().getCode() == Status.Code.CANCELLED && (Thread.interrupted() || e.getCause() instanceof InterruptedException)) {
                return 0;
            }
            throw e;
        }
        return 0;
    }

    /** Fixed columns for a stream: a table's widths are unknown up front. */
    static String fixed(List<String> cells) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < cells.size(); i++) {
            String cell = cells.get(i);
            sb.append(cell);
            int width = i <= 2 ? 20 : 10;
            sb.append(" ".repeat(Math.max(3, width - cell.length())));
        }
        return sb.toString().stripTrailing();
    }
}
