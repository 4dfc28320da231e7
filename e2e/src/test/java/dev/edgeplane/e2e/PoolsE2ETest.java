package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.CreateNodePoolRequest;
import dev.edgeplane.api.v1.NodePool;
import dev.edgeplane.api.v1.NodePoolSpec;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PoolReplicas;
import dev.edgeplane.api.v1.ReplicaStatus;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Node pools end to end: two sites of one host each (real agents and containerd). An App spread over
 * both pools runs each pool's replicas on that pool's host only, named after the pool.
 */
class PoolsE2ETest {
    @TempDir
    Path dir;

    @Test
    void eachPoolGetsItsReplicasOnItsOwnNodes() throws Exception {
        try (EdgeCluster cluster = EdgeCluster.start(dir, Map.of(), EdgeCluster.FAST_AGENT, "edge-1", "edge-2")) {
            for (String[] site : new String[][] {{"site-a", "edge-1"}, {"site-b", "edge-2"}}) {
                cluster.cloud.nodePools().createNodePool(CreateNodePoolRequest.newBuilder().setNodePool(NodePool.newBuilder()
                        .setMetadata(ObjectMeta.newBuilder().setName(site[0]))
                        .setSpec(NodePoolSpec.newBuilder().addNodes(site[1]).putLabels("site", site[0]))).build());
            }
            App base = cluster.app("shop", 1, "sh", "-c", "exec sleep 3600");
            cluster.create(base.toBuilder().setSpec(base.getSpec().toBuilder()
                    .addPools(PoolReplicas.newBuilder().setName("site-a").setReplicas(2))
                    .addPools(PoolReplicas.newBuilder().setName("site-b"))).build());

            Await.until("3 replicas ready over the two sites", EdgeCluster.CONVERGE, cluster::diagnostics,
                    () -> cluster.get("shop").getStatus().getReadyReplicas() == 3);
            App shop = cluster.get("shop");
            assertEquals(3, shop.getStatus().getDesiredReplicas());
            for (ReplicaStatus r : shop.getStatus().getReplicasList()) {
                String expected = r.getName().startsWith("shop-site-a-") ? "edge-1" : r.getName().startsWith("shop-site-b-") ? "edge-2" : "?";
                assertEquals(expected, r.getNode(), r.getName() + " runs in its pool");
            }
            assertEquals(2, cluster.hosts.get(0).runningIds("shop").size(), "site-a's host runs its two");
            assertEquals(1, cluster.hosts.get(1).runningIds("shop").size(), "site-b's host runs its one");
            assertTrue(shop.getStatus().getPoolsList().stream().anyMatch(p -> p.getName().equals("site-a") && p.getReadyReplicas() == 2),
                    shop.getStatus().getPoolsList().toString());
        }
    }
}
