package dev.edgeplane.controlplane.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppEvent;
import dev.edgeplane.api.v1.AppServiceGrpc;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.WatchAppsRequest;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import dev.edgeplane.controlplane.store.Keys;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.PutOption;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.Test;

/**
 * WatchApps honours HTTP/2 flow control: a watcher that reads nothing makes the control plane keep
 * at most the bound of waiting changes, past it the watch ends with RESOURCE_EXHAUSTED naming the
 * limit; a watcher that reads keeps getting every event meanwhile.
 */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class WatchFlowControlTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final String NAMESPACE = "fanwatch";
    private static final int APPS = 1500;

    /** A watch that reads only what is requested, and records its events and how it ended. */
    private static final class Watcher {
        final Set<String> added = ConcurrentHashMap.newKeySet();
        final AtomicReference<Throwable> error = new AtomicReference<>();
        ClientCallStreamObserver<WatchAppsRequest> call;

        Watcher(AppServiceGrpc.AppServiceStub stub, boolean reads) {
            stub.watchApps(WatchAppsRequest.newBuilder().setNamespace(NAMESPACE).build(), new ClientResponseObserver<WatchAppsRequest, AppEvent>() {
                @Override
                public void beforeStart(ClientCallStreamObserver<WatchAppsRequest> stream) {
                    if (!reads) {
                        stream.disableAutoRequestWithInitial(1); // the seed App, then nothing
                    }
                    call = stream;
                }

                @Override
                public void onNext(AppEvent event) {
                    if (event.getType() == AppEvent.Type.ADDED) {
                        added.add(event.getApp().getMetadata().getName());
                    }
                }

                @Override
                public void onError(Throwable t) {
                    error.set(t);
                }

                @Override
                public void onCompleted() {}
            });
        }
    }

    private static AppServiceGrpc.AppServiceStub stub(ManagedChannel channel, String token) {
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
        return AppServiceGrpc.newStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }

    @Test
    void aWatcherThatReadsNothingEndsPastTheBoundWhileAReadingWatcherGetsEveryEvent() throws Exception {
        int port = ConfigProvider.getConfig().getValue("quarkus.http.test-port", Integer.class);
        ManagedChannel smallWindow = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().flowControlWindow(65535).build();
        try (TestApi api = new TestApi()) {
            api.etcd.getKVClient().put(bytes(Keys.app(NAMESPACE, "seed")), ByteSequence.from(App.newBuilder()
                    .setMetadata(ObjectMeta.newBuilder().setNamespace(NAMESPACE).setName("seed")).build().toByteArray())).get();
            Watcher stalled = new Watcher(stub(smallWindow, api.adminToken), false);
            Watcher reading = new Watcher(stub(api.channel, api.adminToken), true);
            TestApi.await("both watches listed the seed App", WAIT,
                    () -> stalled.added.contains("seed") && reading.added.contains("seed"));

            // Apps written straight to etcd (replicas 0: nothing to schedule), 1 KiB of annotation each.
            for (int batch = 0; batch < APPS / 100; batch++) {
                int b = batch;
                Op[] puts = IntStream.range(0, 100).mapToObj(i -> {
                    String name = "app-" + (b * 100 + i);
                    App app = App.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace(NAMESPACE).setName(name)
                            .putAnnotations("padding", "p".repeat(1024))).setSpec(AppSpec.newBuilder().setReplicas(0)).build();
                    return Op.put(bytes(Keys.app(NAMESPACE, name)), ByteSequence.from(app.toByteArray()), PutOption.DEFAULT);
                }).toArray(Op[]::new);
                api.etcd.getKVClient().txn().Then(puts).commit().get(20, TimeUnit.SECONDS);
            }

            TestApi.await("the reading watcher got every App", WAIT, () -> reading.added.size() == APPS + 1);
            assertEquals(null, reading.error.get());

            // Now the stalled one reads: what was sent arrives, then the end, naming the limit.
            stalled.call.request(Integer.MAX_VALUE);
            TestApi.await("the stalled watch ended", WAIT, () -> stalled.error.get() != null);
            Status status = Status.fromThrowable(stalled.error.get());
            assertEquals(Status.Code.RESOURCE_EXHAUSTED, status.getCode(), status.toString());
            assertTrue(status.getDescription().contains("edgeplane.fanout.watch-backlog"), status.getDescription());
            assertTrue(stalled.added.size() < APPS + 1, "it did not get everything: it must re-list (" + stalled.added.size() + ")");
        } finally {
            smallWindow.shutdownNow();
            try (TestApi api = new TestApi()) {
                api.etcd.getKVClient().delete(bytes(Keys.APPS + NAMESPACE + "/"), DeleteOption.builder().isPrefix(true).build()).get();
            }
        }
    }

    private static ByteSequence bytes(String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }
}
