package dev.edgeplane.controlplane.auth;

import io.quarkus.test.junit.QuarkusTestProfile;
import java.util.List;

/** OIDC on, against the local issuer of {@link OidcIssuerResource}. */
public class OidcTestProfile implements QuarkusTestProfile {
    @Override
    public List<TestResourceEntry> testResources() {
        return List.of(new TestResourceEntry(OidcIssuerResource.class));
    }
}
