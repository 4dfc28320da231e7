package dev.edgeplane.tunnel.hub;

import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.api.v1.SessionRequest;

/** How a session's target reads in logs and audit records. */
public final class Targets {
    private Targets() {}

    public static String describe(SessionRequest request) {
        OpsTarget t = request.getTarget();
        String where = t.getReplica().isEmpty() ? "node/" + t.getNode()
                : t.getNamespace() + "/" + t.getReplica() + (t.getContainer().isEmpty() ? "" : "/" + t.getContainer());
        return switch (request.getVerb()) {
            case PORT_FORWARD -> where + ":" + request.getPort();
            case HTTP_PROXY -> where + ":" + request.getHttp().getPort() + request.getHttp().getPath();
            case EXEC -> where + " " + String.join(" ", request.getExec().getCommandList());
            default -> where;
        };
    }
}
