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
     * Checks a call's first message before the handler sees it. The handler is started at once (as
     * without this check: Quarkus' blocking dispatch and the handler's own flow control stay as they
     * are) but receives no message until the first one passed; a refused call is closed and the handler
     * is told it was cancelled. A service that does anything before its first message must not rely on
     * this check, and none does: the ops calls act on their first (start) message.
     */
    private static final class FirstMessageCheck<Q, R> extends ServerCall.Listener<Q> {
        private final ServerCall<Q, R> call;
        private final java.util.function.Function<Q, Optional<Status>> check;
        private final ServerCall.Listener<Q> delegate;
        private boolean checked;
        private boolean closed;

        FirstMessageCheck(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next,
                          java.util.function.Function<Q, Optional<Status>> check) {
            this.call = call;
            this.check = check;
            this.delegate = next.startCall(call, headers);
        }

        @Override
        public void onMessage(Q message) {
            if (closed) {
                return;
            }
            if (!checked) {
                Optional<Status> denied = check.apply(message);
                if (denied.isPresent()) {
                    refuse(denied.get());
                    return;
                }
                checked = true;
            }
            delegate.onMessage(message);
        }

        @Override
        public void onHalfClose() {
            if (closed) {
                return;
            }
            if (!checked) {
                refuse(Status.INVALID_ARGUMENT.withDescription("the call ended before its first request message"));
                return;
            }
            delegate.onHalfClose();
        }

        private void refuse(Status status) {
            closed = true;
            call.close(status, new Metadata());
            delegate.onCancel(); // the handler started: it learns the call is over
        }

        @Override
        public void onCancel() {
            if (!closed) {
                delegate.onCancel();
            }
        }

        @Override
        public void onComplete() {
            if (!closed) {
                delegate.onComplete();
            }
        }

        @Override
        public void onReady() {
            if (!closed) {
                delegate.onReady();
            }
        }
    }
}
