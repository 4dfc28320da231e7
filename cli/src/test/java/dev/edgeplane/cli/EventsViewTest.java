package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.Event;
import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.ObjectReference;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class EventsViewTest {
    private static final Instant NOW = Instant.parse("2026-01-01T12:00:00Z");

    private static Event event(String kind, String name, String reason) {
        return Event.newBuilder().setLevel(EventLevel.WARNING).setReason(reason).setCount(7).setMessage("back-off 40s\nmore")
                .setInvolvedObject(ObjectReference.newBuilder().setKind(kind).setNamespace("default").setName(name))
                .setLastTime(Timestamp.newBuilder().setSeconds(NOW.minusSeconds(90).getEpochSecond())).build();
    }

    @Test
    void forTakesKindSlashNameInTheWordsOperatorsType() {
        assertEquals(new EventsView.ForObject("App", "web"), EventsView.ForObject.parse("app/web"));
        assertEquals(new EventsView.ForObject("Replica", "web-0"), EventsView.ForObject.parse("replica/web-0"));
        assertEquals(new EventsView.ForObject("Node", "edge-1"), EventsView.ForObject.parse("no/edge-1"));
        assertThrows(UsageException.class, () -> EventsView.ForObject.parse("web"));
        assertThrows(UsageException.class, () -> EventsView.ForObject.parse("pod/web-0"));
    }

    @Test
    void aRowIsAgeLevelReasonObjectCountAndOneLineMessage() {
        assertEquals(List.of("1m", "Warning", "BackOff", "replica/web-0", "7", "back-off 40s more"),
                EventsView.row(event("Replica", "web-0", "BackOff"), NOW));
    }

    @Test
    void anAppsEventsAreItsOwnAndItsReplicas() {
        var ofWeb = EventsView.ofApp("web", Set.of("web-0", "web-1"));
        assertTrue(ofWeb.test(event("App", "web", "Scaled")));
        assertTrue(ofWeb.test(event("Replica", "web-1", "BackOff")));
        assertFalse(ofWeb.test(event("Replica", "web-x-0", "BackOff")));
        assertFalse(ofWeb.test(event("App", "web-x", "Scaled")));
    }
}
