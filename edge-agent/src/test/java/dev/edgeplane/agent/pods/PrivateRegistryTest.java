package dev.edgeplane.agent.pods;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.Await;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.LocalObjectReference;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.testkit.Registry;
import dev.edgeplane.testkit.TestImages;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Image pull secrets against a real containerd and a real private registry (distribution with
 * htpasswd basic auth over plain HTTP on 127.0.0.1).
 */
class PrivateRegistryTest extends ReconcilerHarness {
    private static final String USER = "puller";
    private static final String PASSWORD = "pull-Secret-1";
    private static Registry registry;

    @BeforeAll
    static void startRegistry() {
        registry = Registry.withBasicAuth(USER, PASSWORD);
    }

    @AfterAll
    static void stopRegistry() {
        if (registry != null) {
            registry.close();
        }
    }

    /** A pod of one container (and an init container when asked) from {@code image}, naming {@code secrets}. */
    private static Assignment pod(String ns, String image, boolean withInit, List<String> secrets, ConfigData... configData) {
        PodTemplate.Builder template = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("main", image, "sleep", "3600"))
                .toBuilder();
        if (withInit) {
            template.addInitContainers(Pods.container("init", image, "true"));
        }
        secrets.forEach(name -> template.addImagePullSecrets(LocalObjectReference.newBuilder().setName(name)));
        return Pods.assignment(ns, "web", 0, template.build()).toBuilder().addAllConfigData(List.of(configData)).build();
    }

    /** Waits for the pull to fail with ErrImagePull and this in the message; then nothing of the pod runs. */
    private ReplicaStatus awaitErrImagePull(String ns, String image, String messagePart) {
        String key = ns + "/web-0";
        Await.until(WAIT, "ErrImagePull naming " + messagePart, () -> {
            ReplicaStatus s = replica(key);
            return s.getPhase() == ReplicaStatus.Phase.PENDING && s.getContainersCount() == 1
                    && s.getContainers(0).getReason().equals("ErrImagePull") && s.getMessage().contains(messagePart);
        }, () -> String.valueOf(replica(key)));
        assertTrue(Pods.containers(cri, ns).isEmpty(), "no container created");
        assertTrue(cri.image(image).isEmpty(), "image not pulled");
        return replica(key);
    }

    @Test
    void aPodWhoseSecretHoldsTheCredentialsPullsItsImagesAndRuns() throws Exception {
        String ns = "private-ok";
        String image = registry.push(TestImages.BUSYBOX.archive(), "private/busybox:ok");
        ConfigData secret = Pods.registrySecret("regcred",
                Pods.dockerConfigJson("http://" + registry.address() + "/", USER, PASSWORD));
        // The init container's image is pulled with the same credentials.
        desire(pod(ns, image, true, List.of("regcred"), secret));
        Await.until(WAIT, "running from the private registry", () -> Pods.running(cri, ns).size() == 1
                && replica(ns + "/web-0").getPhase() == ReplicaStatus.Phase.RUNNING, () -> String.valueOf(replica(ns + "/web-0")));
        assertTrue(cri.image(image).isPresent());
        assertTrue(events.stream().anyMatch(e -> e.startsWith("Pulled: pulled image " + image)), events.toString());
        assertTrue(events.stream().noneMatch(e -> e.contains(PASSWORD)), "no event holds the password");
    }

    @Test
    void withoutCredentialsTheRegistryRefusesAndNothingRuns() throws Exception {
        String ns = "private-none";
        String image = registry.push(TestImages.BUSYBOX.archive(), "private/busybox:none");
        desire(pod(ns, image, false, List.of()));
        ReplicaStatus s = awaitErrImagePull(ns, image, "registry " + registry.address()
                + " refused the pull: it needs credentials and no image pull secret has any for it");
        assertTrue(s.getMessage().contains("pulling image " + image), s.getMessage());
    }

    @Test
    void aWrongPasswordIsRefusedNamingTheSecret() throws Exception {
        String ns = "private-wrong";
        String image = registry.push(TestImages.BUSYBOX.archive(), "private/busybox:wrong");
        ConfigData secret = Pods.registrySecret("regcred",
                Pods.dockerConfigJson(registry.address(), USER, "not-the-password"));
        desire(pod(ns, image, false, List.of("regcred"), secret));
        ReplicaStatus s = awaitErrImagePull(ns, image,
                "registry " + registry.address() + " refused the credentials of image pull secret \"regcred\"");
        assertFalse(s.getMessage().contains("not-the-password"), s.getMessage());
    }

    @Test
    void aMissingSecretIsAWarningAndThePullIsStillTried() throws Exception {
        String ns = "private-missing";
        String image = registry.push(TestImages.BUSYBOX.archive(), "private/busybox:missing");
        desire(pod(ns, image, false, List.of("nowhere")));
        ReplicaStatus s = awaitErrImagePull(ns, image, "image pull secret \"nowhere\" does not exist; pulling without it");
        assertTrue(s.getMessage().contains("refused the pull: it needs credentials"), s.getMessage());
        assertEquals(1, events.stream().filter(e -> e.equals(
                "FailedToRetrieveImagePullSecret: image pull secret \"nowhere\" does not exist; pulling without it")).count(),
                "warned once: " + events);
        assertTrue(events.stream().anyMatch(e -> e.startsWith("PullFailed: pulling image " + image)), events.toString());
    }
}
