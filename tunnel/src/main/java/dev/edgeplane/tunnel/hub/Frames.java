package dev.edgeplane.tunnel.hub;

import dev.edgeplane.api.v1.TunnelFrame;

/** Small helpers on tunnel frames. */
public final class Frames {
    /**
     * Bytes a stream may queue before it stops being "ready": several 32 KiB chunks, so a session
     * pipelines instead of moving one chunk per round of readiness callbacks.
     */
    public static final int ON_READY_THRESHOLD = 512 * 1024;

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
