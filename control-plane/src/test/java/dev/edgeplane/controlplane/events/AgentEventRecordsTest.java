package dev.edgeplane.controlplane.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.edgeplane.api.v1.AgentEventRecord;
import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.EventReport;
import dev.edgeplane.api.v1.ObjectReference;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** How an agent's records become occurrences, and how occurrences fold: no etcd involved. */
class AgentEventRecordsTest {
    private static final Instant NOW = Instant.parse("2026-01-01T12:00:00Z");

    private static AgentEventRecord.Builder record(String kind, String namespace, String name, String reason) {
        return AgentEventRecord.newBuilder().setReason(reason).setMessage("m").setCount(2)
                .setInvolvedObject(ObjectReference.newBuilder().setKind(kind).setNamespace(namespace).setName(name));
    }

    @Test
    void recordsAreCheckedNormalisedAndTheNodeComesFromTheCaller() {
        EventReport report = EventReport.newBuilder().setSequence(7).setDropped(5)
                .addEvents(record("Replica", "", "web-0", "BackOff").setLevel(EventLevel.WARNING))
                .addEvents(record("Node", "", "not-me", "JournalCorrupt"))
                .addEvents(record("Pod", "default", "x", "Started"))            // unknown kind: ignored
                .addEvents(record("Replica", "default", "Bad/Name", "Started")) // not a DNS label: ignored
                .addEvents(record("Replica", "default", "web-0", "not camel!"))  // bad reason: ignored
                .build();
        List<Occurrence> out = AgentEventReports.occurrences("edge-1", report, NOW, (node, object) -> true);
        assertEquals(List.of("BackOff", "JournalCorrupt", "EventsDropped"), out.stream().map(Occurrence::reason).toList());
        Occurrence backOff = out.get(0);
        assertEquals("default", backOff.namespace(), "namespaced kinds default to \"default\"");
        assertEquals("edge-1", backOff.node());
        assertEquals("agent", backOff.source());
        assertEquals(2, backOff.count());
        assertEquals(NOW, backOff.last(), "no times given: now");
        assertEquals("edge-1", out.get(1).object().getName(), "an agent speaks only for its own node");
        assertEquals(EventLevel.INFO, out.get(1).level(), "unspecified level: Info");
        assertEquals(5, out.get(2).count());
        assertEquals(EventLevel.WARNING, out.get(2).level());
    }

    @Test
    void aNodeSpeaksOnlyAboutObjectsBoundToItTheRestIsOneRefusalCount() {
        EventReport report = EventReport.newBuilder().setSequence(1)
                .addEvents(record("Replica", "default", "mine-0", "Started"))
                .addEvents(record("Replica", "default", "theirs-0", "Killing").setLevel(EventLevel.WARNING))
                .addEvents(record("App", "shop", "payments", "Failed"))
                .build();
        List<Occurrence> out = AgentEventReports.occurrences("edge-1", report, NOW,
                (node, object) -> node.equals("edge-1") && object.getName().equals("mine-0"));
        assertEquals(List.of("Started", "EventsRefused"), out.stream().map(Occurrence::reason).toList());
        assertEquals(2, out.get(1).count(), "the two about others' objects, counted on the node");
        assertEquals("edge-1", out.get(1).object().getName());
    }

    @Test
    void nodeObjectsAreWhatTheNodesAssignmentsBindToItAndOutliveTheirRemoval() {
        NodeObjects objects = new NodeObjects(null);
        objects.remember(dev.edgeplane.api.v1.Assignment.newBuilder().setNode("edge-1").setNamespace("shop").setApp("web")
                .setReplica("web-0").putVolumes("data", dev.edgeplane.api.v1.VolumeClaim.newBuilder().setName("data").build()).build());
        assertEquals(true, objects.owns("edge-1", EventRecorder.replica("shop", "web-0")));
        assertEquals(true, objects.owns("edge-1", EventRecorder.app("shop", "web")));
        assertEquals(true, objects.owns("edge-1", EventRecorder.volume("shop", "data")));
        assertEquals(false, objects.owns("edge-2", EventRecorder.replica("shop", "web-0")), "another node's replica");
        assertEquals(false, objects.owns("edge-1", EventRecorder.replica("default", "web-0")), "same name, another namespace");
        assertEquals(true, objects.owns("edge-1", EventRecorder.node("edge-1")));
        assertEquals(false, objects.owns("edge-1", EventRecorder.node("edge-2")));
    }

    @Test
    void aNodeHasABudgetOfDistinctRecordsRepeatsFoldAndOldOnesAgeOut() {
        AgentEventReports reports = new AgentEventReports(null, null, new DistinctRecordBudget(2, java.time.Duration.ofMinutes(10)));
        java.util.function.Function<String, Occurrence> about = reason -> Occurrence.of(EventLevel.WARNING,
                EventRecorder.replica("default", "web-0"), reason, "m", "edge-1", AgentEventReports.SOURCE, NOW);
        List<Occurrence> first = reports.withinBudget("edge-1", List.of(about.apply("A"), about.apply("B"), about.apply("C")), NOW);
        assertEquals(List.of("A", "B", "EventsRefused"), first.stream().map(Occurrence::reason).toList(),
                "two distinct records alive at most; the third is counted, not stored");
        assertEquals(List.of("A"), reports.withinBudget("edge-1", List.of(about.apply("A")), NOW.plusSeconds(60)).stream()
                .map(Occurrence::reason).toList(), "a repeat of a record it has always passes");
        assertEquals(List.of("C"), reports.withinBudget("edge-2", List.of(about.apply("C")), NOW).stream().map(Occurrence::reason).toList(),
                "another node has its own budget");
        assertEquals(List.of("C"), reports.withinBudget("edge-1", List.of(about.apply("C")), NOW.plusSeconds(601)).stream()
                .map(Occurrence::reason).toList(), "B aged out (A was repeated later, B was not)");
    }

    @Test
    void repeatsShareANameAndFoldWithTheLatestMessage() {
        ObjectReference web = EventRecorder.replica("default", "web-0");
        Occurrence first = new Occurrence(EventLevel.WARNING, web, "BackOff", "back-off 10s", "edge-1", "agent",
                NOW, NOW.plusSeconds(5), 2);
        Occurrence later = new Occurrence(EventLevel.WARNING, web, "BackOff", "back-off 20s", "edge-1", "agent",
                NOW.plusSeconds(10), NOW.plusSeconds(20), 3);
        assertEquals(first.name(), later.name());
        assertEquals(true, first.name().startsWith("web-0."));
        assertNotEquals(first.name(), Occurrence.of(EventLevel.WARNING, web, "BackOff", "x", "edge-2", "agent", NOW).name(),
                "another node: another record");
        assertNotEquals(first.name(), Occurrence.of(EventLevel.INFO, web, "Started", "x", "edge-1", "agent", NOW).name());
        Occurrence folded = first.plus(later);
        assertEquals(5, folded.count());
        assertEquals("back-off 20s", folded.message());
        assertEquals(NOW, folded.first());
        assertEquals(NOW.plusSeconds(20), folded.last());
        // Out of order (an older occurrence arrives late): counted, but the newer message stays.
        Occurrence late = later.plus(first);
        assertEquals("back-off 20s", late.message());
        assertEquals(NOW, late.first());
    }

}
