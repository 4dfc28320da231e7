package dev.edgeplane.controlplane.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import dev.edgeplane.api.v1.AccessServiceGrpc;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppServiceGrpc;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateRoleBindingRequest;
import dev.edgeplane.api.v1.ListAppsRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Role;
import dev.edgeplane.api.v1.RoleBinding;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** OIDC bearer JWTs from a real (local) issuer: only well-signed, current tokens for our audience get in. */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
@TestProfile(OidcTestProfile.class)
class OidcAuthTest {
    OidcIssuerResource.Issuer issuer;
    private TestApi api;

    @BeforeEach
    void connect() {
        api = new TestApi();
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    private JWTClaimsSet.Builder claims(String user) {
        Instant now = Instant.now();
        return new JWTClaimsSet.Builder().issuer(issuer.url()).audience(OidcIssuerResource.AUDIENCE).subject(user)
                .issueTime(Date.from(now)).notBeforeTime(Date.from(now.minusSeconds(5))).expirationTime(Date.from(now.plusSeconds(300)))
                .claim("groups", List.of("platform", "everyone"));
    }

    private AppServiceGrpc.AppServiceBlockingStub apps(String token) {
        return api.withToken(AppServiceGrpc.newBlockingStub(api.channel), token);
    }

    private StatusRuntimeException refused(String token) {
        return assertThrows(StatusRuntimeException.class, () -> apps(token).listApps(ListAppsRequest.newBuilder().setNamespace("oidc-ns").build()));
    }

    @Test
    void aValidTokenOfABoundGroupIsAuthorisedAsItsUserSignedRs256OrEs256() {
        api.withToken(AccessServiceGrpc.newBlockingStub(api.channel), api.adminToken).createRoleBinding(CreateRoleBindingRequest.newBuilder()
                .setRoleBinding(RoleBinding.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("platform-viewers"))
                        .setRole(Role.VIEWER).setSubject("group:platform").setNamespace("oidc-ns")).build());
        String token = issuer.sign(claims("alice").build());
        TestApi.await("alice lists through her group", Duration.ofSeconds(10), () -> {
            try {
                apps(token).listApps(ListAppsRequest.newBuilder().setNamespace("oidc-ns").build());
                return true;
            } catch (StatusRuntimeException e) {
                assertEquals(Status.Code.PERMISSION_DENIED, e.getStatus().getCode(), "authenticated, only not yet bound: " + e.getStatus());
                return false;
            }
        });
        StatusRuntimeException denied = assertThrows(StatusRuntimeException.class, () -> apps(token).createApp(CreateAppRequest.newBuilder()
                .setApp(App.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace("oidc-ns").setName("x"))).build()));
        assertEquals(Status.Code.PERMISSION_DENIED, denied.getStatus().getCode());
        assertTrue(denied.getStatus().getDescription().startsWith("oidc:alice "), denied.getStatus().getDescription());

        apps(issuer.signEs256(claims("alice").build())).listApps(ListAppsRequest.newBuilder().setNamespace("oidc-ns").build());

        String outsider = issuer.sign(claims("bob").claim("groups", List.of("elsewhere")).build());
        assertEquals(Status.Code.PERMISSION_DENIED, refused(outsider).getStatus().getCode(), "valid, but bound to nothing");
    }

    @Test
    void aWrongAudienceAnExpiredTokenAnotherKeyAlgNoneAndHs256AreUnauthenticated() throws Exception {
        assertEquals(Status.Code.UNAUTHENTICATED, refused(issuer.sign(claims("alice").audience("another-app").build())).getStatus().getCode());
        assertEquals(Status.Code.UNAUTHENTICATED, refused(issuer.sign(claims("alice")
                .expirationTime(Date.from(Instant.now().minusSeconds(120))).build())).getStatus().getCode());
        assertEquals(Status.Code.UNAUTHENTICATED, refused(issuer.sign(claims("alice").issuer("http://127.0.0.1:1").build())).getStatus().getCode());
        assertEquals(Status.Code.UNAUTHENTICATED, refused(issuer.sign(claims("alice")
                .notBeforeTime(Date.from(Instant.now().plusSeconds(600))).build())).getStatus().getCode());

        RSAKey impostor = new RSAKeyGenerator(2048).keyID(issuer.key().getKeyID()).generate();
        assertEquals(Status.Code.UNAUTHENTICATED, refused(OidcIssuerResource.Issuer.sign(claims("alice").build(), impostor)).getStatus().getCode());

        Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
        String unsigned = b64.encodeToString("{\"alg\":\"none\",\"typ\":\"JWT\"}".getBytes(StandardCharsets.UTF_8)) + "."
                + b64.encodeToString(claims("alice").build().toString().getBytes(StandardCharsets.UTF_8)) + ".";
        assertEquals(Status.Code.UNAUTHENTICATED, refused(unsigned).getStatus().getCode());

        assertEquals(Status.Code.UNAUTHENTICATED, refused(hs256(claims("alice").build(),
                issuer.key().toPublicJWK().toRSAPublicKey().getEncoded())).getStatus().getCode());

        // Over our bound, under gRPC's 8 KiB metadata limit: it reaches the verifier, which does not parse it.
        String huge = issuer.sign(claims("alice").claim("padding", "x".repeat(OidcVerifier.MAX_TOKEN_CHARS * 3 / 4)).build());
        assertTrue(huge.length() > OidcVerifier.MAX_TOKEN_CHARS && huge.length() < 7500, huge.length() + " characters");
        assertEquals(Status.Code.UNAUTHENTICATED, refused(huge).getStatus().getCode(), "over the size bound: refused unparsed");
    }

    /** The classic confusion: an HMAC keyed with the issuer's public key. */
    private String hs256(JWTClaimsSet claims, byte[] secret) throws JOSEException {
        SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.HS256).keyID(issuer.key().getKeyID()).build(), claims);
        jwt.sign(new MACSigner(secret));
        return jwt.serialize();
    }
}
