package dev.edgeplane.controlplane.api;

import static dev.edgeplane.controlplane.api.ConfigMapApiTest.fails;
import static dev.edgeplane.controlplane.api.ConfigMapApiTest.invalid;

import dev.edgeplane.api.v1.CreateImagePrefetchRequest;
import dev.edgeplane.api.v1.DeleteImagePrefetchRequest;
import dev.edgeplane.api.v1.GetImagePrefetchRequest;
import dev.edgeplane.api.v1.ImagePrefetch;
import dev.edgeplane.api.v1.ImagePrefetchSpec;
import dev.edgeplane.api.v1.LocalObjectReference;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import io.grpc.Status;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** ImagePrefetchService's admission: INVALID_ARGUMENT naming the field, NOT_FOUND, ABORTED. */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class ImagePrefetchApiTest {
    private TestApi api;

    @BeforeEach
    void setUp() {
        api = new TestApi();
    }

    @AfterEach
    void tearDown() {
        api.close();
    }

    private ImagePrefetch create(String name, ImagePrefetchSpec spec) {
        return api.imagePrefetches().createImagePrefetch(CreateImagePrefetchRequest.newBuilder().setImagePrefetch(ImagePrefetch.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName(name)).setSpec(spec)).build());
    }

    private static ImagePrefetchSpec.Builder spec() {
        return ImagePrefetchSpec.newBuilder().addImages("busybox:1.36").putNodeSelector("pool", "nowhere");
    }

    @Test
    void invalidRequestsNameTheField() {
        invalid("image_prefetch.spec.images", "at least one", () -> create("p", spec().clearImages().build()));
        invalid("image_prefetch.spec.images[0]", "not an image reference", () -> create("p", spec().setImages(0, "Bad Image").build()));
        invalid("image_prefetch.spec.images[1]", "named twice", () -> create("p", spec().addImages("busybox:1.36").build()));
        ImagePrefetchSpec.Builder many = spec();
        IntStream.range(0, 16).forEach(i -> many.addImages("app:" + i));
        invalid("image_prefetch.spec.images", "over the limit of 16", () -> create("p", many.build()));
        invalid("image_prefetch.spec.node_selector", "give node_selector or nodes", () -> create("p", spec().clearNodeSelector().build()));
        invalid("image_prefetch.spec.nodes[0]", "no node \"ghost\"", () -> create("p", spec().addNodes("ghost").build()));
        invalid("image_prefetch.spec.nodes[0]", "DNS-1123", () -> create("p", spec().addNodes("Not_A_Node").build()));
        invalid("image_prefetch.spec.image_pull_secrets[0].name", "DNS-1123",
                () -> create("p", spec().addImagePullSecrets(LocalObjectReference.newBuilder().setName("Bad_Secret")).build()));
        invalid("image_prefetch.spec.deadline_seconds", "must be 0", () -> create("p", spec().setDeadlineSeconds(-1).build()));
        invalid("image_prefetch.metadata.name", "DNS-1123", () -> create("Bad_Name", spec().build()));
    }

    @Test
    void standardMethods() {
        ImagePrefetch created = create("std", spec().build());
        // The selector matches no node: nothing to pull, nothing to wait for.
        TestApi.await("COMPLETE", java.time.Duration.ofSeconds(30), () -> api.imagePrefetches().getImagePrefetch(
                GetImagePrefetchRequest.newBuilder().setName("std").build()).getStatus().getPhase()
                == dev.edgeplane.api.v1.ImagePrefetchStatus.Phase.COMPLETE);
        fails(Status.Code.ABORTED, () -> create("std", spec().build()));
        fails(Status.Code.ABORTED, () -> api.imagePrefetches().deleteImagePrefetch(DeleteImagePrefetchRequest.newBuilder().setName("std")
                .setResourceVersion(created.getMetadata().getResourceVersion() - 1).build()));
        api.imagePrefetches().deleteImagePrefetch(DeleteImagePrefetchRequest.newBuilder().setName("std").build());
        fails(Status.Code.NOT_FOUND, () -> api.imagePrefetches().getImagePrefetch(GetImagePrefetchRequest.newBuilder().setName("std").build()));
        fails(Status.Code.NOT_FOUND, () -> api.imagePrefetches().deleteImagePrefetch(DeleteImagePrefetchRequest.newBuilder().setName("std").build()));
    }
}
