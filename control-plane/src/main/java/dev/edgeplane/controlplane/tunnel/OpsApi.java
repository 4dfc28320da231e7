package dev.edgeplane.controlplane.tunnel;

import dev.edgeplane.tunnel.hub.OpsServer;
import io.grpc.BindableService;
import io.grpc.Metadata;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.quarkus.grpc.GrpcService;

/**
 * OpsService on the public API port (bearer token checked by the global interceptor). The caller's
 * identity in grants and audit records is the admin token's fingerprint, never the token.
 */
@GrpcService
public class OpsApi implements BindableService {

    private final OpsTunnel tunnel;

    public OpsApi(OpsTunnel tunnel) {
        this.tunnel = tunnel;
    }

    @Override
    public ServerServiceDefinition bindService() {
        OpsServer server = new OpsServer(tunnel.hub(), tunnel::nodeOf);
        return ServerInterceptors.intercept(server, OpsServer.subjectFrom(OpsApi::subject));
    }

    static String subject(Metadata headers) {
        return dev.edgeplane.controlplane.auth.Subjects.of(headers);
    }
}
