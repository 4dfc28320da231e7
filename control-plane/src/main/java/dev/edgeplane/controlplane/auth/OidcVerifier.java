package dev.edgeplane.controlplane.auth;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.source.ImmutableJWKSet;
import com.nimbusds.jose.jwk.source.JWKSource;
import com.nimbusds.jose.jwk.source.JWKSourceBuilder;
import com.nimbusds.jose.proc.DefaultJOSEObjectTypeVerifier;
import com.nimbusds.jose.proc.JWSVerificationKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jose.util.DefaultResourceRetriever;
import com.nimbusds.jose.util.JSONObjectUtils;
import com.nimbusds.jose.util.ResourceRetriever;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier;
import com.nimbusds.jwt.proc.DefaultJWTProcessor;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.File;
import java.net.URI;
import java.net.URL;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.jboss.logging.Logger;

/**
 * Verifies OIDC bearer JWTs when {@code edgeplane.oidc.issuer} is set: an RS256 or ES256 signature by
 * one of the issuer's keys (never "none" or an HMAC, whatever the header says), the exact iss, the
 * configured aud, exp and nbf with 30 s of skew. Keys come from {@code edgeplane.oidc.jwks-file} or
 * the issuer's jwks_uri (discovered on first use, so a control plane starts while the IdP is down),
 * fetched with timeouts and a size cap, cached and refetched at most every 30 s for an unknown key.
 */
@ApplicationScoped
public class OidcVerifier {
    private static final Logger LOG = Logger.getLogger(OidcVerifier.class);
    /**
     * A JWT longer than this is refused unparsed. IdP tokens are a few KiB at most, and gRPC's default
     * 8 KiB metadata limit refuses much longer ones before they get here.
     */
    static final int MAX_TOKEN_CHARS = 6 * 1024;
    static final int MAX_GROUPS = 256;
    static final int MAX_CLAIM_CHARS = 256;
    private static final int CONNECT_TIMEOUT_MS = 2_000;
    private static final int READ_TIMEOUT_MS = 3_000;
    private static final int MAX_DOCUMENT_BYTES = 256 * 1024;
    private static final Duration REDISCOVER_AFTER_FAILURE = Duration.ofSeconds(30);
    private static final Set<JWSAlgorithm> ALGORITHMS = Set.of(JWSAlgorithm.RS256, JWSAlgorithm.ES256);

    private final ControlPlaneConfig.Oidc config;
    private final ResourceRetriever retriever = new DefaultResourceRetriever(CONNECT_TIMEOUT_MS, READ_TIMEOUT_MS, MAX_DOCUMENT_BYTES);
    private volatile DefaultJWTProcessor<SecurityContext> processor;
    private Instant lastDiscovery = Instant.EPOCH;

    public OidcVerifier(ControlPlaneConfig config) {
        this.config = config.oidc();
        if (this.config.issuer().isPresent() && this.config.audience().isEmpty()) {
            throw new IllegalStateException("edgeplane.oidc.issuer is set but edgeplane.oidc.audience is not: "
                    + "without an audience any token the issuer minted for another application would be accepted");
        }
    }

    public boolean enabled() {
        return config.issuer().isPresent();
    }

    /** The identity the token carries, or empty with the reason logged at debug (the caller sees only UNAUTHENTICATED). */
    public Optional<Identity> verify(String token) {
        if (!enabled() || token.length() > MAX_TOKEN_CHARS) {
            return Optional.empty();
        }
        DefaultJWTProcessor<SecurityContext> p = processor();
        if (p == null) {
            return Optional.empty();
        }
        JWTClaimsSet claims;
        try {
            claims = p.process(token, null);
        } catch (Exception e) {
            LOG.debugf("OIDC token refused: %s", e.getMessage());
            return Optional.empty();
        }
        Object user = claims.getClaim(config.usernameClaim());
        if (!(user instanceof String name) || name.isEmpty() || name.length() > MAX_CLAIM_CHARS) {
            LOG.debugf("OIDC token refused: no usable %s claim", config.usernameClaim());
            return Optional.empty();
        }
        return Optional.of(new Identity("oidc:" + name, groups(claims.getClaim(config.groupsClaim()))));
    }

    private static List<String> groups(Object claim) {
        List<String> groups = new ArrayList<>();
        if (claim instanceof String g) {
            claim = List.of(g);
        }
        if (claim instanceof List<?> list) {
            for (Object g : list) {
                if (groups.size() == MAX_GROUPS) {
                    break;
                }
                if (g instanceof String s && !s.isEmpty() && s.length() <= MAX_CLAIM_CHARS) {
                    groups.add("group:" + s);
                }
            }
        }
        return groups;
    }

    private DefaultJWTProcessor<SecurityContext> processor() {
        DefaultJWTProcessor<SecurityContext> p = processor;
        if (p != null) {
            return p;
        }
        synchronized (this) {
            if (processor == null && Duration.between(lastDiscovery, Instant.now()).compareTo(REDISCOVER_AFTER_FAILURE) >= 0) {
                lastDiscovery = Instant.now();
                try {
                    processor = build(keys());
                } catch (Exception e) {
                    LOG.warnf("cannot load the OIDC issuer's keys (%s); OIDC tokens are refused until it works, retried every %ds",
                            e.getMessage(), REDISCOVER_AFTER_FAILURE.toSeconds());
                }
            }
            return processor;
        }
    }

    private JWKSource<SecurityContext> keys() throws Exception {
        if (config.jwksFile().isPresent()) {
            return new ImmutableJWKSet<>(JWKSet.load(new File(config.jwksFile().get())));
        }
        String issuer = config.issuer().orElseThrow();
        URL discovery = URI.create(issuer.replaceAll("/+$", "") + "/.well-known/openid-configuration").toURL();
        Map<String, Object> document = JSONObjectUtils.parse(retriever.retrieveResource(discovery).getContent());
        if (!issuer.equals(document.get("issuer"))) {
            throw new IllegalStateException(discovery + " names issuer " + document.get("issuer") + ", not " + issuer);
        }
        if (!(document.get("jwks_uri") instanceof String jwksUri)) {
            throw new IllegalStateException(discovery + " has no jwks_uri");
        }
        long ttl = config.jwksRefresh().toMillis();
        return JWKSourceBuilder.<SecurityContext>create(URI.create(jwksUri).toURL(), retriever)
                .cache(ttl, READ_TIMEOUT_MS + CONNECT_TIMEOUT_MS)
                .refreshAheadCache(false)
                .rateLimited(REDISCOVER_AFTER_FAILURE.toMillis())
                .retrying(false)
                .build();
    }

    private DefaultJWTProcessor<SecurityContext> build(JWKSource<SecurityContext> keys) {
        DefaultJWTProcessor<SecurityContext> p = new DefaultJWTProcessor<>();
        p.setJWSKeySelector(new JWSVerificationKeySelector<>(ALGORITHMS, keys));
        // ID tokens say "JWT" or nothing; OAuth access tokens (RFC 9068) say "at+jwt".
        p.setJWSTypeVerifier(new DefaultJOSEObjectTypeVerifier<>(JOSEObjectType.JWT, new JOSEObjectType("at+jwt"), null));
        DefaultJWTClaimsVerifier<SecurityContext> claims = new DefaultJWTClaimsVerifier<>(
                config.audience().orElseThrow(),
                new JWTClaimsSet.Builder().issuer(config.issuer().orElseThrow()).build(),
                Set.of("exp", config.usernameClaim()));
        claims.setMaxClockSkew(30);
        p.setJWTClaimsSetVerifier(claims);
        return p;
    }
}
