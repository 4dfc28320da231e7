package dev.edgeplane.controlplane.auth;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.Optional;
import java.util.Set;

/**
 * Authenticates every public API call ("authorization: Bearer &lt;token&gt;": UNAUTHENTICATED otherwise)
 * and authorises it against {@link MethodRules} and the caller's role bindings (PERMISSION_DENIED naming
 * the subject, the role needed and the namespace). The namespace comes from the first request message:
 * the call is held, unstarted, until it arrives, so nothing reaches the service before the check.
 * Server reflection and the gRPC health service stay open so tools can discover and probe the server.
 */
@GlobalInterceptor
@ApplicationScoped
public class BearerAuthInterceptor implements ServerInterceptor {
    static final Metadata.Key<String> AUTHORIZATION = Authenticator.AUTHORIZATION;
    private static final Set<String> OPEN_SERVICES = Set.of(
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "grpc.health.v1.Health");

    private final Authenticator authenticator;
    private final Authorizer authorizer;

    public BearerAuthInterceptor(Authenticator authenticator, AccessIndex index) {
        this.authenticator = authenticator;
        this.authorizer = new Authorizer(index::bindingsOf);
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        if (OPEN_SERVICES.contains(call.getMethodDescriptor().getServiceName())) {
            return next.startCall(call, headers);
        }
        Authenticator.Result who = authenticator.authenticate(headers);
        if (!who.authenticated()) {
            call.close(Status.UNAUTHENTICATED.withDescription(who.problem()), new Metadata());
            return new ServerCall.Listener<>() {};
        }
        String method = call.getMethodDescriptor().getFullMethodName();
        Optional<MethodRules.Rule> rule = MethodRules.of(method);
        if (rule.isEmpty() || rule.get().scope() == MethodRules.Scope.CLUSTER) {
            // Nothing to read from the request: decide now.
            Optional<Status> denied = authorizer.check(who.identity(), method, null);
            if (denied.isPresent()) {
                call.close(denied.get(), new Metadata());
                return new ServerCall.Listener<>() {};
            }
            return next.startCall(call, headers);
        }
        return new FirstMessageCheck<>(call, headers, next, message -> authorizer.check(who.identity(), method, message));
    }

    /**
     * Holds a call until its first message, checks it, and only then starts the real handler and hands it
     * that message. The one message requested here is the handler's first: a unary handler asks for two
     * anyway, a streaming one gets at most one message ahead of its own flow control.
     */
    private static final class FirstMessageCheck<Q, R> extends ServerCall.Listener<Q> {
        private final ServerCall<Q, R> call;
        private final Metadata headers;
        private final ServerCallHandler<Q, R> next;
        private final java.util.function.Function<Q, Optional<Status>> check;
        private ServerCall.Listener<Q> delegate;
        private boolean closed;

        FirstMessageCheck(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next,
                          java.util.function.Function<Q, Optional<Status>> check) {
            this.call = call;
            this.headers = headers;
            this.next = next;
            this.check = check;
            call.request(1);
        }

        @Override
        public void onMessage(Q message) {
            if (delegate != null) {
                delegate.onMessage(message);
                return;
            }
            if (closed) {
                return;
            }
            Optional<Status> denied = check.apply(message);
            if (denied.isPresent()) {
                closed = true;
                call.close(denied.get(), new Metadata());
                return;
            }
            delegate = next.startCall(call, headers);
            delegate.onMessage(message);
            if (call.isReady()) {
                delegate.onReady(); // the transport's first onReady came before the handler existed
            }
        }

        @Override
        public void onHalfClose() {
            if (delegate != null) {
                delegate.onHalfClose();
            } else if (!closed) {
                closed = true;
                call.close(Status.INVALID_ARGUMENT.withDescription("the call ended before its first request message"), new Metadata());
            }
        }

        @Override
        public void onCancel() {
            if (delegate != null) {
                delegate.onCancel();
            }
        }

        @Override
        public void onComplete() {
            if (delegate != null) {
                delegate.onComplete();
            }
        }

        @Override
        public void onReady() {
            if (delegate != null) {
                delegate.onReady();
            }
        }
    }
}
