package dev.edgeplane.controlplane.controllers.app;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.scheduler.LeaderLock;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Placement throughput against a real etcd: Apps totalling 100,000 replicas (half REPLICATED, half
 * EVERY_NODE) over 10,000 nodes written straight to etcd; the time from the create calls to every
 * assignment in etcd. Prints {@code BENCH fleet placements_per_s=...}. Not in CI (name ends in Bench):
 * {@code mvn -pl control-plane -am test -Dtest=PlacementBench -Dsurefire.failIfNoSpecifiedTests=false}.
 */
@QuarkusTest
@TestProfile(PlacementBench.Fleet.class)
@QuarkusTestResource(EtcdTestResource.class)
class PlacementBench {
    static final int NODES = Integer.getInteger("bench.nodes", 10_000);
    static final int REPLICATED_APPS = 5;
    static final int EVERY_NODE_APPS = 5;

    public static class Fleet implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("edgeplane.scheduler.inline-templates", "false", "edgeplane.node.unreachable-after", "1h");
        }
    }

    @Inject
    EtcdStore store;
    @Inject
    StateCaches caches;
    @Inject
    LeaderLock leader;

    private void putAll(List<Op> ops) {
        for (int i = 0; i < ops.size(); i += 100) {
            store.await(store.client().getKVClient().txn().Then(ops.subList(i, Math.min(ops.size(), i + 100)).toArray(Op[]::new))
                    .commit(), "txn");
        }
    }

    private long assignments() {
        return store.await(store.client().getKVClient().get(EtcdStore.bytes(Keys.ASSIGNMENTS),
                GetOption.builder().isPrefix(true).withCountOnly(true).build()), "count").getCount();
    }

    @Test
    void placesAFleet() throws Exception {
        AppControllerTest.await("leadership", () -> leader.isLeader());
        List<Op> nodes = new ArrayList<>();
        for (int i = 0; i < NODES; i++) {
            String name = String.format("n%05d", i);
            nodes.add(Op.put(EtcdStore.bytes(Keys.node(name)), EtcdStore.bytes(AppControllerTest.node(name, "bench").toByteArray()),
                    PutOption.DEFAULT));
        }
        putAll(nodes);
        AppControllerTest.await("nodes seen", () -> caches.nodes().all().size() >= NODES);

        int perReplicatedApp = NODES;
        long expected = (long) REPLICATED_APPS * perReplicatedApp + (long) EVERY_NODE_APPS * NODES;
        List<Op> apps = new ArrayList<>();
        for (int i = 0; i < REPLICATED_APPS; i++) {
            apps.add(Op.put(EtcdStore.bytes(Keys.app("default", "web" + i)),
                    EtcdStore.bytes(AppControllerTest.app("web" + i, perReplicatedApp, "bench", "img:" + i).toByteArray()), PutOption.DEFAULT));
        }
        for (int i = 0; i < EVERY_NODE_APPS; i++) {
            App daemon = AppControllerTest.app("daemon" + i, 0, "bench", "agent:" + i);
            daemon = daemon.toBuilder().setSpec(daemon.getSpec().toBuilder().setMode(AppSpec.Mode.EVERY_NODE)).build();
            apps.add(Op.put(EtcdStore.bytes(Keys.app("default", "daemon" + i)), EtcdStore.bytes(daemon.toByteArray()), PutOption.DEFAULT));
        }
        long started = System.nanoTime();
        for (Op app : apps) {
            putAll(List.of(app)); // one create call each
        }
        long count;
        while ((count = assignments()) < expected) {
            Thread.sleep(100);
            if (System.nanoTime() - started > 30L * 60 * 1_000_000_000L) {
                throw new AssertionError("only " + count + " of " + expected + " assignments after 30 min");
            }
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        assertEquals(expected, count);
        System.out.printf("BENCH fleet nodes=%d apps=%d replicas=%d placement_s=%.1f placements_per_s=%.0f%n",
                NODES, apps.size(), expected, seconds, expected / seconds);
    }
}
