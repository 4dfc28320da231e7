package dev.edgeplane.storage;

import dev.edgeplane.csi.v1.ControllerGetCapabilitiesRequest;
import dev.edgeplane.csi.v1.ControllerServiceCapability;
import dev.edgeplane.csi.v1.DeleteVolumeRequest;
import dev.edgeplane.csi.v1.GetPluginCapabilitiesRequest;
import dev.edgeplane.csi.v1.GetPluginInfoRequest;
import dev.edgeplane.csi.v1.NodeGetCapabilitiesRequest;
import dev.edgeplane.csi.v1.NodeGetInfoRequest;
import dev.edgeplane.csi.v1.NodeServiceCapability;
import dev.edgeplane.csi.v1.PluginCapability;
import dev.edgeplane.csi.v1.ValidateVolumeCapabilitiesRequest;
import dev.edgeplane.csi.v1.VolumeCapability;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.reflection.v1.ServiceResponse;
import io.grpc.stub.StreamObserver;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static dev.edgeplane.storage.Requests.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What a CO discovers first: identity, capabilities, node info, validation, and server reflection. */
class ServiceSurfaceTest {

    @Test
    void identityCapabilitiesValidationAndReflection() throws Exception {
        try (HostFixture host = new HostFixture("surface")) {
            var socket = host.dir().resolve("csi.sock");
            CsiClient csi = host.closeLater(new InProcessDriver(
                    StorageDriverConfig.of(host.dir().resolve("state"), "edge-7"), socket)).client;

            assertEquals("csi.edgeplane.dev", csi.identity.getPluginInfo(GetPluginInfoRequest.getDefaultInstance()).getName());
            assertTrue(csi.identity.getPluginCapabilities(GetPluginCapabilitiesRequest.getDefaultInstance())
                    .getCapabilitiesList().stream().anyMatch(c -> c.getService().getType()
                            == PluginCapability.Service.Type.CONTROLLER_SERVICE));
            Set<ControllerServiceCapability.RPC.Type> controllerCaps = csi.controller
                    .controllerGetCapabilities(ControllerGetCapabilitiesRequest.getDefaultInstance())
                    .getCapabilitiesList().stream().map(c -> c.getRpc().getType()).collect(Collectors.toSet());
            assertTrue(controllerCaps.containsAll(List.of(ControllerServiceCapability.RPC.Type.CREATE_DELETE_VOLUME,
                    ControllerServiceCapability.RPC.Type.CREATE_DELETE_SNAPSHOT,
                    ControllerServiceCapability.RPC.Type.EXPAND_VOLUME, ControllerServiceCapability.RPC.Type.GET_CAPACITY)));
            assertFalse(controllerCaps.contains(ControllerServiceCapability.RPC.Type.PUBLISH_UNPUBLISH_VOLUME));
            assertTrue(csi.node.nodeGetCapabilities(NodeGetCapabilitiesRequest.getDefaultInstance()).getCapabilitiesList()
                    .stream().anyMatch(c -> c.getRpc().getType() == NodeServiceCapability.RPC.Type.STAGE_UNSTAGE_VOLUME));
            assertEquals("edge-7", csi.node.nodeGetInfo(NodeGetInfoRequest.getDefaultInstance()).getNodeId());

            String id = csi.controller.createVolume(Requests.create("v", 16 * MIB, Map.of()).build()).getVolume()
                    .getVolumeId();
            assertTrue(csi.controller.validateVolumeCapabilities(ValidateVolumeCapabilitiesRequest.newBuilder()
                    .setVolumeId(id).addVolumeCapabilities(Requests.mount("ext4")).build()).hasConfirmed());
            var refused = csi.controller.validateVolumeCapabilities(ValidateVolumeCapabilitiesRequest.newBuilder()
                    .setVolumeId(id).addVolumeCapabilities(Requests.mount("").toBuilder().setAccessMode(
                            VolumeCapability.AccessMode.newBuilder()
                                    .setMode(VolumeCapability.AccessMode.Mode.MULTI_NODE_MULTI_WRITER))).build());
            assertFalse(refused.hasConfirmed());
            assertFalse(refused.getMessage().isEmpty());
            csi.controller.deleteVolume(DeleteVolumeRequest.newBuilder().setVolumeId(id).build());

            IllegalStateException second = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> StorageDriver.open(StorageDriverConfig.of(host.dir().resolve("state"), "edge-7")));
            assertTrue(second.getMessage().contains("another storage driver"), second.getMessage());

            assertTrue(reflectedServices(socket.toString()).containsAll(List.of("csi.v1.Identity", "csi.v1.Controller",
                    "csi.v1.Node")));
        }
    }

    private static List<String> reflectedServices(String socket) throws Exception {
        EpollEventLoopGroup group = new EpollEventLoopGroup(1);
        ManagedChannel channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext().build();
        try {
            CompletableFuture<List<String>> names = new CompletableFuture<>();
            StreamObserver<ServerReflectionRequest> requests = ServerReflectionGrpc.newStub(channel)
                    .serverReflectionInfo(new StreamObserver<>() {
                        @Override
                        public void onNext(ServerReflectionResponse r) {
                            names.complete(r.getListServicesResponse().getServiceList().stream()
                                    .map(ServiceResponse::getName).toList());
                        }

                        @Override
                        public void onError(Throwable t) {
                            names.completeExceptionally(t);
                        }

                        @Override
                        public void onCompleted() {
                        }
                    });
            requests.onNext(ServerReflectionRequest.newBuilder().setListServices("").build());
            requests.onCompleted();
            return names.get(10, TimeUnit.SECONDS);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }
}
