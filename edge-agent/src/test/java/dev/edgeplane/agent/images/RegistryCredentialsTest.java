package dev.edgeplane.agent.images;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.pods.Pods;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.cri.v1.AuthConfig;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.Test;

class RegistryCredentialsTest {
    private static String user(RegistryCredentials.Pull pull) {
        return pull.auth().map(AuthConfig::getUsername).orElse("(none)");
    }

    @Test
    void imagesWithoutARegistryAreDockerHubsAndItsNamesAreOneRegistry() {
        assertEquals(new RegistryCredentials.ImageName("docker.io", "library/busybox"), RegistryCredentials.ImageName.parse("busybox"));
        assertEquals(new RegistryCredentials.ImageName("docker.io", "team/app"), RegistryCredentials.ImageName.parse("team/app:1.2"));
        assertEquals(new RegistryCredentials.ImageName("docker.io", "library/busybox"),
                RegistryCredentials.ImageName.parse("index.docker.io/library/busybox@sha256:abc"));
        assertEquals(new RegistryCredentials.ImageName("r.example:5000", "a/b"), RegistryCredentials.ImageName.parse("R.example:5000/a/b:tag"));
        assertEquals(new RegistryCredentials.ImageName("localhost", "edgeplane/busybox"),
                RegistryCredentials.ImageName.parse("localhost/edgeplane/busybox:1"));

        for (String key : List.of("docker.io", "index.docker.io", "https://index.docker.io/v1/", "http://docker.io/")) {
            RegistryCredentials.Pull pull = RegistryCredentials.forImage("busybox:1", List.of("hub"),
                    List.of(Pods.registrySecret("hub", Pods.dockerConfigJson(key, "u", "p"))));
            assertEquals("u", user(pull), key);
            assertEquals("p", pull.auth().orElseThrow().getPassword(), key);
            assertEquals("docker.io", pull.registry());
            assertEquals("hub", pull.secret());
            assertTrue(pull.problems().isEmpty(), key);
        }
    }

    @Test
    void keysMatchHostPortAndAWholeSegmentPathPrefix() {
        assertEquals(new RegistryCredentials.RegistryKey("r.example:5000", "team"), RegistryCredentials.RegistryKey.parse("https://R.example:5000/team/"));
        assertEquals(new RegistryCredentials.RegistryKey("r.example", "team/x"), RegistryCredentials.RegistryKey.parse("r.example/v2/team/x"));
        RegistryCredentials.ImageName image = RegistryCredentials.ImageName.parse("r.example:5000/team/app:1");
        assertTrue(RegistryCredentials.RegistryKey.parse("r.example:5000").matches(image));
        assertTrue(RegistryCredentials.RegistryKey.parse("http://r.example:5000/team").matches(image));
        assertTrue(RegistryCredentials.RegistryKey.parse("r.example:5000/team/app").matches(image));
        assertFalse(RegistryCredentials.RegistryKey.parse("r.example").matches(image), "the port is part of the registry");
        assertFalse(RegistryCredentials.RegistryKey.parse("r.example:5001").matches(image));
        assertFalse(RegistryCredentials.RegistryKey.parse("r.example:5000/tea").matches(image), "whole path segments only");
        assertFalse(RegistryCredentials.RegistryKey.parse("r.example:5000/team/app/sub").matches(image));
        assertFalse(RegistryCredentials.RegistryKey.parse("other.example:5000").matches(image));
    }

    @Test
    void theLongestPathWinsAndTheFirstSecretBreaksTies() {
        String image = "r.example/team/app:1";
        ConfigData host = Pods.registrySecret("host", Pods.dockerConfigJson("r.example", "host-user", "p"));
        ConfigData team = Pods.registrySecret("team", Pods.dockerConfigJson("https://r.example/team", "team-user", "p"));
        ConfigData other = Pods.registrySecret("other", Pods.dockerConfigJson("r.example", "other-user", "p"));
        List<ConfigData> all = List.of(other, team, host); // config_data order does not matter

        assertEquals("team-user", user(RegistryCredentials.forImage(image, List.of("host", "team", "other"), all)));
        assertEquals("team-user", user(RegistryCredentials.forImage(image, List.of("team", "host"), all)));
        assertEquals("host-user", user(RegistryCredentials.forImage(image, List.of("host", "other"), all)));
        RegistryCredentials.Pull tie = RegistryCredentials.forImage(image, List.of("other", "host"), all);
        assertEquals("other-user", user(tie));
        assertEquals("other", tie.secret());

        // Within one Secret too: the longer key, wherever it stands.
        ConfigData both = Pods.registrySecret("both", "{\"auths\": {\"r.example\": {\"username\": \"short\", \"password\": \"p\"},"
                + " \"r.example/team/app\": {\"username\": \"long\", \"password\": \"p\"}}}");
        assertEquals("long", user(RegistryCredentials.forImage(image, List.of("both"), List.of(both))));

        // Nothing for this registry: anonymous, and no problem either.
        RegistryCredentials.Pull none = RegistryCredentials.forImage("elsewhere.example/app", List.of("host"), all);
        assertTrue(none.auth().isEmpty());
        assertTrue(none.problems().isEmpty());
        assertEquals("elsewhere.example", none.registry());
    }

