package dev.edgeplane.tunnel.hub;

import dev.edgeplane.api.v1.TunnelFrame;

/** Small helpers on tunnel frames. */
public final class Frames {
    /**
     * Bytes a stream may queue before it stops being "ready": 16 chunks, so a session pipelines
     * instead of moving one chunk per round of readiness callbacks.
     */
    public static final int ON_READY_THRESHOLD = 1024 * 1024;

    /**
     * Largest data frame either end makes from a socket or a pipe: big enough that per-message costs
     * (headers, callbacks, a wake-up per hop) vanish next to the copy, small enough that a frame is
     * one HTTP/2 window update's worth and no end holds much per session.
     */
    public static final int CHUNK_BYTES = 64 * 1024;

    /**
     * Messages each relay asks for ahead of what it has passed on (the hub from both sides, the agent
     * from the hub). At CHUNK_BYTES a frame this is 1 MiB in flight per hop, grpc-netty's default
     * stream window (which its BDP tuning grows on long links), so a sender is stopped by the
     * receiver's window, not by a request that has not come yet; with a wake-up per hop costing
     * milliseconds on a busy host, 4 frames ahead (the old depth) left the pipeline empty between
     * wake-ups. Readiness still stops the flow: at most this many more are in flight.
     */
    public static final int PREFETCH = 16;

    private Frames() {}

    public static int payloadSize(TunnelFrame frame) {
        return switch (frame.getKindCase()) {
            case DATA -> frame.getData().size();
            case STDERR -> frame.getStderr().size();
            case HTTP_RESPONSE -> frame.getHttpResponse().getBody().size();
            default -> 0;
        };
    }
}
