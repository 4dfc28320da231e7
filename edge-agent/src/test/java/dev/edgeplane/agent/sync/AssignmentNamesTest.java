package dev.edgeplane.agent.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigMapVolumeSource;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.KeyToPath;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.VolumeSnapshotTask;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class AssignmentNamesTest {
    private static Assignment good() {
        return Assignment.newBuilder().setNamespace("shop").setApp("web").setReplica("web-0")
                .setTemplate(PodTemplate.newBuilder().addContainers(Container.newBuilder().setName("main"))
                        .addVolumes(PodVolume.newBuilder().setName("cfg").setConfigMap(ConfigMapVolumeSource.newBuilder().setName("c")
                                .addItems(KeyToPath.newBuilder().setKey("k").setPath("conf/app.ini"))))).build();
    }

    @Test
    void namesThatWouldBePathsOutsideTheirPlaceAreRefusedOnTheHost() {
        assertEquals(Optional.empty(), AssignmentNames.problem(good()));
        assertEquals(Optional.empty(), AssignmentNames.problem(Assignment.newBuilder().setNamespace("shop").setReplica("snapshot.daily")
                .setVolumeSnapshot(VolumeSnapshotTask.newBuilder().setName("daily")).build()), "a snapshot task's entry");
        assertEquals(Optional.empty(), AssignmentNames.problem(good().toBuilder().setApp("job.pi").setReplica("pi-b2x4k").build()),
                "a Job's pod");
        assertTrue(AssignmentNames.problem(good().toBuilder().setApp("job.../etc").build()).orElseThrow().contains("app"));
        assertTrue(AssignmentNames.problem(good().toBuilder().setApp("web.pi").build()).orElseThrow().contains("app"));
        assertTrue(AssignmentNames.problem(good().toBuilder().setReplica("../../etc").build()).orElseThrow().contains("replica"));
        assertTrue(AssignmentNames.problem(good().toBuilder().setNamespace("a/b").build()).isPresent());
        Assignment escaping = good().toBuilder().setTemplate(good().getTemplate().toBuilder().setVolumes(0, good().getTemplate()
                .getVolumes(0).toBuilder().setConfigMap(ConfigMapVolumeSource.newBuilder().setName("c")
                        .addItems(KeyToPath.newBuilder().setKey("k").setPath("../../../root/.ssh/authorized_keys"))))).build();
        assertTrue(AssignmentNames.problem(escaping).orElseThrow().contains("item path"));
        assertTrue(AssignmentNames.problem(good().toBuilder().addConfigData(dev.edgeplane.api.v1.ConfigData.newBuilder()
                .putData("../x", com.google.protobuf.ByteString.EMPTY)).build()).orElseThrow().contains("key"));
    }
}