    @Test
    void authIsBase64OfUserColonPasswordAndWinsOverUsername() {
        String auth = Base64.getEncoder().encodeToString("alice:pa:ss".getBytes(StandardCharsets.UTF_8));
        ConfigData secret = Pods.registrySecret("s", "{\"auths\": {\"r.example\": {\"auth\": \"" + auth
                + "\", \"username\": \"ignored\", \"password\": \"ignored\", \"email\": \"a@example.com\"}}}");
        AuthConfig config = RegistryCredentials.forImage("r.example/app", List.of("s"), List.of(secret)).auth().orElseThrow();
        assertEquals("alice", config.getUsername());
        assertEquals("pa:ss", config.getPassword(), "only the first colon splits");
        assertEquals("", config.getServerAddress());

        for (String bad : List.of("not base64!", Base64.getEncoder().encodeToString("no-colon".getBytes(StandardCharsets.UTF_8)))) {
            RegistryCredentials.Pull pull = RegistryCredentials.forImage("r.example/app", List.of("s"),
                    List.of(Pods.registrySecret("s", "{\"auths\": {\"r.example\": {\"auth\": \"" + bad + "\"}}}")));
            assertTrue(pull.auth().isEmpty());
            assertEquals(1, pull.problems().size());
            assertTrue(pull.problems().get(0).contains("\"auth\" is not base64"), pull.problems().toString());
        }
    }

    @Test
    void missingAndUnreadableSecretsAreProblemsNeverExceptionsAndNeverQuoteTheirContents() {
        String image = "r.example/app";
        List<ConfigData> data = List.of(
                ConfigData.newBuilder().setRef(ConfigRef.newBuilder().setKind(ConfigRef.Kind.SECRET).setName("gone")).setMissing(true).build(),
                Pods.registrySecret("broken", "{\"auths\": {\"r.example\": {\"password\": \"hunter2\""),
                Pods.registrySecret("array", "[\"hunter2\"]"),
                Pods.registrySecret("noentry", "{\"auths\": {\"r.example\": {\"password\": \"hunter2\"}}}"),
                Pods.registrySecret("number", "{\"auths\": {\"r.example\": {\"username\": 42}}}"),
                Pods.secret("opaque", Secret.Type.OPAQUE, Pods.dockerConfigJson("r.example", "u", "hunter2")),
                ConfigData.newBuilder().setRef(ConfigRef.newBuilder().setKind(ConfigRef.Kind.CONFIG_MAP).setName("cm")).build(),
                Pods.registrySecret("good", Pods.dockerConfigJson("r.example", "u", "hunter2")));
        RegistryCredentials.Pull pull = RegistryCredentials.forImage(image,
                List.of("gone", "absent", "cm", "broken", "array", "noentry", "number", "opaque", "good"), data);
        assertEquals("u", user(pull), "the good one still counts");
        assertEquals("good", pull.secret());
        List<String> problems = pull.problems();
        assertEquals(List.of(
                "image pull secret \"gone\" does not exist; pulling without it",
                "image pull secret \"absent\" does not exist; pulling without it",
                "image pull secret \"cm\" does not exist; pulling without it",
                "image pull secret \"broken\" has a .dockerconfigjson that is not valid JSON (at line 1 column 47); ignored",
                "image pull secret \"array\" has a .dockerconfigjson without an \"auths\" object; ignored",
                "image pull secret \"noentry\" has an entry for \"r.example\" with neither \"auth\" nor \"username\"; ignored",
                "image pull secret \"number\" has an entry for \"r.example\" whose \"username\" is not a string; ignored",
                "image pull secret \"opaque\" is of type OPAQUE, not REGISTRY_CREDENTIALS; ignored"), problems);
        assertFalse(String.join(" ", problems).contains("hunter2"));
        assertFalse(pull.toString().contains("hunter2"), pull.toString());

        ConfigData noKey = ConfigData.newBuilder().setRef(ConfigRef.newBuilder().setKind(ConfigRef.Kind.SECRET).setName("nokey"))
                .setSecretType(Secret.Type.REGISTRY_CREDENTIALS).build();
        assertEquals(List.of("image pull secret \"nokey\" has no .dockerconfigjson; ignored"),
                RegistryCredentials.forImage(image, List.of("nokey"), List.of(noKey)).problems());
    }

    @Test
    void aRefusedPullSaysWhetherCredentialsWereGiven() {
        String refused = "UNKNOWN failed to pull and unpack image \"r.example/app:1\": failed to resolve reference: "
                + "unexpected status from HEAD request to http://r.example/v2/app/manifests/1: 401 Unauthorized";
        RegistryCredentials.Pull with = RegistryCredentials.forImage("r.example/app:1", List.of("s", "gone"),
                List.of(Pods.registrySecret("s", Pods.dockerConfigJson("r.example", "u", "p"))));
        String message = with.explain(refused);
        assertTrue(message.startsWith("registry r.example refused the credentials of image pull secret \"s\" ("), message);
        assertTrue(message.endsWith("401 Unauthorized); image pull secret \"gone\" does not exist; pulling without it"), message);

        RegistryCredentials.Pull without = RegistryCredentials.forImage("r.example/app:1", List.of(), List.of());
        assertTrue(without.explain(refused).startsWith(
                "registry r.example refused the pull: it needs credentials and no image pull secret has any for it"), without.explain(refused));

        String notFound = "NOT_FOUND failed to pull and unpack image: not found";
        assertEquals(notFound, without.explain(notFound), "other failures pass through");
    }
}
