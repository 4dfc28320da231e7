package dev.edgeplane.tunnel.hub;

import dev.edgeplane.api.v1.ExecRequest;
import dev.edgeplane.api.v1.ExecResponse;
import dev.edgeplane.api.v1.ExecStart;
import dev.edgeplane.api.v1.HttpProxyRequest;
import dev.edgeplane.api.v1.HttpProxyResponse;
import dev.edgeplane.api.v1.LogsRequest;
import dev.edgeplane.api.v1.LogsResponse;
import dev.edgeplane.api.v1.OpsServiceGrpc;
import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.api.v1.PortForwardRequest;
import dev.edgeplane.api.v1.PortForwardResponse;
import dev.edgeplane.api.v1.SessionRequest;
import dev.edgeplane.api.v1.SessionVerb;
import dev.edgeplane.api.v1.TunnelFrame;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.Optional;
import java.util.function.Function;

/**
 * The Ops API. Each call is validated, its target resolved to a node, and handed to the
 * {@link TunnelHub} as one session. The caller's identity (for grants and audit) comes from the
 * gRPC context key {@link #SUBJECT}, set by the host's authentication (see {@link #subjectFrom}).
 */
public final class OpsServer extends OpsServiceGrpc.OpsServiceImplBase {
    public static final Context.Key<String> SUBJECT = Context.key("edgeplane-ops-subject");

    /** Finds the node that runs a replica. */
    @FunctionalInterface
    public interface ReplicaLocator {
        Optional<String> nodeOf(String namespace, String replica);
    }

    private final TunnelHub hub;
    private final ReplicaLocator locator;

    public OpsServer(TunnelHub hub, ReplicaLocator locator) {
        this.hub = hub;
        this.locator = locator;
    }

    /** An interceptor that puts the caller's identity, derived from its headers, into the context. */
    public static ServerInterceptor subjectFrom(Function<Metadata, String> identify) {
        return new ServerInterceptor() {
            @Override
            public <Q, R> io.grpc.ServerCall.Listener<Q> interceptCall(io.grpc.ServerCall<Q, R> call, Metadata headers,
                                                                       io.grpc.ServerCallHandler<Q, R> next) {
                return Contexts.interceptCall(Context.current().withValue(SUBJECT, identify.apply(headers)), call, headers, next);
            }
        };
    }

    private static String subject() {
        String s = SUBJECT.get();
        return s == null || s.isBlank() ? "anonymous" : s;
    }

    // ---- Logs

    @Override
    public void logs(LogsRequest request, StreamObserver<LogsResponse> responses) {
        ServerCallStreamObserver<LogsResponse> call = (ServerCallStreamObserver<LogsResponse>) responses;
        call.setOnReadyThreshold(Frames.ON_READY_THRESHOLD);
        try {
            SessionRequest session = resolve(SessionRequest.newBuilder().setVerb(SessionVerb.LOGS)
                    .setTarget(requireReplica(request.getTarget())).setLogs(request).build());
            HubSession s = hub.open(subject(), session.getTarget().getNode(), session, call,
                    f -> f.hasData() ? LogsResponse.newBuilder().setData(f.getData()).build() : null, false);
            call.setOnReadyHandler(s::operatorReady);
            call.setOnCancelHandler(s::operatorCancelled);
        } catch (StatusException e) {
            responses.onError(e);
        }
    }

    // ---- HTTP proxy

    @Override
    public void httpProxy(HttpProxyRequest request, StreamObserver<HttpProxyResponse> responses) {
        ServerCallStreamObserver<HttpProxyResponse> call = (ServerCallStreamObserver<HttpProxyResponse>) responses;
        try {
            if (request.getPort() < 1 || request.getPort() > 65535) {
                throw Status.INVALID_ARGUMENT.withDescription("port must be 1..65535").asException();
            }
            if (!request.getPath().isEmpty() && !request.getPath().startsWith("/")) {
                throw Status.INVALID_ARGUMENT.withDescription("path must start with /").asException();
            }
            SessionRequest session = resolve(SessionRequest.newBuilder().setVerb(SessionVerb.HTTP_PROXY)
                    .setTarget(request.getTarget()).setHttp(request).build());
            HubSession s = hub.open(subject(), session.getTarget().getNode(), session, call,
                    f -> f.hasHttpResponse() ? f.getHttpResponse() : null, false);
            call.setOnReadyHandler(s::operatorReady);
            call.setOnCancelHandler(s::operatorCancelled);
        } catch (StatusException e) {
            responses.onError(e);
        }
    }

    // ---- Exec

    @Override
    public StreamObserver<ExecRequest> exec(StreamObserver<ExecResponse> responses) {
        return streaming(responses, ExecRequest::hasStart, first -> {
            ExecStart start = first.getStart();
            if (start.getCommandCount() == 0) {
                throw Status.INVALID_ARGUMENT.withDescription("start.command is empty").asException();
            }
            return SessionRequest.newBuilder().setVerb(SessionVerb.EXEC).setTarget(requireReplica(start.getTarget()))
                    .setExec(start).build();
        }, f -> switch (f.getKindCase()) {
            case DATA -> ExecResponse.newBuilder().setStdout(f.getData()).build();
            case STDERR -> ExecResponse.newBuilder().setStderr(f.getStderr()).build();
            case EXIT_CODE -> ExecResponse.newBuilder().setExitCode(f.getExitCode()).build();
            default -> null;
        }, r -> switch (r.getKindCase()) {
            case STDIN -> TunnelFrame.newBuilder().setData(r.getStdin()).build();
            case RESIZE -> TunnelFrame.newBuilder().setResize(r.getResize()).build();
            case CLOSE_STDIN -> TunnelFrame.newBuilder().setCloseWrite(true).build();
            default -> null;
        });
    }

