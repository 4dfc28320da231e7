package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.v1.CreateImagePrefetchRequest;
import dev.edgeplane.api.v1.DeleteImagePrefetchRequest;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.GetImagePrefetchRequest;
import dev.edgeplane.api.v1.ImagePrefetch;
import dev.edgeplane.api.v1.ImagePrefetchServiceGrpc;
import dev.edgeplane.api.v1.ListImagePrefetchesRequest;
import dev.edgeplane.api.v1.ListImagePrefetchesResponse;
import dev.edgeplane.controlplane.controllers.prefetch.PrefetchStatuses;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;

/** ImagePrefetchService: ImagePrefetches at /edgeplane/imageprefetches/&lt;ns&gt;/&lt;name&gt; ({@link ImagePrefetches}). */
@GrpcService
@Blocking
public class ImagePrefetchApi extends ImagePrefetchServiceGrpc.ImagePrefetchServiceImplBase {
    private final ImagePrefetches prefetches;
    private final EtcdStore store;

    public ImagePrefetchApi(ImagePrefetches prefetches, EtcdStore store) {
        this.prefetches = prefetches;
        this.store = store;
    }

    @Override
    public void createImagePrefetch(CreateImagePrefetchRequest request, StreamObserver<ImagePrefetch> responseObserver) {
        Calls.unary(responseObserver, () -> prefetches.create(request.getImagePrefetch()));
    }

    @Override
    public void getImagePrefetch(GetImagePrefetchRequest request, StreamObserver<ImagePrefetch> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            return prefetches.get(ns, request.getName())
                    .orElseThrow(() -> Calls.notFound(ImagePrefetches.describe(ns, request.getName())));
        });
    }

    /** Without the per-node entries: a page of prefetches over 10,000 nodes each would not fit a message. */
    @Override
    public void listImagePrefetches(ListImagePrefetchesRequest request, StreamObserver<ListImagePrefetchesResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Listing.Page<ImagePrefetch> page = Listing.list(store, prefetches.limits(),
                    Listing.prefix(Keys.IMAGE_PREFETCHES, request.getNamespace()), request.getPageSize(), request.getPageToken(),
                    request.getLabelSelector(), ImagePrefetch.parser(), p -> p.getMetadata().getLabelsMap());
            ListImagePrefetchesResponse.Builder response = ListImagePrefetchesResponse.newBuilder().setNextPageToken(page.nextPageToken());
            page.items().forEach(e -> response.addImagePrefetches(PrefetchStatuses.summary(e.value().toBuilder()
                    .setMetadata(ConfigObjects.shown(e.value().getMetadata(), e.modRevision())).build())));
            return response.build();
        });
    }

    @Override
    public void deleteImagePrefetch(DeleteImagePrefetchRequest request, StreamObserver<DeleteResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            return prefetches.delete(ns, request.getName(), request.getResourceVersion());
        });
    }
}
