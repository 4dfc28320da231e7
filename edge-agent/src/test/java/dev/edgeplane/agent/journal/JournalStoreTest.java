package dev.edgeplane.agent.journal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.Changes;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.Snapshot;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JournalStoreTest {
    @TempDir
    Path dir;

    static Assignment assignment(String replica, String image) {
        return Assignment.newBuilder().setNode("n1").setNamespace("default").setApp("web").setReplica(replica)
                .setTemplate(PodTemplate.newBuilder().addContainers(Container.newBuilder().setName("c").setImage(image)))
                .build();
    }

    @Test
    void writesDurablyAndReadsBack() throws Exception {
        JournalStore store = new JournalStore(dir);
        DesiredStateStore desired = DesiredStateStore.open(store);
        assertFalse(desired.current().complete(), "no journal: the desired state is unknown, not empty");
        assertEquals(0, desired.helloRevision());

        desired.applySnapshot(Snapshot.newBuilder().setRevision(7)
                .addAssignments(assignment("web-0", "a:1")).addAssignments(assignment("web-1", "a:1")).build());
        desired.applyChanges(Changes.newBuilder().setRevision(9)
                .addChanges(Change.newBuilder().setType(Change.Type.PUT).setKey("default/web-2").setAssignment(assignment("web-2", "a:2")))
                .addChanges(Change.newBuilder().setType(Change.Type.DELETE).setKey("default/web-0"))
                .build());
        desired.recordPods(List.of(ReplicaStatus.newBuilder().setNamespace("default").setName("web-1")
                .setPhase(ReplicaStatus.Phase.RUNNING).setRestartCount(2).build()));

        DesiredStateStore reopened = DesiredStateStore.open(new JournalStore(dir));
        assertTrue(reopened.current().complete());
        assertEquals(9, reopened.current().revision());
        assertEquals(9, reopened.helloRevision());
        assertEquals(List.of("default/web-1", "default/web-2"), List.copyOf(reopened.current().assignments().keySet()));
        assertEquals("a:2", reopened.current().assignments().get("default/web-2").getTemplate().getContainers(0).getImage());
        assertEquals(2, reopened.lastKnownPods().get(0).getRestartCount());
        assertTrue(reopened.loadProblem().isEmpty());
    }

    @Test
    void corruptCurrentFallsBackToTheLastGoodGenerationAndAFreshSync() throws Exception {
        JournalStore store = new JournalStore(dir);
        DesiredStateStore desired = DesiredStateStore.open(store);
        desired.applySnapshot(Snapshot.newBuilder().setRevision(5).addAssignments(assignment("web-0", "a:1")).build());
        desired.applySnapshot(Snapshot.newBuilder().setRevision(6).addAssignments(assignment("web-0", "a:1"))
                .addAssignments(assignment("web-1", "a:1")).build());

        // Flip one byte in the middle of the current generation.
        try (RandomAccessFile file = new RandomAccessFile(store.currentFile().toFile(), "rw")) {
            long middle = file.length() / 2;
            file.seek(middle);
            int b = file.read();
            file.seek(middle);
            file.write(b ^ 0x5a);
        }
        DesiredStateStore recovered = DesiredStateStore.open(new JournalStore(dir));
        assertTrue(recovered.loadProblem().orElse("").contains("checksum"), recovered.loadProblem().toString());
        assertTrue(recovered.current().complete(), "runs the last good state, never nothing");
        assertEquals(5, recovered.current().revision());
        assertEquals(1, recovered.current().assignments().size());
        assertEquals(0, recovered.helloRevision(), "after a fallback the agent asks for a full snapshot");

        // The next write must not push the good previous generation out with the corrupt one.
        recovered.applySnapshot(Snapshot.newBuilder().setRevision(8).addAssignments(assignment("web-3", "a:1")).build());
        assertEquals(8, DesiredStateStore.open(new JournalStore(dir)).current().revision());
        assertEquals(8, recovered.helloRevision());
    }

    @Test
    void tornFileIsDetected() throws Exception {
        JournalStore store = new JournalStore(dir);
        DesiredStateStore desired = DesiredStateStore.open(store);
        desired.applySnapshot(Snapshot.newBuilder().setRevision(3).addAssignments(assignment("web-0", "a:1")).build());
        byte[] bytes = Files.readAllBytes(store.currentFile());
        Files.write(store.currentFile(), java.util.Arrays.copyOf(bytes, bytes.length - 10));

        JournalStore.Loaded loaded = new JournalStore(dir).load();
        assertEquals(JournalStore.Source.NONE, loaded.source(), "only one generation was ever written");
        assertTrue(loaded.problem().orElse("").contains("torn"), loaded.problem().toString());
        DesiredStateStore fresh = DesiredStateStore.open(new JournalStore(dir));
        assertFalse(fresh.current().complete(), "an unknown state: nothing gets removed until a snapshot arrives");
    }
}
