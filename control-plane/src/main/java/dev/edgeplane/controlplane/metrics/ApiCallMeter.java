package dev.edgeplane.controlplane.metrics;

import io.grpc.ForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.spi.Prioritized;
import java.util.concurrent.TimeUnit;

/**
 * Times every public API call by method and status code ({@code edgeplane_api_calls_seconds}, whose
 * _count is the number of calls). Runs before the bearer check, so refused calls are counted too.
 * Method names come from the server's own services, so the label set is bounded.
 */
@GlobalInterceptor
@ApplicationScoped
public class ApiCallMeter implements ServerInterceptor, Prioritized {
    private final MeterRegistry registry;

    public ApiCallMeter(MeterRegistry registry) {
        this.registry = registry;
    }

    /** Quarkus calls higher priorities first: above the bearer check's default (0), so this one wraps it. */
    @Override
    public int getPriority() {
        return 1000;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        long started = System.nanoTime();
        String method = call.getMethodDescriptor().getFullMethodName();
        return next.startCall(new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
            @Override
            public void close(Status status, Metadata trailers) {
                Timer.builder("edgeplane.api.calls")
                        .description("Public API calls by method and status code")
                        .tag("method", method)
                        .tag("code", status.getCode().name())
                        .register(registry)
                        .record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
                super.close(status, trailers);
            }
        }, headers);
    }
}
