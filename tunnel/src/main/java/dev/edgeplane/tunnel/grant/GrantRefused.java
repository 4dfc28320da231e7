package dev.edgeplane.tunnel.grant;

import io.grpc.Status;

/** Why an agent will not open a session; carries the gRPC status the operator sees. */
public final class GrantRefused extends Exception {
    private final Status.Code code;

    public GrantRefused(Status.Code code, String message) {
        super(message, null, false, false);
        this.code = code;
    }

    public Status status() {
        return Status.fromCode(code).withDescription(getMessage());
    }
}
