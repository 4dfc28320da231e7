package dev.edgeplane.controlplane.auth;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.Set;

/**
 * Every public API call needs "authorization: Bearer &lt;admin token&gt;". Server reflection and the
 * gRPC health service stay open so tools can discover and probe the server.
 */
@GlobalInterceptor
@ApplicationScoped
public class BearerAuthInterceptor implements ServerInterceptor {
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final Set<String> OPEN_SERVICES = Set.of(
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "grpc.health.v1.Health");

    private final AdminTokens tokens;

    public BearerAuthInterceptor(AdminTokens tokens) {
        this.tokens = tokens;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        if (OPEN_SERVICES.contains(call.getMethodDescriptor().getServiceName())) {
            return next.startCall(call, headers);
        }
        String header = headers.get(AUTHORIZATION);
        String problem;
        if (header == null || header.isBlank()) {
            problem = "missing \"authorization: Bearer <token>\" metadata";
        } else if (!header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            problem = "authorization metadata must be \"Bearer <token>\"";
        } else if (!tokens.isValid(header.substring(7).trim())) {
            problem = "invalid bearer token";
        } else {
            return next.startCall(call, headers);
        }
        call.close(Status.UNAUTHENTICATED.withDescription(problem), new Metadata());
        return new ServerCall.Listener<>() {};
    }
}
