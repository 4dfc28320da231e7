package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.TemplateHashes;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.ConfigMap;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.controlplane.secrets.KeyRing;
import dev.edgeplane.controlplane.secrets.SecretSealer;
import dev.edgeplane.api.v1.HashedTemplate;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.SyncResponse;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.store.TestStores;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.stream.SendExecutor;
import dev.edgeplane.testkit.EtcdServer;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Templates by hash on the Sync stream, against a real etcd: assignments carry template_hash, the
 * template is stored once under /edgeplane/templates/ and each stream carries each template once
 * (none that the agent's Hello listed); an inline template still travels as it is; an assignment
 * whose template cannot be found is held back until it can. ConfigMaps and Secrets travel the same
 * way: each to the nodes whose assignments use it, once per version per stream.
 */
class TemplatesOnTheWireTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private EtcdServer etcd;
    private EtcdStore store;
    private StateCaches caches;
    private SendExecutor sender;
    private AssignmentIndex index;
    private final SecretSealer sealer = new SecretSealer(KeyRing.parse("k1:" + java.util.Base64.getEncoder().encodeToString(new byte[32]), "test"));

    @BeforeEach
    void start() {
        etcd = EtcdServer.start();
        ControlPlaneConfig config = config(etcd.endpoint());
        store = new EtcdStore(config, new io.micrometer.core.instrument.simple.SimpleMeterRegistry());
        caches = new StateCaches(store);
        NodeCursors cursors = new NodeCursors();
        sender = new SendExecutor("test-sync-send", 2);
        index = new AssignmentIndex(caches, cursors, new CursorCheckpoints(store, caches, cursors, config), sender,
                SyncSession.Limits.DEFAULT, TemplateLookup.of(caches.templates(), store, Duration.ofSeconds(2)),
                ConfigLookup.of(caches.configMaps(), caches.secrets(), sealed -> sealer.openStored(sealed.key(), sealed.value())));
        caches.start();
        index.start();
    }

    @AfterEach
    void stop() {
        sender.close();
        caches.close();
        store.client().close();
        etcd.close();
    }

    private static PodTemplate template(String image) {
        return PodTemplate.newBuilder().addContainers(Container.newBuilder().setName("main").setImage(image)
                .addCommand("x".repeat(2048))).build();
    }

    /** Stores the template once, as the scheduler does; returns its hash. */
    private String storeTemplate(String app, PodTemplate template) {
        String hash = TemplateHashes.of(template);
        store.put(Keys.template("default", app, hash), template.toByteArray());
        return hash;
    }

    private long storeConfigMap(String name, Map<String, String> data) {
        store.put(Keys.configMap("default", name), ConfigMap.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setNamespace("default").setName(name)).putAllData(data).build().toByteArray());
        return store.get(Keys.configMap("default", name)).orElseThrow().modRevision();
    }

    private long storeSecret(String name, String key, String value) {
        store.put(Keys.secret("default", name), sealer.seal(Secret.newBuilder().setType(Secret.Type.OPAQUE)
                .setMetadata(ObjectMeta.newBuilder().setNamespace("default").setName(name))
                .putData(key, com.google.protobuf.ByteString.copyFromUtf8(value)).build()).toByteArray());
        return store.get(Keys.secret("default", name)).orElseThrow().modRevision();
    }

    private static ConfigRef configMapRef(String name, long version) {
        return ConfigRef.newBuilder().setKind(ConfigRef.Kind.CONFIG_MAP).setName(name).setVersion(version).build();
    }

    private void assign(String node, String app, String replica, String hash, ConfigRef... configs) {
        store.put(Keys.assignment(node, "default", replica), Assignment.newBuilder().setNode(node).setNamespace("default")
                .setApp(app).setReplica(replica).setTemplateHash(hash).addAllConfigs(List.of(configs)).build().toByteArray());
    }

    private void assign(String node, String app, String replica, String hash) {
        store.put(Keys.assignment(node, "default", replica), Assignment.newBuilder().setNode(node).setNamespace("default")
                .setApp(app).setReplica(replica).setTemplateHash(hash).build().toByteArray());
    }

    private final class Stream implements StreamObserver<SyncResponse> {
        final LinkedBlockingQueue<SyncResponse> received = new LinkedBlockingQueue<>();
        final SyncSession session;

        Stream(String node, List<String> held, long lastApplied) {
            this(node, held, List.of(), lastApplied);
        }

        Stream(String node, List<String> held, List<ConfigData> heldConfigs, long lastApplied) {
            session = index.session(node, "hash", this);
            session.agentHolds(held);
            session.agentHoldsConfigs(heldConfigs);
            new Resumer(index, store).open(session, lastApplied);
        }

        SyncResponse next() throws InterruptedException {
            SyncResponse r = received.poll(WAIT.toSeconds(), TimeUnit.SECONDS);
            if (r == null) {
                throw new AssertionError("nothing received within " + WAIT);
            }
            return r;
        }

        public void onNext(SyncResponse value) {
            received.add(value);
        }

        public void onError(Throwable t) {}

        public void onCompleted() {}
    }

    @Test
    void aConfigMapGoesOnlyToTheNodesWhoseAssignmentsUseItOncePerVersion() throws Exception {
        String hash = storeTemplate("web", template("web:1"));
        long v1 = storeConfigMap("web-config", Map.of("app.conf", "colour=blue"));
        await("the informer has it", () -> caches.configMaps().revision() >= v1);
        assign("n1", "web", "web-0", hash, configMapRef("web-config", v1));
        assign("n1", "web", "web-1", hash, configMapRef("web-config", v1));
        assign("n2", "other", "other-0", storeTemplate("other", template("web:1")));
        await("the index has all three", () -> index.assignmentsOf("n1").size() == 2 && index.assignmentsOf("n2").size() == 1);

        SyncResponse first = new Stream("n1", List.of(), 0).next();
        assertEquals(1, first.getSnapshot().getConfigsCount(), "once, though two assignments use it: " + first.getSnapshot().getConfigsList());
        ConfigData sent = first.getSnapshot().getConfigs(0);
        assertEquals("web-config", sent.getRef().getName());
        assertEquals(v1, sent.getRef().getVersion());
        assertEquals("colour=blue", sent.getDataOrThrow("app.conf").toStringUtf8());
        assertFalse(sent.getMissing());

        SyncResponse other = new Stream("n2", List.of(), 0).next();
        assertEquals(List.of(), other.getSnapshot().getConfigsList(), "a node that does not use it never gets it");

        Stream stream = new Stream("n1", List.of(), 0);
        stream.next();
        long v2 = storeConfigMap("web-config", Map.of("app.conf", "colour=green"));
        await("the informer has v2", () -> caches.configMaps().revision() >= v2);
        assign("n1", "web", "web-0", hash, configMapRef("web-config", v2));
        SyncResponse changed = stream.next();
        assertEquals(1, changed.getChanges().getConfigsCount());
        assertEquals("colour=green", changed.getChanges().getConfigs(0).getDataOrThrow("app.conf").toStringUtf8());
        assign("n1", "web", "web-1", hash, configMapRef("web-config", v2));
        assertEquals(List.of(), stream.next().getChanges().getConfigsList(), "that version was carried already");
    }

    @Test
    void aSecretIsOpenedOnlyForTheNodeThatUsesIt() throws Exception {
        String hash = storeTemplate("web", template("web:1"));
        long v = storeSecret("db", "password", "s3cret");
        await("the informer has it", () -> caches.secrets().revision() >= v);
        assign("n1", "web", "web-0", hash, ConfigRef.newBuilder().setKind(ConfigRef.Kind.SECRET).setName("db").setVersion(v).build());
        assign("n2", "web", "web-1", hash);
        await("the index has both", () -> index.assignmentsOf("n1").size() == 1 && index.assignmentsOf("n2").size() == 1);

        ConfigData sent = new Stream("n1", List.of(), 0).next().getSnapshot().getConfigs(0);
        assertEquals(Secret.Type.OPAQUE, sent.getSecretType());
        assertEquals("s3cret", sent.getDataOrThrow("password").toStringUtf8(), "opened for the node that runs a pod using it");
        SyncResponse other = new Stream("n2", List.of(), 0).next();
        assertEquals(List.of(), other.getSnapshot().getConfigsList());
        assertFalse(other.toString().contains("s3cret"));
    }

    @Test
    void aConfigMapTheAgentHoldsIsNotSentAgainAndAMissingOneGoesAsMissing() throws Exception {
        String hash = storeTemplate("web", template("web:1"));
        long v1 = storeConfigMap("web-config", Map.of("k", "v"));
        await("the informer has it", () -> caches.configMaps().revision() >= v1);
        assign("n1", "web", "web-0", hash, configMapRef("web-config", v1), configMapRef("not-there", 0));
        await("the index has it", () -> index.assignmentsOf("n1").size() == 1);

        Stream stream = new Stream("n1", List.of(hash), List.of(ConfigData.newBuilder().setNamespace("default")
                .setRef(configMapRef("web-config", v1)).build()), 0);
        SyncResponse snapshot = stream.next();
        assertEquals(1, snapshot.getSnapshot().getConfigsCount(), snapshot.getSnapshot().getConfigsList().toString());
        ConfigData missing = snapshot.getSnapshot().getConfigs(0);
        assertEquals("not-there", missing.getRef().getName());
        assertTrue(missing.getMissing(), "a reference to a ConfigMap that does not exist travels as missing");
        assertEquals(0, missing.getDataCount());
    }

    private static List<String> hashes(List<HashedTemplate> templates) {
        return templates.stream().map(HashedTemplate::getHash).toList();
    }

    @Test
    void aTemplateSharedByAssignmentsIsSentOncePerStream() throws Exception {
        PodTemplate v1 = template("web:1");
        String h1 = storeTemplate("web", v1);
        assign("n1", "web", "web-0", h1);
        assign("n1", "web", "web-1", h1);
        await("the index has both", () -> index.assignmentsOf("n1").size() == 2);

        Stream stream = new Stream("n1", List.of(), 0);
        SyncResponse snapshot = stream.next();
        assertTrue(snapshot.hasSnapshot(), snapshot.toString());
        assertEquals(2, snapshot.getSnapshot().getAssignmentsCount());
        assertTrue(snapshot.getSnapshot().getAssignmentsList().stream().allMatch(a -> !a.hasTemplate() && a.getTemplateHash().equals(h1)),
                "assignments travel by hash, without their template");
        assertEquals(List.of(h1), hashes(snapshot.getSnapshot().getTemplatesList()), "the shared template once");
        assertEquals(v1, snapshot.getSnapshot().getTemplates(0).getTemplate());

        assign("n1", "web", "web-2", h1);
        SyncResponse more = stream.next();
        assertEquals(1, more.getChanges().getChangesCount());
        assertEquals(List.of(), more.getChanges().getTemplatesList(), "already carried on this stream");

        // An image change: the new template once, with the first PUT that needs it.
        PodTemplate v2 = template("web:2");
        String h2 = storeTemplate("web", v2);
        assign("n1", "web", "web-0", h2);
        assign("n1", "web", "web-1", h2);
        List<Change> changes = new java.util.ArrayList<>();
        List<String> carried = new java.util.ArrayList<>();
        while (changes.size() < 2) {
            SyncResponse r = stream.next();
            changes.addAll(r.getChanges().getChangesList());
            carried.addAll(hashes(r.getChanges().getTemplatesList()));
        }
        assertEquals(List.of(h2), carried);
        index.close(stream.session);
    }

    @Test
    void aHelloListingTheHashGetsAssignmentsWithoutTheTemplate() throws Exception {
        String hash = storeTemplate("api", template("api:1"));
        assign("n2", "api", "api-0", hash);
        await("the index has it", () -> index.assignmentsOf("n2").size() == 1);

        Stream stream = new Stream("n2", List.of(hash), 0);
        SyncResponse snapshot = stream.next();
        assertEquals(1, snapshot.getSnapshot().getAssignmentsCount());
        assertEquals(List.of(), snapshot.getSnapshot().getTemplatesList(), "the agent said it has it");
        index.close(stream.session);
    }

    @Test
    void anInlineTemplateWrittenBeforeHashesTravelsAsItIs() throws Exception {
        PodTemplate inline = template("old:1");
        store.put(Keys.assignment("n3", "default", "old-0"), Assignment.newBuilder().setNode("n3").setNamespace("default")
                .setApp("old").setReplica("old-0").setTemplate(inline).build().toByteArray());
        await("the index has it", () -> index.assignmentsOf("n3").size() == 1);

        Stream stream = new Stream("n3", List.of(), 0);
        SyncResponse snapshot = stream.next();
        assertEquals(inline, snapshot.getSnapshot().getAssignments(0).getTemplate());
        assertEquals(List.of(), snapshot.getSnapshot().getTemplatesList());
        index.close(stream.session);
    }

    @Test
    void anAssignmentWhoseTemplateIsMissingIsHeldBackUntilItCanBeResolved() throws Exception {
        Stream stream = new Stream("n4", List.of(), 0);
        assertEquals(0, stream.next().getSnapshot().getAssignmentsCount());

        PodTemplate late = template("late:1");
        String hash = TemplateHashes.of(late);
        assign("n4", "late", "late-0", hash); // a scheduler bug or a lost write: its template is not stored
        await("the index has it", () -> index.assignmentsOf("n4").size() == 1);
        assertNull(stream.received.poll(2, TimeUnit.SECONDS), "never sent without a template the agent could resolve");

        storeTemplate("late", late);
        SyncResponse changes = stream.next();
        assertEquals(1, changes.getChanges().getChangesCount());
        assertEquals(List.of(hash), hashes(changes.getChanges().getTemplatesList()));
        index.close(stream.session);
    }

    @Test
    void aTemplateTheInformerHasNotSeenIsReadFromEtcd() {
        PodTemplate template = template("fresh:1");
        String hash = storeTemplate("fresh", template);
        var retries = Executors.newSingleThreadScheduledExecutor();
        try {
            // An informer that has not caught up (here: never started).
            PrefixCache<PodTemplate> lagging = new PrefixCache<>(store, Keys.TEMPLATES,
                    b -> EtcdStore.decode(PodTemplate.parser(), b), retries);
            TemplateLookup lookup = TemplateLookup.of(lagging, store, Duration.ofSeconds(2));
            assertEquals(template, lookup.find("default", "fresh", hash).orElseThrow().toBuilder().build());
            assertFalse(lookup.find("default", "fresh", TemplateHashes.of(template("other:1"))).isPresent());
        } finally {
            retries.shutdownNow();
        }
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(50);
        }
    }

    private static ControlPlaneConfig config(String endpoint) {
        ControlPlaneConfig.Etcd etcdConfig = TestStores.etcd(endpoint);
        ControlPlaneConfig.Agent agent = TestStores.config(ControlPlaneConfig.Agent.class, Map.of("cursorCheckpointInterval", Duration.ZERO));
        return TestStores.config(ControlPlaneConfig.class, Map.of("etcd", etcdConfig, "agent", agent));
    }

}
