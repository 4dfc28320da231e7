package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
                .mapToObj(i -> "etcd-" + i + "=https://etcd-" + i + "." + domain + ":2380")
                .collect(Collectors.joining(","));
        assertEquals(expected, flags.get("--initial-cluster"));
        assertEquals("$(POD_NAME)", flags.get("--name"));
        assertEquals("https://$(POD_NAME)." + domain + ":2380", flags.get("--initial-advertise-peer-urls"));
        assertEquals("https://$(POD_NAME)." + domain + ":2379", flags.get("--advertise-client-urls"));
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
                .mapToObj(i -> "https://etcd-" + i + ".etcd." + namespace + ".svc:2379")
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

    // --- etcd over TLS: etcd and the control plane read certificate files that their Secret volumes hold ---

    /** The path a mounted file is at -> the Secret and key it comes from, for every Secret volume of {@code pod}. */
    static Map<String, String> secretFiles(JsonNode pod, JsonNode container) {
        Map<String, String> files = new HashMap<>();
        for (JsonNode mount : container.get("volumeMounts")) {
            for (JsonNode volume : pod.get("volumes")) {
                if (volume.get("name").equals(mount.get("name")) && volume.has("secret")) {
                    assertTrue(mount.path("readOnly").asBoolean(), mount + " is read-only");
                    JsonNode secret = volume.get("secret");
                    assertTrue(secret.has("items"), volume + " lists its items, so a missing key fails the pod's start");
                    for (JsonNode item : secret.get("items")) {
                        files.put(mount.get("mountPath").asText() + "/" + item.get("path").asText(),
                                secret.get("secretName").asText() + "/" + item.get("key").asText());
                    }
                }
            }
        }
        return files;
    }

    static JsonNode podSpec(String kindAndName) {
        return get(kindAndName).get("spec").get("template").get("spec");
    }

    @Test
    void etcdServesOnlyMutualTlsOnBothPortsWithCertificatesFromItsSecret() {
        JsonNode pod = podSpec("StatefulSet/etcd");
        JsonNode container = pod.get("containers").get(0);
        Map<String, String> flags = flags(container);
        Map<String, String> files = secretFiles(pod, container);

        for (String flag : List.of("--listen-client-urls", "--advertise-client-urls", "--listen-peer-urls",
                "--initial-advertise-peer-urls")) {
            assertTrue(flags.get(flag).startsWith("https://"), flag + " is https: " + flags.get(flag));
        }
        for (String url : flags.get("--initial-cluster").split(",")) {
            assertTrue(url.split("=", 2)[1].startsWith("https://"), "--initial-cluster " + url);
        }
        assertEquals("true", flags.get("--client-cert-auth"));
        assertEquals("true", flags.get("--peer-client-cert-auth"));
        Map<String, String> expected = Map.of(
                "--trusted-ca-file", "etcd-tls/ca.crt", "--cert-file", "etcd-tls/server.crt", "--key-file", "etcd-tls/server.key",
                "--peer-trusted-ca-file", "etcd-tls/peer-ca.crt", "--peer-cert-file", "etcd-tls/peer.crt",
                "--peer-key-file", "etcd-tls/peer.key");
        expected.forEach((flag, secretKey) -> {
            assertNotNull(flags.get(flag), flag + " is set");
            assertEquals(secretKey, files.get(flags.get(flag)), flag + "=" + flags.get(flag) + " is a file of the Secret volume " + files);
        });
        assertFalse(flags.get("--trusted-ca-file").equals(flags.get("--peer-trusted-ca-file")),
                "peers have a CA of their own: a client certificate must never pass as a member");

        // The kubelet cannot present a client certificate: the probes use the plain-http metrics listener.
        Map<String, Integer> ports = new HashMap<>();
        container.get("ports").forEach(p -> ports.put(p.get("name").asText(), p.get("containerPort").asInt()));
        assertEquals("http://0.0.0.0:" + ports.get("metrics"), flags.get("--listen-metrics-urls"));
        for (String probe : List.of("readinessProbe", "livenessProbe")) {
            JsonNode get = container.get(probe).get("httpGet");
            assertEquals("metrics", get.get("port").asText(), probe);
            assertFalse(get.has("scheme") && get.get("scheme").asText().equals("HTTPS"), probe);
            assertTrue(get.get("path").asText().startsWith("/health"), probe);
        }
    }

    @Test
    void controlPlaneReachesEtcdWithTheClientCertificateOfItsSecret() {
        JsonNode pod = podSpec("Deployment/control-plane");
        JsonNode container = pod.get("containers").get(0);
        Map<String, String> env = new HashMap<>();
        container.get("env").forEach(e -> env.put(e.get("name").asText(), e.path("value").asText()));
        Map<String, String> files = secretFiles(pod, container);

        for (String endpoint : env.get("EDGEPLANE_ETCD_ENDPOINTS").split(",")) {
            assertTrue(endpoint.startsWith("https://"), "EDGEPLANE_ETCD_ENDPOINTS " + endpoint);
        }
        assertEquals("etcd-client/ca.crt", files.get(env.get("EDGEPLANE_ETCD_CA_FILE")), "EDGEPLANE_ETCD_CA_FILE on " + files);
        assertEquals("etcd-client/client.crt", files.get(env.get("EDGEPLANE_ETCD_CERT_FILE")), "EDGEPLANE_ETCD_CERT_FILE on " + files);
        assertEquals("etcd-client/client.key", files.get(env.get("EDGEPLANE_ETCD_KEY_FILE")), "EDGEPLANE_ETCD_KEY_FILE on " + files);
    }

    /** Every Secret key the manifests mount is one make-etcd-certs.sh's printed commands put there. */
    @Test
    void theCertificateScriptFillsEverySecretKeyTheManifestsMount() throws IOException {
        String script = Files.readString(DIR.resolve("make-etcd-certs.sh"));
        Map<String, Set<String>> created = new HashMap<>();
        // One command with its continuation lines (each ends in the heredoc's escaped backslash).
        Matcher command = Pattern.compile("create secret generic ([a-z-]+)((?:\\\\\n|[^\\n])*)").matcher(script);
        while (command.find()) {
            Set<String> keys = new TreeSet<>();
            Matcher key = Pattern.compile("--from-file=([^=\\s]+)=").matcher(command.group(2));
            while (key.find()) {
                keys.add(key.group(1));
            }
            created.put(command.group(1), keys);
        }
        Map<String, Set<String>> mounted = new HashMap<>();
        for (String workload : List.of("StatefulSet/etcd", "Deployment/control-plane")) {
            JsonNode pod = podSpec(workload);
            secretFiles(pod, pod.get("containers").get(0)).values().forEach(secretKey -> {
                String[] parts = secretKey.split("/", 2);
                if (parts[0].startsWith("etcd-")) {
                    mounted.computeIfAbsent(parts[0], k -> new TreeSet<>()).add(parts[1]);
                }
            });
        }
        assertEquals(Set.of("etcd-tls", "etcd-client"), mounted.keySet());
        assertEquals(mounted, created, "make-etcd-certs.sh's kubectl commands");
    }

    /**
     * The certificates make-etcd-certs.sh writes (run here with openssl) name every host the manifests
     * dial etcd by, chain to the CA each side trusts, and carry the key usages each side checks.
     */
    @Test
    void theCertificateScriptsCertificatesMatchTheNamesAndCasTheManifestsUse(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/openssl")), "openssl is not installed");
        Path out = dir.resolve("certs");
        dev.edgeplane.testkit.Commands.Result made = dev.edgeplane.testkit.Commands.exec(
                List.of("bash", DIR.resolve("make-etcd-certs.sh").toString(), out.toString()), Map.of(), Duration.ofSeconds(60));
        assertEquals(0, made.exitCode(), made.output());
        CertificateFactory x509 = CertificateFactory.getInstance("X.509");
        Map<String, X509Certificate> certs = new HashMap<>();
        for (String name : List.of("ca", "peer-ca", "server", "peer", "client")) {
            certs.put(name, (X509Certificate) x509.generateCertificate(new ByteArrayInputStream(Files.readAllBytes(out.resolve(name + ".crt")))));
            assertTrue(Files.readString(out.resolve(name + ".key")).startsWith("-----BEGIN PRIVATE KEY-----"), name + ".key is PKCS#8");
        }
        certs.get("server").verify(certs.get("ca").getPublicKey());
        certs.get("client").verify(certs.get("ca").getPublicKey());
        certs.get("peer").verify(certs.get("peer-ca").getPublicKey());
        String serverAuth = "1.3.6.1.5.5.7.3.1";
        String clientAuth = "1.3.6.1.5.5.7.3.2";
        assertTrue(certs.get("server").getExtendedKeyUsage().containsAll(List.of(serverAuth, clientAuth)));
        assertTrue(certs.get("peer").getExtendedKeyUsage().containsAll(List.of(serverAuth, clientAuth)));
        assertEquals(List.of(clientAuth), certs.get("client").getExtendedKeyUsage());

        Map<String, String> env = new HashMap<>();
        podSpec("Deployment/control-plane").get("containers").get(0).get("env")
                .forEach(e -> env.put(e.get("name").asText(), e.path("value").asText()));
        Set<String> clientHosts = new TreeSet<>();
        for (String endpoint : env.get("EDGEPLANE_ETCD_ENDPOINTS").split(",")) {
            clientHosts.add(java.net.URI.create(endpoint).getHost());
        }
        Set<String> peerHosts = new TreeSet<>();
        for (String member : flags(podSpec("StatefulSet/etcd").get("containers").get(0)).get("--initial-cluster").split(",")) {
            peerHosts.add(java.net.URI.create(member.split("=", 2)[1]).getHost());
        }
        assertTrue(dnsNames(certs.get("server")).containsAll(clientHosts), "server.crt names " + clientHosts);
        assertTrue(dnsNames(certs.get("peer")).containsAll(peerHosts), "peer.crt names " + peerHosts);
    }

    static Set<String> dnsNames(X509Certificate cert) throws Exception {
        Set<String> names = new TreeSet<>();
        for (List<?> name : cert.getSubjectAlternativeNames()) {
            if (((Integer) name.get(0)) == 2) {
                names.add((String) name.get(1));
            }
        }
        return names;
    }

    // --- NetworkPolicy: who may connect to which port ---

    /** Workloads' pod templates by "Kind/name". */
    static Map<String, JsonNode> podTemplates() {
        Map<String, JsonNode> templates = new HashMap<>();
        BY_KIND_AND_NAME.forEach((key, doc) -> {
            if (key.startsWith("Deployment/") || key.startsWith("StatefulSet/")) {
                templates.put(key, doc.get("spec").get("template"));
            }
        });
        return templates;
    }

    /** The workloads whose pods carry every label of {@code matchLabels}. */
    static Set<String> selected(JsonNode selector) {
        assertFalse(selector.has("matchExpressions"), "only matchLabels here: " + selector);
        Set<String> workloads = new TreeSet<>();
        podTemplates().forEach((workload, template) -> {
            JsonNode labels = template.get("metadata").get("labels");
            boolean all = true;
            for (var it = selector.path("matchLabels").fields(); it.hasNext(); ) {
                var label = it.next();
                all &= label.getValue().asText().equals(labels.path(label.getKey()).asText(null));
            }
            if (all) {
                workloads.add(workload);
            }
        });
        return workloads;
    }

    /**
     * For the pods {@code policy} selects: each named port -> who may connect ("*" for anyone), and the
     * ports exist on those pods.
     */
    static Map<String, Set<String>> admitted(String policy) {
        JsonNode spec = get("NetworkPolicy/" + policy).get("spec");
        Set<String> targets = selected(spec.get("podSelector"));
        assertFalse(targets.isEmpty(), "NetworkPolicy/" + policy + " selects no pod");
        assertEquals("[\"Ingress\"]", spec.get("policyTypes").toString(), "NetworkPolicy/" + policy);
        Map<String, Set<String>> admitted = new HashMap<>();
        for (JsonNode rule : spec.get("ingress")) {
            Set<String> from = new TreeSet<>();
            if (!rule.has("from")) {
                from.add("*");
            } else {
                for (JsonNode peer : rule.get("from")) {
                    assertTrue(peer.has("podSelector") && !peer.has("namespaceSelector") && !peer.has("ipBlock"), peer.toString());
                    Set<String> sources = selected(peer.get("podSelector"));
                    assertFalse(sources.isEmpty(), "NetworkPolicy/" + policy + " admits pods that do not exist: " + peer);
                    from.addAll(sources);
                }
            }
            for (JsonNode port : rule.get("ports")) {
                String name = port.get("port").asText();
                for (String target : targets) {
                    Set<String> exposed = new TreeSet<>();
                    podTemplates().get(target).get("spec").get("containers").forEach(c ->
                            c.get("ports").forEach(p -> exposed.add(p.get("name").asText())));
                    assertTrue(exposed.contains(name), "NetworkPolicy/" + policy + " port " + name + " is a port of " + target + " " + exposed);
                }
                admitted.computeIfAbsent(name, k -> new TreeSet<>()).addAll(from);
            }
        }
        return admitted;
    }

    @Test
    void networkPoliciesAdmitEtcdClientsFromTheControlPlaneOnlyAndPeersFromEtcdOnly() {
        assertEquals(Set.of("StatefulSet/etcd"), selected(get("NetworkPolicy/etcd").get("spec").get("podSelector")));
        assertEquals(Map.of("client", Set.of("Deployment/control-plane"), "peer", Set.of("StatefulSet/etcd")), admitted("etcd"));

        assertEquals(Set.of("Deployment/control-plane"), selected(get("NetworkPolicy/control-plane").get("spec").get("podSelector")));
        assertEquals(Map.of("api", Set.of("*"), "agent", Set.of("*")), admitted("control-plane"));

        // No pod is left unselected (which would admit anything).
        Set<String> covered = new TreeSet<>();
        BY_KIND_AND_NAME.forEach((key, doc) -> {
            if (key.startsWith("NetworkPolicy/")) {
                covered.addAll(selected(doc.get("spec").get("podSelector")));
            }
        });
        assertEquals(podTemplates().keySet(), covered);
    }
}
