package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Event;
import dev.edgeplane.api.v1.EventFilter;
import dev.edgeplane.api.v1.ListEventsRequest;
import dev.edgeplane.testkit.Commands;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Events through the real agent, control plane, etcd and containerd: a crash loop is ONE record per
 * reason whose count grows, edgectl shows it, and what happened while the control plane was down
 * (across an agent restart, from the agent's on-disk spool) arrives after it is back.
 */
class EventsE2ETest {
    static final Duration CONVERGE = EdgeCluster.CONVERGE;
    static final String NODE = "edge-events";

    @TempDir static Path dir;
    static EdgeCluster cluster;

    @BeforeAll
    static void startEverything() throws Exception {
        cluster = EdgeCluster.start(dir, EdgeCluster.FAST_FAULTS, EdgeCluster.FAST_AGENT, NODE);
    }

    @AfterAll
    static void stopEverything() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    /** The app's replica records with {@code reason}, from the control plane. */
    static List<Event> events(String app, String reason) {
        return cluster.cloud.events().listEvents(ListEventsRequest.newBuilder().setFilter(EventFilter.newBuilder()
                        .setNamespace("default").setKind("Replica").setReason(reason)).build())
                .getEventsList().stream().filter(e -> e.getInvolvedObject().getName().startsWith(app + "-")).toList();
    }

    static long count(String app, String reason) {
        List<Event> found = events(app, reason);
        assertTrue(found.size() <= 1, "one record per replica and reason, not one per occurrence: " + found);
        return found.isEmpty() ? 0 : found.get(0).getCount();
    }

    static String edgectl(String... args) {
        List<String> cmd = new ArrayList<>(Binaries.edgectl());
        cmd.addAll(List.of("--insecure", "--server", cluster.cloud.apiAddress(), "--token-file", cluster.cloud.adminTokenFile().toString()));
        cmd.addAll(List.of(args));
        Commands.Result r = Commands.exec(cmd, Map.of(), Duration.ofSeconds(120));
        assertEquals(0, r.exitCode(), String.join(" ", args) + ": " + r.output());
        return r.output();
    }

    @Test
    void aCrashLoopIsOneBackOffAndOneExitedRecordWhoseCountGrows() {
        cluster.create(cluster.app("crashy", 1, "sh", "-c", "exit 1"));
        Await.until("BackOff and Exited of crashy counted 3 times or more", CONVERGE, cluster::diagnostics,
                () -> count("crashy", "BackOff") >= 3 && count("crashy", "Exited") >= 3);
        Event backOff = events("crashy", "BackOff").get(0);
        assertEquals(1, events("crashy", "BackOff").size(), "a single BackOff record");
        assertEquals(1, events("crashy", "Exited").size(), "a single Exited record");
        assertEquals(NODE, backOff.getNode());
        assertEquals("agent", backOff.getSource());
        assertTrue(backOff.getMessage().contains("exit code 1"), backOff.getMessage());
        assertTrue(events("crashy", "Exited").get(0).getMessage().contains("exited with code 1"));
        long seen = backOff.getCount();
        Await.until("the same record keeps counting", CONVERGE, cluster::diagnostics, () -> count("crashy", "BackOff") > seen);

        String table = edgectl("get", "events", "--for", "app/crashy");
        assertTrue(table.lines().findFirst().orElse("").matches("LAST SEEN\\s+LEVEL\\s+REASON\\s+OBJECT\\s+COUNT\\s+MESSAGE"), table);
        assertTrue(table.lines().anyMatch(l -> l.contains("Warning") && l.contains("BackOff") && l.contains("replica/crashy-0")), table);
        assertEquals(1, table.lines().filter(l -> l.contains("BackOff")).count(), table);
        assertTrue(table.contains("Scheduled"), "the control plane's own events too: " + table);
        String described = edgectl("describe", "app", "crashy");
        assertTrue(described.contains("Events:") && described.contains("BackOff"), described);
        String ofNode = edgectl("get", "events", "--node", NODE);
        assertTrue(ofNode.contains("NodeJoined") && ofNode.contains("NodeReady"), ofNode);
        cluster.delete("crashy");
    }

    @Test
    void eventsRecordedWhileTheControlPlaneIsDownArriveAfterItComesBack() throws Exception {
        cluster.create(cluster.app("flaky", 1, "sh", "-c", "sleep 2; exit 7"));
        Await.until("flaky's first exit reported", CONVERGE, cluster::diagnostics, () -> count("flaky", "Exited") >= 1);
        long before = count("flaky", "Exited");

        cluster.killCloud();
        Instant down = Instant.now();
        String restarted = "restarting container main \\(exit code 7";
        long restartsBefore = cluster.agentLogCount(restarted);
        Await.until("two more exits while the control plane is down", CONVERGE, cluster::diagnostics,
                () -> cluster.agentLogCount(restarted) >= restartsBefore + 2);
        // The agent restarts too, still offline: what it buffered is on disk.
        cluster.host.stopAgent();
        assertTrue(Files.size(cluster.host.stateDir().resolve("events/events.bin")) > 0);
        long restartsBeforeAgent = cluster.agentLogCount(restarted);
        cluster.host.start();
        Await.until("another exit after the agent restart, still offline", CONVERGE, cluster::diagnostics,
                () -> cluster.agentLogCount(restarted) >= restartsBeforeAgent + 1);

        cluster.startCloud();
        Await.until("the offline exits counted into the same record", CONVERGE, cluster::diagnostics,
                () -> count("flaky", "Exited") >= before + 3);
        Event exited = events("flaky", "Exited").get(0);
        assertTrue(Instant.ofEpochSecond(exited.getLastTime().getSeconds()).isAfter(down.minusSeconds(1)),
                "last seen while the control plane was down or after: " + exited);
        cluster.delete("flaky");
    }
}
