package dev.edgeplane.agent.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.edgeplane.agent.journal.DesiredState;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.Changes;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.Snapshot;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ConfigCacheTest {
    private static ConfigRef ref(String name, long version) {
        return ConfigRef.newBuilder().setKind(ConfigRef.Kind.CONFIG_MAP).setName(name).setVersion(version).build();
    }

    private static ConfigData data(String name, long version, String value) {
        return ConfigData.newBuilder().setNamespace("default").setRef(ref(name, version))
                .putData("app.conf", ByteString.copyFromUtf8(value)).build();
    }

    private static Assignment assignment(String replica, ConfigRef... refs) {
        return Assignment.newBuilder().setNamespace("default").setReplica(replica).addAllConfigs(List.of(refs)).build();
    }

    @Test
    void assignmentsGetTheContentsTheMessageCarriedBeforeTheyAreJournalled() throws Exception {
        ConfigCache cache = new ConfigCache();
        Snapshot resolved = cache.resolve(Snapshot.newBuilder().setRevision(5)
                .addAssignments(assignment("web-0", ref("web", 3))).addAssignments(assignment("web-1", ref("web", 3)))
                .addConfigs(data("web", 3, "blue")).build());
        assertEquals(0, resolved.getConfigsCount(), "the list is consumed");
        for (Assignment a : resolved.getAssignmentsList()) {
            assertEquals("blue", a.getConfigData(0).getDataOrThrow("app.conf").toStringUtf8());
        }

        Changes changed = cache.resolve(Changes.newBuilder().setRevision(6).addChanges(Change.newBuilder().setType(Change.Type.PUT)
                .setKey("default/web-0").setAssignment(assignment("web-0", ref("web", 4)))).addConfigs(data("web", 4, "green")).build());
        assertEquals("green", changed.getChanges(0).getAssignment().getConfigData(0).getDataOrThrow("app.conf").toStringUtf8());

        Changes later = cache.resolve(Changes.newBuilder().setRevision(7).addChanges(Change.newBuilder().setType(Change.Type.PUT)
                .setKey("default/web-1").setAssignment(assignment("web-1", ref("web", 3)))).build());
        assertEquals(4, later.getChanges(0).getAssignment().getConfigData(0).getRef().getVersion(), "the newest held version serves an older ref");
    }

    @Test
    void anAssignmentNamingAVersionTheAgentDoesNotHaveIsRefused() throws Exception {
        ConfigCache cache = new ConfigCache();
        cache.resolve(Snapshot.newBuilder().addConfigs(data("web", 3, "blue")).build());
        RefusedMessage refused = assertThrows(RefusedMessage.class, () -> cache.resolve(Snapshot.newBuilder()
                .addAssignments(assignment("web-0", ref("web", 9))).build()));
        assertTrue(refused.getMessage().contains("web at version 9"), refused.getMessage());
        assertThrows(RefusedMessage.class, () -> cache.resolve(Snapshot.newBuilder()
                .addConfigs(ConfigData.newBuilder().setRef(ref("x", 1))).build()), "no namespace");
    }

    @Test
    void aNewStreamHoldsWhatTheJournalHoldsAndTheHelloNamesItWithoutData() throws Exception {
        ConfigCache cache = new ConfigCache();
        Assignment journalled = assignment("web-0", ref("web", 3)).toBuilder().addConfigData(data("web", 3, "blue")).build();
        List<ConfigData> hello = cache.startStream(DesiredState.of(5, Map.of("default/web-0", journalled), true));
        assertEquals(List.of(data("web", 3, "blue").toBuilder().clearData().build()), hello);
        Snapshot resolved = cache.resolve(Snapshot.newBuilder().addAssignments(assignment("web-0", ref("web", 3))).build());
        assertEquals("blue", resolved.getAssignments(0).getConfigData(0).getDataOrThrow("app.conf").toStringUtf8(),
                "not carried again: the agent said it has it");
    }
}
