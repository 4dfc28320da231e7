package dev.edgeplane.controlplane.auth;

import io.grpc.Metadata;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Who a public API caller is, as audit records and tunnel grants name it: "admin", "token:&lt;name&gt;",
 * "oidc:&lt;user&gt;"; "anonymous" without a bearer token and "unauthenticated" with one that is not
 * valid. Never the token itself, nor anything derived from a token that did not authenticate.
 */
@ApplicationScoped
public class Subjects {
    private final Authenticator authenticator;

    public Subjects(Authenticator authenticator) {
        this.authenticator = authenticator;
    }

    public String of(Metadata headers) {
        if (headers.get(Authenticator.AUTHORIZATION) == null) {
            return "anonymous";
        }
        Authenticator.Result result = authenticator.authenticate(headers);
        return result.authenticated() ? result.identity().subject() : "unauthenticated";
    }
}
