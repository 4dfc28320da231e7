package dev.edgeplane.tunnel.hub;

import dev.edgeplane.api.v1.TunnelFrame;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.function.Function;

/**
 * The operator's side of a session: one Ops call, whatever its message types. Frames from the agent
 * are converted to the call's response type ({@code null}: nothing to send for that frame).
 */
final class OperatorEnd<R> {
    private final ServerCallStreamObserver<R> call;
    private final Function<TunnelFrame, R> convert;
    /** False for calls whose requests all arrived with the call (server streaming, unary). */
    private final boolean streamsRequests;

    OperatorEnd(ServerCallStreamObserver<R> call, Function<TunnelFrame, R> convert, boolean streamsRequests) {
        this.call = call;
        this.convert = convert;
        this.streamsRequests = streamsRequests;
    }

    /** The number of bytes sent. */
    int send(TunnelFrame frame) {
        R message = convert.apply(frame);
        if (message == null) {
            return 0;
        }
        try {
            call.onNext(message);
        } catch (RuntimeException e) {
            // cancelled under us: the cancel handler ends the session
        }
        return Frames.payloadSize(frame);
    }

    boolean isReady() {
        return call.isReady();
    }

    void request() {
        if (streamsRequests) {
            call.request(1);
        }
    }

    void complete() {
        try {
            call.onCompleted();
        } catch (RuntimeException e) {
            // already cancelled
        }
    }

    void fail(Status status) {
        try {
            call.onError(status.asRuntimeException());
        } catch (RuntimeException e) {
            // already cancelled
        }
    }
}
