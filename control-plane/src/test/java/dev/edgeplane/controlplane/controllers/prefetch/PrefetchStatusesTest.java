package dev.edgeplane.controlplane.controllers.prefetch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.ImagePrefetch;
import dev.edgeplane.api.v1.ImagePrefetchSpec;
import dev.edgeplane.api.v1.ImagePrefetchStatus;
import dev.edgeplane.api.v1.ImagePullReport;
import dev.edgeplane.api.v1.NodeImagePrefetchStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The status arithmetic, pure: folding, what may follow what, the deadline, the bound on messages. */
class PrefetchStatusesTest {
    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
    private static final Duration DEADLINE = Duration.ofSeconds(600);

    private static ImagePrefetch prefetch(List<String> nodes) {
        return ImagePrefetch.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("p").setNamespace("ns").setUid("u1"))
                .setSpec(ImagePrefetchSpec.newBuilder().addImages("a:1").addImages("b:1"))
                .setStatus(PrefetchStatuses.settle(PrefetchStatuses.initial(nodes, T0), true, DEADLINE, T0)).build();
    }

    private static ImagePullReport report(ImagePullReport.State state, int done) {
        return ImagePullReport.newBuilder().setNamespace("ns").setName("p").setUid("u1").setState(state).setImagesDone(done)
                .setImagesTotal(2).setMessage(state == ImagePullReport.State.FAILED ? "registry refused" : "").build();
    }

    private static ImagePrefetch fold(ImagePrefetch p, Map<String, ImagePullReport> reports, Instant now) {
        return p.toBuilder().setStatus(PrefetchStatuses.settle(PrefetchStatuses.withReports(p, reports, now), true, DEADLINE, now)).build();
    }

    private static NodeImagePrefetchStatus.Phase phase(ImagePrefetch p, String node) {
        return PrefetchStatuses.node(p.getStatus(), node).orElseThrow().getPhase();
    }

    @Test
    void doneStaysDoneAndANodesOwnFailureGivesWayToANewerReport() {
        ImagePrefetch p = prefetch(List.of("b", "a"));
        assertEquals(List.of("a", "b"), p.getStatus().getNodesList().stream().map(NodeImagePrefetchStatus::getNode).toList());
        assertEquals(ImagePrefetchStatus.Phase.PULLING, p.getStatus().getPhase());
        p = fold(p, Map.of("a", report(ImagePullReport.State.DONE, 2), "b", report(ImagePullReport.State.FAILED, 1)), T0.plusSeconds(5));
        assertEquals(1, p.getStatus().getNodesDone());
        assertEquals(1, p.getStatus().getNodesFailed());
        assertEquals(ImagePrefetchStatus.Phase.FAILED, p.getStatus().getPhase(), "every node finished, one failed");
        assertTrue(p.getStatus().getMessage().contains("b: registry refused"), p.getStatus().getMessage());

        ImagePrefetch open = prefetch(List.of("a", "b", "c"));
        open = fold(open, Map.of("a", report(ImagePullReport.State.DONE, 2), "b", report(ImagePullReport.State.FAILED, 1)), T0.plusSeconds(5));
        assertEquals(ImagePrefetchStatus.Phase.PULLING, open.getStatus().getPhase(), "c has not finished");
        open = fold(open, Map.of("a", report(ImagePullReport.State.PULLING, 0), "b", report(ImagePullReport.State.DONE, 2)),
                T0.plusSeconds(6));
        assertEquals(NodeImagePrefetchStatus.Phase.DONE, phase(open, "a"), "a DONE is not undone by a re-check");
        assertEquals(NodeImagePrefetchStatus.Phase.DONE, phase(open, "b"), "b succeeded after its entry changed");
        open = fold(open, Map.of("c", report(ImagePullReport.State.DONE, 2)), T0.plusSeconds(7));
        assertEquals(ImagePrefetchStatus.Phase.COMPLETE, open.getStatus().getPhase());
        assertEquals(T0.plusSeconds(7).getEpochSecond(), open.getStatus().getCompletionTime().getSeconds());
        ImagePrefetch after = fold(open, Map.of("c", report(ImagePullReport.State.FAILED, 0)), T0.plusSeconds(8));
        assertEquals(open.getStatus(), after.getStatus(), "a finished prefetch is final");
        assertEquals(after.getStatus(), PrefetchStatuses.settle(after.getStatus(), true, DEADLINE, T0.plusSeconds(9)), "settling is idempotent");
    }

    @Test
    void theDeadlineFailsSilentAndSlowNodesAndMessagesAreBounded() {
        List<String> nodes = IntStream.range(0, 300).mapToObj(i -> String.format("n%03d", i)).toList();
        ImagePrefetch p = prefetch(nodes);
        p = fold(p, Map.of("n000", report(ImagePullReport.State.PULLING, 1)), T0.plusSeconds(1));
        ImagePrefetchStatus late = PrefetchStatuses.settle(p.getStatus(), true, DEADLINE, T0.plus(DEADLINE));
        assertEquals(ImagePrefetchStatus.Phase.FAILED, late.getPhase());
        assertEquals(300, late.getNodesFailed());
        assertTrue(late.getNodes(0).getMessage().startsWith("still pulling at the deadline"), late.getNodes(0).getMessage());
        assertTrue(late.getNodes(1).getMessage().startsWith("not heard from within the deadline"), late.getNodes(1).getMessage());
        assertEquals(PrefetchStatuses.MAX_NODE_MESSAGES, late.getNodesList().stream().filter(n -> !n.getMessage().isEmpty()).count());
        assertTrue(late.getMessage().contains("messages of 200 more nodes left out"), late.getMessage());
        ImagePrefetchStatus early = PrefetchStatuses.settle(p.getStatus(), true, DEADLINE, T0.plus(DEADLINE).minusMillis(1));
        assertEquals(ImagePrefetchStatus.Phase.PULLING, early.getPhase());
    }
}
