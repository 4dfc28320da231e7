package dev.edgeplane.controlplane.auth;

import java.util.List;

/**
 * An authenticated caller: its subject ("admin", "token:&lt;name&gt;", "oidc:&lt;user&gt;") and, for
 * OIDC callers, its groups as binding subjects ("group:&lt;g&gt;").
 */
public record Identity(String subject, List<String> groups) {
    /** The subject of the bootstrap admin token: admin everywhere, whatever the bindings say. */
    public static final String ADMIN = "admin";

    public Identity {
        groups = List.copyOf(groups);
    }

    public static Identity of(String subject) {
        return new Identity(subject, List.of());
    }

    public boolean isBootstrapAdmin() {
        return ADMIN.equals(subject);
    }
}
