package dev.edgeplane.controlplane.tunnel;

import dev.edgeplane.controlplane.auth.Subjects;
import dev.edgeplane.tunnel.hub.OpsServer;
import io.grpc.BindableService;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.quarkus.grpc.GrpcService;

/**
 * OpsService on the public API port (bearer token and role checked by the global interceptor). The
 * caller's identity in grants and audit records is its subject (admin, token:&lt;name&gt;,
 * oidc:&lt;user&gt;), never the token.
 */
@GrpcService
public class OpsApi implements BindableService {

    private final OpsTunnel tunnel;
    private final Subjects subjects;

    public OpsApi(OpsTunnel tunnel, Subjects subjects) {
        this.tunnel = tunnel;
        this.subjects = subjects;
    }

    @Override
    public ServerServiceDefinition bindService() {
        OpsServer server = new OpsServer(tunnel.hub(), tunnel::nodeOf);
        return ServerInterceptors.intercept(server, OpsServer.subjectFrom(subjects::of));
    }
}
