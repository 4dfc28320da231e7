package dev.edgeplane.controlplane.api;

import com.google.protobuf.Any;
import com.google.rpc.Code;
import com.google.rpc.QuotaFailure;
import com.google.rpc.RetryInfo;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.spi.Prioritized;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Bounds the public API's calls in progress. Unary calls: edgeplane.limits.max-concurrent-calls.
 * Quarkus runs the {@code @Blocking} services on its worker pool (quarkus.thread-pool.max-threads)
 * whose queue has no bound, and a call refused by a full queue would never be answered; so calls past
 * the limit are refused here, on the event loop before any work, with RESOURCE_EXHAUSTED naming the
 * limit and a retry hint. Streams (WatchApps, WatchEvents, Logs, Exec, PortForward, Ssh) hold no
 * worker but hold a sender, a backlog and a socket for as long as they last: they count apart,
 * against edgeplane.limits.max-streams in all and edgeplane.limits.max-streams-per-caller per bearer
 * token, so one caller cannot take them all. A slot is freed when the call ends, however it ends.
 */
@GlobalInterceptor
@ApplicationScoped
public class ConcurrentCallLimit implements ServerInterceptor, Prioritized {
    static final String SUBJECT = "edgeplane.limits.max-concurrent-calls";
    static final String STREAMS_SUBJECT = "edgeplane.limits.max-streams";
    static final String STREAMS_PER_CALLER_SUBJECT = "edgeplane.limits.max-streams-per-caller";
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final int CALL_RETRY_MILLIS = 200;
    /** A stream slot frees only when some stream ends: come back later than for a unary call. */
    private static final int STREAM_RETRY_MILLIS = 5_000;

    private final int max;
    private final int maxStreams;
    private final int maxStreamsPerCaller;
    private final AtomicInteger inFlight = new AtomicInteger();
    private int streams; // guarded by this
    private final Map<String, Integer> streamsByCaller = new HashMap<>(); // guarded by this

    @jakarta.inject.Inject
    public ConcurrentCallLimit(ControlPlaneConfig config) {
        this(config.limits().maxConcurrentCalls(), config.limits().maxStreams(), config.limits().maxStreamsPerCaller());
    }

    /** A limit of 0 or less: not bounded. */
    ConcurrentCallLimit(int max, int maxStreams, int maxStreamsPerCaller) {
        this.max = max;
        this.maxStreams = maxStreams;
        this.maxStreamsPerCaller = maxStreamsPerCaller;
    }

    /** After the call meter (1000), which then counts refusals too, and before the bearer check (0). */
    @Override
    public int getPriority() {
        return 500;
    }

    int inFlight() {
        return inFlight.get();
    }

    synchronized int streams() {
        return streams;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        if (call.getMethodDescriptor().getType() != MethodDescriptor.MethodType.UNARY) {
            return admitStream(call, headers, next);
        }
        if (max <= 0) {
            return next.startCall(call, headers);
        }
        if (inFlight.incrementAndGet() > max) {
            inFlight.decrementAndGet();
            return refuse(call, SUBJECT, max + " public API calls are in progress", "retry shortly", CALL_RETRY_MILLIS);
        }
        return counted(call, headers, next, inFlight::decrementAndGet);
    }

    private <Q, R> ServerCall.Listener<Q> admitStream(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        String caller = callerOf(headers);
        synchronized (this) {
            if (maxStreams > 0 && streams >= maxStreams) {
                return refuse(call, STREAMS_SUBJECT, maxStreams + " streams (watches, logs, ops sessions) are open",
                        "retry later or end a stream", STREAM_RETRY_MILLIS);
            }
            if (maxStreamsPerCaller > 0 && streamsByCaller.getOrDefault(caller, 0) >= maxStreamsPerCaller) {
                return refuse(call, STREAMS_PER_CALLER_SUBJECT, "this caller has " + maxStreamsPerCaller + " streams open",
                        "end one of them first", STREAM_RETRY_MILLIS);
            }
            streams++;
            streamsByCaller.merge(caller, 1, Integer::sum);
        }
        return counted(call, headers, next, () -> {
            synchronized (this) {
                streams--;
                streamsByCaller.computeIfPresent(caller, (k, n) -> n <= 1 ? null : n - 1);
            }
        });
    }

    /** Who opens a stream: its bearer token (checked by the bearer interceptor right after this one). */
    private static String callerOf(Metadata headers) {
        String authorization = headers.get(AUTHORIZATION);
        return authorization == null ? "" : authorization.trim();
    }

    private static <Q, R> ServerCall.Listener<Q> refuse(ServerCall<Q, R> call, String subject, String description, String advice,
                                                          int retryMillis) {
        com.google.rpc.Status status = com.google.rpc.Status.newBuilder()
                .setCode(Code.RESOURCE_EXHAUSTED_VALUE)
                .setMessage(subject + ": " + description + "; " + advice)
                .addDetails(Any.pack(QuotaFailure.newBuilder().addViolations(QuotaFailure.Violation.newBuilder()
                        .setSubject(subject).setDescription(description)).build()))
                .addDetails(Any.pack(RetryInfo.newBuilder().setRetryDelay(com.google.protobuf.Duration.newBuilder()
                        .setSeconds(retryMillis / 1000).setNanos(retryMillis % 1000 * 1_000_000)).build()))
                .build();
        var refused = StatusProto.toStatusRuntimeException(status);
        call.close(refused.getStatus(), refused.getTrailers());
        return new ServerCall.Listener<>() {};
    }

    /** Starts the call; {@code onEnd} runs once when it ends: closed by the service, cancelled, or completed. */
    private static <Q, R> ServerCall.Listener<Q> counted(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next,
                                                          Runnable onEnd) {
        AtomicBoolean released = new AtomicBoolean();
        Runnable release = () -> {
            if (released.compareAndSet(false, true)) {
                onEnd.run();
            }
        };
        ServerCall<Q, R> counted = new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
            @Override
            public void close(Status status, Metadata trailers) {
                release.run();
                super.close(status, trailers);
            }
        };
        ServerCall.Listener<Q> listener;
        try {
            listener = next.startCall(counted, headers);
        } catch (RuntimeException e) {
            release.run();
            throw e;
        }
        return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
            @Override
            public void onCancel() {
                release.run();
                super.onCancel();
            }

            @Override
            public void onComplete() {
                release.run();
                super.onComplete();
            }
        };
    }
}
