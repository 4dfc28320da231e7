package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppStatus;
import dev.edgeplane.api.v1.RolloutStatus;
import org.junit.jupiter.api.Test;

class RolloutCommandTest {
    @Test
    void theProgressLineShowsTheBarTheCountsAndTheBatch() {
        App app = App.newBuilder().setStatus(AppStatus.newBuilder().setDesiredReplicas(4).setUpdatedReplicas(2).setReadyReplicas(3)
                .setAvailableReplicas(3).setRollout(RolloutStatus.newBuilder().setRevision(3).setPhase(RolloutStatus.Phase.PROGRESSING)
                        .setBatch(2).setBatchesTotal(3).setNodesReleased(3).setNodesTotal(4).setFailed(1))).build();
        assertEquals("revision 3 PROGRESSING [###############...............] 2/4 updated, 3 ready, 3 available; "
                + "batch 2/3 (3/4 nodes); 1 failed, 0 timed out", RolloutCommand.describe(app));
    }
}
