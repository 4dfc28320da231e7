package dev.edgeplane.controlplane.tunnel;

import dev.edgeplane.tunnel.hub.OpsServer;
import io.grpc.BindableService;
import io.grpc.Metadata;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.quarkus.grpc.GrpcService;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * OpsService on the public API port (bearer token checked by the global interceptor). The caller's
 * identity in grants and audit records is the admin token's fingerprint, never the token.
 */
@GrpcService
public class OpsApi implements BindableService {
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

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
        String header = headers.get(AUTHORIZATION);
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return "anonymous";
        }
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(header.substring(7).trim().getBytes(StandardCharsets.UTF_8));
            return "admin:" + HexFormat.of().formatHex(digest, 0, 6);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