    // ---- Port-forward and SSH

    @Override
    public StreamObserver<PortForwardRequest> portForward(StreamObserver<PortForwardResponse> responses) {
        return tcp(responses, SessionVerb.PORT_FORWARD);
    }

    @Override
    public StreamObserver<PortForwardRequest> ssh(StreamObserver<PortForwardResponse> responses) {
        return tcp(responses, SessionVerb.SSH);
    }

    private StreamObserver<PortForwardRequest> tcp(StreamObserver<PortForwardResponse> responses, SessionVerb verb) {
        return streaming(responses, PortForwardRequest::hasStart, first -> {
            OpsTarget target = first.getStart().getTarget();
            int port = first.getStart().getPort();
            if (verb == SessionVerb.SSH) {
                if (target.getNode().isEmpty()) {
                    throw Status.INVALID_ARGUMENT.withDescription("ssh needs start.target.node").asException();
                }
                return SessionRequest.newBuilder().setVerb(verb).setTarget(OpsTarget.newBuilder().setNode(target.getNode())).build();
            }
            if (port < 1 || port > 65535) {
                throw Status.INVALID_ARGUMENT.withDescription("start.port must be 1..65535").asException();
            }
            return SessionRequest.newBuilder().setVerb(verb).setTarget(target).setPort(port).build();
        }, f -> f.hasData() ? PortForwardResponse.newBuilder().setData(f.getData()).build() : null,
                r -> switch (r.getKindCase()) {
                    case DATA -> TunnelFrame.newBuilder().setData(r.getData()).build();
                    case CLOSE_WRITE -> TunnelFrame.newBuilder().setCloseWrite(true).build();
                    default -> null;
                });
    }

    @FunctionalInterface
    private interface Starter<Q> {
        SessionRequest start(Q first) throws StatusException;
    }

    /**
     * A bidirectional Ops call: the first message (which must be a start) opens the session, the
     * following ones become frames to the agent.
     */
    private <Q, R> StreamObserver<Q> streaming(StreamObserver<R> responses, java.util.function.Predicate<Q> isStart,
                                               Starter<Q> starter, Function<TunnelFrame, R> toOperator,
                                               Function<Q, TunnelFrame> toAgent) {
        ServerCallStreamObserver<R> call = (ServerCallStreamObserver<R>) responses;
        call.disableAutoRequest();
        call.setOnReadyThreshold(Frames.ON_READY_THRESHOLD);
        String subject = subject();
        final class Operator implements StreamObserver<Q> {
            private volatile HubSession session;
            private volatile boolean failed;

            @Override
            public void onNext(Q message) {
                HubSession s = session;
                if (s != null) {
                    TunnelFrame frame = toAgent.apply(message);
                    if (frame != null) {
                        s.fromOperator(frame);
                    } else {
                        call.request(1); // nothing to forward: ask for the next one
                    }
                    return;
                }
                if (failed) {
                    return;
                }
                try {
                    if (!isStart.test(message)) {
                        throw Status.INVALID_ARGUMENT.withDescription("the first message must be a start").asException();
                    }
                    SessionRequest request = resolve(starter.start(message));
                    session = hub.open(subject, request.getTarget().getNode(), request, call, toOperator, true);
                } catch (StatusException e) {
                    failed = true;
                    call.onError(e);
                }
            }

            @Override
            public void onError(Throwable t) {
                HubSession s = session;
                if (s != null) {
                    s.operatorCancelled();
                }
            }

            @Override
            public void onCompleted() {
                HubSession s = session;
                if (s != null) {
                    s.operatorHalfClosed();
                } else if (!failed) {
                    failed = true;
                    call.onError(Status.INVALID_ARGUMENT.withDescription("the call ended before its start message").asException());
                }
            }

            void ready() {
                HubSession s = session;
                if (s != null) {
                    s.operatorReady();
                }
            }

            void cancelled() {
                HubSession s = session;
                if (s != null) {
                    s.operatorCancelled();
                }
            }
        }
        Operator operator = new Operator();
        call.setOnReadyHandler(operator::ready);
        call.setOnCancelHandler(operator::cancelled);
        call.request(1);
        return operator;
    }

    private static OpsTarget requireReplica(OpsTarget target) throws StatusException {
        if (target.getReplica().isEmpty() || target.getNamespace().isEmpty()) {
            throw Status.INVALID_ARGUMENT.withDescription("target.namespace and target.replica are required").asException();
        }
        return target;
    }

    /** Fills in the node of a replica target. */
    private SessionRequest resolve(SessionRequest request) throws StatusException {
        OpsTarget target = request.getTarget();
        if (!target.getReplica().isEmpty()) {
            if (target.getNamespace().isEmpty()) {
                throw Status.INVALID_ARGUMENT.withDescription("target.namespace is required with target.replica").asException();
            }
            Optional<String> node = locator.nodeOf(target.getNamespace(), target.getReplica());
            if (node.isEmpty()) {
                throw Status.NOT_FOUND.withDescription("replica " + target.getNamespace() + "/" + target.getReplica()
                        + " is not assigned to any node").asException();
            }
            if (!target.getNode().isEmpty() && !target.getNode().equals(node.get())) {
                throw Status.INVALID_ARGUMENT.withDescription("replica " + target.getReplica() + " runs on " + node.get()
                        + ", not " + target.getNode()).asException();
            }
            return request.toBuilder().setTarget(target.toBuilder().setNode(node.get())).build();
        }
        if (target.getNode().isEmpty()) {
            throw Status.INVALID_ARGUMENT.withDescription("target.node or target.namespace + target.replica is required").asException();
        }
        return request;
    }
}
