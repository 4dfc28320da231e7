package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * deploy/kubernetes holds together: the etcd members name each other by the StatefulSet's DNS names,
 * the control plane names every member, Services point at ports the containers expose, and the
 * control plane's probes and environment match what it serves and reads. (No cluster here; this is
 * what a typo in those files would break.)
 */
class KubernetesManifestsTest {
    static final Path DIR = Path.of("..", "deploy", "kubernetes");
    static final Map<String, JsonNode> BY_KIND_AND_NAME = new HashMap<>();

    @BeforeAll
    static void load() throws IOException {
        ObjectMapper yaml = new YAMLMapper();
        JsonNode kustomization = yaml.readTree(DIR.resolve("kustomization.yaml").toFile());
        for (JsonNode resource : kustomization.get("resources")) {
            try (var parser = new YAMLFactory().createParser(DIR.resolve(resource.asText()).toFile())) {
                for (JsonNode doc : yaml.readValues(parser, JsonNode.class).readAll()) {
                    if (doc != null && !doc.isEmpty()) {
                        String key = doc.get("kind").asText() + "/" + doc.get("metadata").get("name").asText();
                        assertTrue(BY_KIND_AND_NAME.put(key, doc) == null, "duplicate " + key);
                    }
                }
            }
        }
    }

    static JsonNode get(String kindAndName) {
        JsonNode doc = BY_KIND_AND_NAME.get(kindAndName);
        assertNotNull(doc, kindAndName + " is missing; have " + BY_KIND_AND_NAME.keySet());
        return doc;
    }

    static Map<String, String> flags(JsonNode container) {
        Map<String, String> flags = new HashMap<>();
        for (JsonNode arg : container.get("command")) {
            String[] kv = arg.asText().split("=", 2);
            if (kv.length == 2) {
                flags.put(kv[0], kv[1]);
            }
        }
        return flags;
    }

    @Test
    void etcdMembersNameEachOtherByTheStatefulSetsStableNames() {
        JsonNode sts = get("StatefulSet/etcd");
        int replicas = sts.get("spec").get("replicas").asInt();
        assertEquals(3, replicas);
        JsonNode service = get("Service/" + sts.get("spec").get("serviceName").asText());
        assertEquals("None", service.get("spec").get("clusterIP").asText(), "peers need a headless Service");
        String namespace = sts.get("metadata").get("namespace").asText();
        String domain = sts.get("spec").get("serviceName").asText() + "." + namespace + ".svc";

        Map<String, String> flags = flags(sts.get("spec").get("template").get("spec").get("containers").get(0));
        String expected = IntStream.range(0, replicas)
                .mapToObj(i -> "etcd-" + i + "=http://etcd-" + i + "." + domain + ":2380")
                .collect(Collectors.joining(","));
        assertEquals(expected, flags.get("--initial-cluster"));
        assertEquals("$(POD_NAME)", flags.get("--name"));
        assertEquals("http://$(POD_NAME)." + domain + ":2380", flags.get("--initial-advertise-peer-urls"));
        assertEquals("new", flags.get("--initial-cluster-state"));
        assertEquals(2, get("PodDisruptionBudget/etcd").get("spec").get("minAvailable").asInt(), "quorum of 3");
    }

    @Test
    void etcdRunsWithTheProductionFlagsOfTheTestsAndTheQuickStart() throws IOException {
        Map<String, String> flags = flags(get("StatefulSet/etcd").get("spec").get("template").get("spec").get("containers").get(0));
        String quickstart = Files.readString(DIR.resolve("../quickstart.sh"));
        for (String flag : dev.edgeplane.testkit.EtcdServer.PRODUCTION_FLAGS) {
            String[] kv = flag.split("=", 2);
            assertEquals(kv[1], flags.get(kv[0]), "deploy/kubernetes/etcd.yaml " + kv[0]);
            assertTrue(quickstart.contains(flag), "deploy/quickstart.sh starts etcd with " + flag);
        }
    }

    @Test
    void controlPlaneNamesEveryEtcdMemberAndServesWhatItsServicesAndProbesExpect() {
        JsonNode deployment = get("Deployment/control-plane");
        JsonNode pod = deployment.get("spec").get("template").get("spec");
        JsonNode container = pod.get("containers").get(0);
        Map<String, JsonNode> env = new HashMap<>();
        container.get("env").forEach(e -> env.put(e.get("name").asText(), e));

        String namespace = deployment.get("metadata").get("namespace").asText();
        Set<String> endpoints = new LinkedHashSet<>(Arrays.asList(
                env.get("EDGEPLANE_ETCD_ENDPOINTS").get("value").asText().split(",")));
        Set<String> members = IntStream.range(0, 3)
                .mapToObj(i -> "http://etcd-" + i + ".etcd." + namespace + ".svc:2379")
                .collect(Collectors.toCollection(LinkedHashSet::new));
        assertEquals(members, endpoints);

        Map<String, Integer> ports = new HashMap<>();
        container.get("ports").forEach(p -> ports.put(p.get("name").asText(), p.get("containerPort").asInt()));
        assertEquals(Integer.toString(ports.get("api")), env.get("QUARKUS_HTTP_PORT").get("value").asText());
        assertEquals(Integer.toString(ports.get("agent")), env.get("EDGEPLANE_AGENT_PORT").get("value").asText());
        assertEquals("/q/health/ready", container.get("readinessProbe").get("httpGet").get("path").asText());

        // Every Service selecting the control plane targets a named port it exposes.
        List<String> checked = new ArrayList<>();
        BY_KIND_AND_NAME.forEach((key, doc) -> {
            if (key.startsWith("Service/") && doc.get("spec").get("selector").toString().contains("control-plane")) {
                doc.get("spec").get("ports").forEach(p ->
                        assertTrue(ports.containsKey(p.get("targetPort").asText()), key + " targets " + p));
                checked.add(key);
            }
        });
        assertEquals(2, checked.size(), checked.toString());

        // The admin token comes from a Secret mounted where EDGEPLANE_ADMIN_TOKEN_FILE points.
        String tokenFile = env.get("EDGEPLANE_ADMIN_TOKEN_FILE").get("value").asText();
        boolean mounted = false;
        for (JsonNode mount : container.get("volumeMounts")) {
            if (tokenFile.startsWith(mount.get("mountPath").asText() + "/")) {
                for (JsonNode volume : pod.get("volumes")) {
                    if (volume.get("name").equals(mount.get("name"))) {
                        mounted = volume.has("secret");
                    }
                }
            }
        }
        assertTrue(mounted, "the admin token file is on a Secret volume");
        assertFalse(Files.exists(DIR.resolve("secret.yaml")), "no secret committed to the repository");
    }
}
