package dev.edgeplane.tunnel.hub;

import dev.edgeplane.api.v1.TunnelFrame;

/** Small helpers on tunnel frames. */
public final class Frames {
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
