package dev.edgeplane.agent.journal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.Changes;
import dev.edgeplane.api.v1.ImagePullTask;
import dev.edgeplane.api.v1.Snapshot;
import dev.edgeplane.api.v1.VolumeSnapshotPolicyTask;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every kind of entry of the desired state survives incremental changes and a reopen of the journal. */
class DesiredStateStoreTest {
    @TempDir Path tmp;

    @Test
    void imagePullsAndSnapshotPoliciesSurviveChangesToOtherEntries() throws Exception {
        DesiredStateStore store = DesiredStateStore.open(new JournalStore(tmp.resolve("journal")));
        store.applySnapshot(Snapshot.newBuilder().setRevision(5)
                .addAssignments(Assignment.newBuilder().setNamespace("default").setReplica("prefetch.web")
                        .setImagePull(ImagePullTask.newBuilder().setName("web").addImages("busybox")))
                .addAssignments(Assignment.newBuilder().setNamespace("default").setReplica("snapshotpolicy.nightly")
                        .setVolumeSnapshotPolicy(VolumeSnapshotPolicyTask.newBuilder().setName("nightly").setSchedule("@daily")))
                .build());
        store.applyChanges(Changes.newBuilder().setRevision(6).addChanges(Change.newBuilder().setType(Change.Type.PUT)
                .setKey("default/web-0").setAssignment(Assignment.newBuilder().setNamespace("default").setReplica("web-0").setApp("web")))
                .build());
        DesiredState state = store.current();
        assertEquals(1, state.assignments().size());
        assertEquals(1, state.imagePulls().size(), "an image pull is kept through a change to another entry");
        assertEquals(1, state.snapshotPolicies().size(), "so is a snapshot policy");

        DesiredState reopened = DesiredStateStore.open(new JournalStore(tmp.resolve("journal"))).current();
        assertEquals(state.entries().size(), reopened.entries().size());
        assertEquals(1, reopened.snapshotPolicies().size());
    }
}
