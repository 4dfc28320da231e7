package dev.edgeplane.controlplane.auth;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.ApiToken;
import dev.edgeplane.api.v1.StoredApiToken;
import io.grpc.Metadata;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Instant;
import java.util.Optional;

/**
 * Who a bearer token is: a named API token (by its sha256, in memory), the bootstrap admin token, or,
 * when OIDC is configured, a JWT of the issuer. Never logs or returns the token.
 */
@ApplicationScoped
public class Authenticator {
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    /** The outcome: an identity, or why not (safe to send to the caller). */
    public record Result(Identity identity, String problem) {
        static Result ok(Identity identity) {
            return new Result(identity, null);
        }

        static Result refused(String problem) {
            return new Result(null, problem);
        }

        public boolean authenticated() {
            return identity != null;
        }
    }

    private final AdminTokens adminTokens;
    private final AccessIndex index;
    private final OidcVerifier oidc;

    public Authenticator(AdminTokens adminTokens, AccessIndex index, OidcVerifier oidc) {
        this.adminTokens = adminTokens;
        this.index = index;
        this.oidc = oidc;
    }

    public Result authenticate(Metadata headers) {
        String header = headers.get(AUTHORIZATION);
        if (header == null || header.isBlank()) {
            return Result.refused("missing \"authorization: Bearer <token>\" metadata");
        }
        if (!header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return Result.refused("authorization metadata must be \"Bearer <token>\"");
        }
        return authenticate(header.substring(7).trim());
    }

    public Result authenticate(String token) {
        if (token.isEmpty()) {
            return Result.refused("empty bearer token");
        }
        Optional<StoredApiToken> stored = index.tokenByHash(AdminTokens.sha256(token));
        if (stored.isPresent()) {
            ApiToken t = stored.get().getToken();
            String name = t.getMetadata().getName();
            if (t.hasRevokeTime()) {
                return Result.refused("API token \"" + name + "\" was revoked");
            }
            if (!Instant.now().isBefore(instant(t.getExpireTime()))) {
                return Result.refused("API token \"" + name + "\" expired at " + instant(t.getExpireTime()));
            }
            return Result.ok(Identity.of("token:" + name));
        }
        // A JWT is three dot-separated parts; the admin and API tokens have no dots.
        if (oidc.enabled() && token.chars().filter(c -> c == '.').count() == 2) {
            return oidc.verify(token).map(Result::ok).orElseGet(() -> Result.refused("invalid or expired OIDC token"));
        }
        if (adminTokens.isValid(token)) {
            return Result.ok(Identity.of(Identity.ADMIN));
        }
        return Result.refused("invalid bearer token");
    }

    static Instant instant(Timestamp t) {
        return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
    }
}
