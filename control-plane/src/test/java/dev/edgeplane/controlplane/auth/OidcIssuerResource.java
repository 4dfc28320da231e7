package dev.edgeplane.controlplane.auth;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.ECDSASigner;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.ECKeyGenerator;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import com.sun.net.httpserver.HttpServer;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * A real OIDC issuer for the control plane under test: an RSA key made here, its discovery document
 * and JWKS served over HTTP on a free local port. The test gets the {@link Issuer} injected to sign with.
 */
public class OidcIssuerResource implements QuarkusTestResourceLifecycleManager {
    public static final String AUDIENCE = "edgeplane-test";

    /** Signs tokens as the issuer: RS256 with {@code key}; its JWKS also holds {@code ecKey} for ES256. */
    public record Issuer(String url, RSAKey key, ECKey ecKey) {
        public String signEs256(JWTClaimsSet claims) {
            try {
                SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.ES256).keyID(ecKey.getKeyID()).build(), claims);
                jwt.sign(new ECDSASigner(ecKey));
                return jwt.serialize();
            } catch (JOSEException e) {
                throw new IllegalStateException(e);
            }
        }

        public String sign(JWTClaimsSet claims) {
            return sign(claims, key);
        }

        public static String sign(JWTClaimsSet claims, RSAKey with) {
            try {
                SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.RS256).keyID(with.getKeyID()).build(), claims);
                jwt.sign(new RSASSASigner(with));
                return jwt.serialize();
            } catch (JOSEException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    private HttpServer server;
    private Issuer issuer;

    @Override
    public Map<String, String> start() {
        try {
            RSAKey key = new RSAKeyGenerator(2048).keyID("test-key-1").generate();
            ECKey ecKey = new ECKeyGenerator(Curve.P_256).keyID("test-ec-1").generate();
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
            String url = "http://127.0.0.1:" + server.getAddress().getPort();
            serve("/.well-known/openid-configuration", "{\"issuer\":\"" + url + "\",\"jwks_uri\":\"" + url + "/jwks\"}");
            serve("/jwks", new JWKSet(List.of(key.toPublicJWK(), ecKey.toPublicJWK())).toString());
            server.start();
            issuer = new Issuer(url, key, ecKey);
            return Map.of("edgeplane.oidc.issuer", url, "edgeplane.oidc.audience", AUDIENCE);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (JOSEException e) {
            throw new IllegalStateException(e);
        }
    }

    private void serve(String path, String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        server.createContext(path, exchange -> {
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
    }

    @Override
    public void inject(TestInjector testInjector) {
        testInjector.injectIntoFields(issuer, new TestInjector.MatchesType(Issuer.class));
    }

    @Override
    public void stop() {
        if (server != null) {
            server.stop(0);
        }
    }
}
