package dev.edgeplane.storage.csi;

import com.google.protobuf.BoolValue;
import dev.edgeplane.csi.v1.GetPluginCapabilitiesRequest;
import dev.edgeplane.csi.v1.GetPluginCapabilitiesResponse;
import dev.edgeplane.csi.v1.GetPluginInfoRequest;
import dev.edgeplane.csi.v1.GetPluginInfoResponse;
import dev.edgeplane.csi.v1.IdentityGrpc;
import dev.edgeplane.csi.v1.PluginCapability;
import dev.edgeplane.csi.v1.ProbeRequest;
import dev.edgeplane.csi.v1.ProbeResponse;
import io.grpc.stub.StreamObserver;

/** CSI Identity: who we are and that we are ready (only ever served after reconciliation). */
public final class IdentityService extends IdentityGrpc.IdentityImplBase {
    public static final String VERSION = "0.1.0";
    private final DriverState state;

    public IdentityService(DriverState state) {
        this.state = state;
    }

    @Override
    public void getPluginInfo(GetPluginInfoRequest req, StreamObserver<GetPluginInfoResponse> out) {
        Errors.unary("GetPluginInfo", out, () -> GetPluginInfoResponse.newBuilder()
                .setName(state.config.driverName()).setVendorVersion(VERSION)
                .putManifest("backends", String.join(",", state.backends.keySet().stream()
                        .map(k -> k.parameterValue()).toList()))
                .build());
    }

    @Override
    public void getPluginCapabilities(GetPluginCapabilitiesRequest req, StreamObserver<GetPluginCapabilitiesResponse> out) {
        Errors.unary("GetPluginCapabilities", out, () -> GetPluginCapabilitiesResponse.newBuilder()
                .addCapabilities(PluginCapability.newBuilder().setService(PluginCapability.Service.newBuilder()
                        .setType(PluginCapability.Service.Type.CONTROLLER_SERVICE)))
                .addCapabilities(PluginCapability.newBuilder().setVolumeExpansion(
                        PluginCapability.VolumeExpansion.newBuilder().setType(PluginCapability.VolumeExpansion.Type.ONLINE)))
                .build());
    }

    @Override
    public void probe(ProbeRequest req, StreamObserver<ProbeResponse> out) {
        Errors.unary("Probe", out, () -> ProbeResponse.newBuilder().setReady(BoolValue.of(true)).build());
    }
}
