package dev.edgeplane.cli;

import dev.edgeplane.api.v1.Event;
import dev.edgeplane.api.v1.EventFilter;
import dev.edgeplane.api.v1.ListEventsRequest;
import dev.edgeplane.api.v1.ListEventsResponse;
import dev.edgeplane.api.v1.WatchEventsRequest;
import dev.edgeplane.api.v1.WatchEventsResponse;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Predicate;

/** Events as operators read them: `edgectl get events` and the Events section of `describe`. */
final class EventsView {
    static final List<String> HEADER = List.of("LAST SEEN", "LEVEL", "REASON", "OBJECT", "COUNT", "MESSAGE");
    private static final int[] WATCH_WIDTHS = {9, 8, 18, 34, 6};

    private EventsView() {}

    /** "replica/web-0", "app/web", "node/edge-1", "volume/data" -> the API's kind and name. */
    record ForObject(String kind, String name) {
        static ForObject parse(String text) {
            int slash = text.indexOf('/');
            if (slash <= 0 || slash == text.length() - 1) {
                throw new UsageException("--for takes KIND/NAME, e.g. app/web, replica/web-0, node/edge-1 (got '" + text + "')");
            }
            String kind = switch (text.substring(0, slash).toLowerCase(Locale.ROOT)) {
                case "app", "apps" -> "App";
                case "replica", "replicas" -> "Replica";
                case "node", "nodes", "no" -> "Node";
                case "volume", "volumes" -> "Volume";
                case "volumesnapshot", "volumesnapshots" -> "VolumeSnapshot";
                default -> throw new UsageException("--for: unknown kind '" + text.substring(0, slash)
                        + "' (app, replica, node, volume, volumesnapshot)");
            };
            return new ForObject(kind, text.substring(slash + 1));
        }
    }

    /** Every event matching {@code filter} (all pages), newest first, then the caller's own test. */
    static List<Event> list(ApiClient api, EventFilter filter, Predicate<Event> keep) {
        List<Event> all = new ArrayList<>();
        String page = "";
        do {
            ListEventsResponse r = api.events().listEvents(ListEventsRequest.newBuilder().setFilter(filter).setPageToken(page).build());
            r.getEventsList().stream().filter(keep).forEach(all::add);
            page = r.getNextPageToken();
        } while (!page.isEmpty());
        return all;
    }

    /** An App's own events and those of its replicas (by the replica names in its status). */
    static Predicate<Event> ofApp(String app, Set<String> replicas) {
        return e -> (e.getInvolvedObject().getKind().equals("App") && e.getInvolvedObject().getName().equals(app))
                || (e.getInvolvedObject().getKind().equals("Replica") && replicas.contains(e.getInvolvedObject().getName()));
    }

    static List<String> row(Event e, Instant now) {
        var o = e.getInvolvedObject();
        return List.of(Durations.age(e.getLastTime(), now), level(e), e.getReason(),
                o.getKind().toLowerCase(Locale.ROOT) + "/" + o.getName(), Long.toString(e.getCount()),
                e.getMessage().replace('\n', ' '));
    }

    private static String level(Event e) {
        return switch (e.getLevel()) {
            case INFO -> "Info";
            case WARNING -> "Warning";
            case CRITICAL -> "Critical";
            default -> "-";
        };
    }

    static void table(PrintWriter out, List<Event> events, Instant now) {
        Output.table(out, HEADER, events.stream().map(e -> row(e, now)).toList());
    }

    /** Streams matching events until the server ends the stream or the operator interrupts. */
    static void watch(ApiClient api, EventFilter filter, Predicate<Event> keep, Output.Format format, PrintWriter out) {
        Iterator<WatchEventsResponse> stream = api.eventsWatch().watchEvents(WatchEventsRequest.newBuilder().setFilter(filter).build());
        if (format.isTable()) {
            out.println(fixed(HEADER));
            out.flush();
        }
        while (stream.hasNext()) {
            WatchEventsResponse change = stream.next();
            if (!keep.test(change.getEvent()) || change.getType() == WatchEventsResponse.Type.DELETED) {
                continue; // an expired event is not news
            }
            switch (format) {
                case table, wide -> out.println(fixed(row(change.getEvent(), Instant.now())));
                case json -> out.println(Output.json(change.getEvent()).replaceAll("\\s*\\n\\s*", " "));
                case yaml -> out.print("---\n" + Output.yaml(change.getEvent()));
            }
            out.flush();
        }
    }

    /** Fixed columns for a stream (a table's widths are unknown up front). */
    private static String fixed(List<String> cells) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < cells.size(); i++) {
            String cell = cells.get(i);
            sb.append(cell);
            if (i < WATCH_WIDTHS.length) {
                sb.append(" ".repeat(Math.max(1, WATCH_WIDTHS[i] - cell.length() + 1)));
            }
        }
        return sb.toString().stripTrailing();
    }
}
