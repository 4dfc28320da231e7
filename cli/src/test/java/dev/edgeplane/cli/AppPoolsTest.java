package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppPoolStatus;
import dev.edgeplane.api.v1.AppStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.RolloutStatus;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** An App spread over pools: its manifest, `get apps -o wide` and `rollout status`. */
class AppPoolsTest {
    private static App example() throws Exception {
        Path example = Path.of("").toAbsolutePath().getParent().resolve("deploy/examples/app-over-pools.yaml");
        try (var reader = java.nio.file.Files.newBufferedReader(example)) {
            return assertInstanceOf(Manifests.AppManifest.class, Manifests.read(reader, example.toString()).get(0)).app();
        }
    }

    @Test
    void theExampleReadsWithItsPoolsAndPoolByPool() throws Exception {
        App app = example();
        assertEquals(2, app.getSpec().getPoolsCount());
        assertEquals("shops-north", app.getSpec().getPools(0).getName());
        assertEquals(3, app.getSpec().getPools(0).getReplicas());
        assertTrue(!app.getSpec().getPools(1).hasReplicas(), "unset: the App's replicas");
        assertTrue(app.getSpec().getStrategy().getPoolByPool());
    }

    @Test
    void wideRowsShowUpdatedAvailableAndThePools() throws Exception {
        Instant now = Instant.now();
        App app = example().toBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace("default").setName("shop-pos"))
                .setStatus(AppStatus.newBuilder().setDesiredReplicas(5).setReadyReplicas(4).setUpdatedReplicas(3).setAvailableReplicas(4)
                        .addPools(AppPoolStatus.newBuilder().setName("shops-north").setDesiredReplicas(3).setReadyReplicas(3))
                        .addPools(AppPoolStatus.newBuilder().setName("shops-south").setDesiredReplicas(2).setReadyReplicas(1))
                        .setRollout(RolloutStatus.newBuilder().setRevision(2).setPhase(RolloutStatus.Phase.PROGRESSING).setPool("shops-south")))
                .build();
        List<App> apps = List.of(app);
        assertEquals(List.of("NAMESPACE", "NAME", "MODE", "DESIRED", "READY", "UPDATED", "AVAILABLE", "POOLS", "AGE"),
                AppRows.header(true, apps));
        List<String> row = AppRows.row(app, true, apps, now);
        assertEquals(List.of("default", "shop-pos", "REPLICATED", "5", "4", "3", "4",
                "shops-north 3/3, shops-south 1/2"), row.subList(0, 8));
        assertEquals(List.of("NAMESPACE", "NAME", "MODE", "DESIRED", "READY", "AVAILABLE", "AGE"), AppRows.header(false, apps));
        assertEquals(7, AppRows.row(app, false, apps, now).size());
        assertTrue(RolloutCommand.describe(app).contains("; pool shops-south"), RolloutCommand.describe(app));
    }
}
