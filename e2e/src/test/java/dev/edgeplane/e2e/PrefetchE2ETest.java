package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.CreateImagePrefetchRequest;
import dev.edgeplane.api.v1.CreateSecretRequest;
import dev.edgeplane.api.v1.GetImagePrefetchRequest;
import dev.edgeplane.api.v1.ImagePrefetch;
import dev.edgeplane.api.v1.ImagePrefetchSpec;
import dev.edgeplane.api.v1.ImagePrefetchStatus;
import dev.edgeplane.api.v1.LocalObjectReference;
import dev.edgeplane.api.v1.NodeImagePrefetchStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.testkit.Registry;
import dev.edgeplane.testkit.TestImages;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Image prefetch end to end: control plane (real etcd), two agents with their own containerd, a
 * private registry. An ImagePrefetch created through the API for one node pulls the image there (with
 * the pull Secret made through the API) and becomes COMPLETE; the other node gets nothing; edgectl
 * shows the per-node progress and deletes it.
 */
class PrefetchE2ETest {
    @TempDir
    Path dir;

    @Test
    void aPrefetchPullsItsImageWithItsPullSecretOnlyOnItsNodesAndCompletes() throws Exception {
        try (EdgeCluster cluster = EdgeCluster.start(dir, java.util.Map.of(), EdgeCluster.FAST_AGENT, "edge-1", "edge-2");
             Registry registry = Registry.withBasicAuth("ci", "prefetch-pass")) {
            String image = registry.push(TestImages.BUSYBOX.archive(), "private/prefetched:1");
            String dockerConfig = "{\"auths\":{\"" + registry.address() + "\":{\"username\":\"ci\",\"password\":\"prefetch-pass\"}}}";
            cluster.cloud.secrets().createSecret(CreateSecretRequest.newBuilder().setSecret(Secret.newBuilder()
                    .setMetadata(ObjectMeta.newBuilder().setName("registry")).setType(Secret.Type.REGISTRY_CREDENTIALS)
                    .putData(".dockerconfigjson", ByteString.copyFromUtf8(dockerConfig))).build());
            EdgeHost target = cluster.host("edge-1");
            EdgeHost other = cluster.host("edge-2");
            assertFalse(target.cri().hasImage(image));

            long created = System.nanoTime();
            ImagePrefetch prefetch = cluster.cloud.imagePrefetches().createImagePrefetch(CreateImagePrefetchRequest.newBuilder()
                    .setImagePrefetch(ImagePrefetch.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("web-v2"))
                            .setSpec(ImagePrefetchSpec.newBuilder().addImages(image).addNodes("edge-1")
                                    .addImagePullSecrets(LocalObjectReference.newBuilder().setName("registry")))).build());
            assertEquals(1, prefetch.getStatus().getNodesTotal());
            Await.until("the prefetch COMPLETE", EdgeCluster.CONVERGE, cluster::diagnostics, () -> get(cluster).getStatus().getPhase()
                    == ImagePrefetchStatus.Phase.COMPLETE);
            System.out.printf("BENCH prefetch create_to_complete_ms=%d (CreateImagePrefetch to COMPLETE, one node, one image)%n",
                    (System.nanoTime() - created) / 1_000_000);
            ImagePrefetchStatus status = get(cluster).getStatus();
            assertEquals(1, status.getNodesDone());
            assertEquals(NodeImagePrefetchStatus.Phase.DONE, status.getNodes(0).getPhase());
            assertEquals(1, status.getNodes(0).getImagesDone());
            assertTrue(target.cri().hasImage(image), "the image is in the target's containerd");
            assertFalse(other.cri().hasImage(image), "a node that is no target pulls nothing");
            assertFalse(target.agent().logText().contains("prefetch-pass"), "credentials are never logged");

            String described = cluster.edgectl("describe", "prefetch", "web-v2");
            assertTrue(described.contains("Phase:       COMPLETE"), described);
            assertTrue(described.lines().anyMatch(l -> l.startsWith("edge-1") && l.contains("DONE") && l.contains("1/1")), described);
            assertTrue(cluster.edgectl("get", "prefetches").lines().anyMatch(l -> l.contains("web-v2") && l.contains("COMPLETE")));
            assertEquals("imageprefetch/default/web-v2 deleted", cluster.edgectl("delete", "prefetch", "web-v2").trim());
            try {
                get(cluster);
                throw new AssertionError("still there after delete");
            } catch (StatusRuntimeException e) {
                assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
            }
            assertTrue(target.cri().hasImage(image), "deleting the prefetch leaves the image (GC may take it later)");
        }
    }

    private static ImagePrefetch get(EdgeCluster cluster) {
        return cluster.cloud.imagePrefetches().getImagePrefetch(GetImagePrefetchRequest.newBuilder().setName("web-v2").build());
    }
}
