package dev.edgeplane.controlplane.auth;

import dev.edgeplane.api.v1.Role;

/** What a public API method needs; roles grant sets of these (README "Identities and roles"). */
public enum Permission {
    /** Get/List/Watch, Secret values excepted. */
    READ(Role.VIEWER),
    /** GetSecret: it returns the values. */
    READ_SECRET_VALUES(Role.DEPLOYER),
    /** Create/update/delete of workloads and their configuration. */
    WRITE(Role.DEPLOYER),
    /** The OpsService: logs, exec, port-forward, ssh, HTTP proxy. */
    OPERATE(Role.OPERATOR),
    /** Nodes, quotas, join tokens, API tokens, role bindings, audit. */
    ADMIN(Role.ADMIN);

    private final Role minimumRole;

    Permission(Role minimumRole) {
        this.minimumRole = minimumRole;
    }

    /** The least role that grants it, for error messages. */
    public Role minimumRole() {
        return minimumRole;
    }

    /** True when {@code role} grants this permission. */
    public boolean grantedBy(Role role) {
        switch (role) {
            case ADMIN:
                return true;
            case DEPLOYER:
                return this == READ || this == READ_SECRET_VALUES || this == WRITE;
            case OPERATOR:
                return this == READ || this == OPERATE;
            case VIEWER:
                return this == READ;
            default:
                return false;
        }
    }
}
