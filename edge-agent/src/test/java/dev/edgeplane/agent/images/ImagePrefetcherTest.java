package dev.edgeplane.agent.images;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.Await;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.journal.JournalStore;
import dev.edgeplane.agent.pods.Pods;
import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.ImagePullReport;
import dev.edgeplane.api.v1.ImagePullTask;
import dev.edgeplane.api.v1.LocalObjectReference;
import dev.edgeplane.api.v1.Snapshot;
import dev.edgeplane.testkit.Containerd;
import dev.edgeplane.testkit.Registry;
import dev.edgeplane.testkit.TestImages;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Image pull entries (ImagePrefetch) against a real containerd and a real private registry
 * (distribution with htpasswd basic auth on 127.0.0.1): pulled through CRI with the entry's pull
 * Secret, reported DONE (again at once after a restart, without pulling), FAILED naming the refusal
 * without credentials, and kept from image GC while the entry is desired.
 */
class ImagePrefetcherTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final String USER = "prefetcher";
    private static final String PASSWORD = "prefetch-Secret-1";
    private static Containerd containerd;
    private static CriRuntime cri;
    private static Registry registry;

    @TempDir
    Path tmp;
    private DesiredStateStore desired;
    private final AtomicLong revision = new AtomicLong();
    private final Map<String, ImagePullReport> reports = new ConcurrentHashMap<>();
    private ImagePrefetcher prefetcher;

    @BeforeAll
    static void start() {
        containerd = Containerd.start();
        cri = CriRuntime.connect(containerd.endpoint());
        registry = Registry.withBasicAuth(USER, PASSWORD);
    }

    @AfterAll
    static void stop() {
        if (cri != null) {
            cri.close();
        }
        if (containerd != null) {
            containerd.close();
        }
        if (registry != null) {
            registry.close();
        }
    }

    @BeforeEach
    void open() throws Exception {
        desired = DesiredStateStore.open(new JournalStore(tmp.resolve("journal")));
        prefetcher = started();
    }

    private ImagePrefetcher started() {
        ImagePrefetcher p = new ImagePrefetcher(cri, desired, r -> reports.put(r.getNamespace() + "/" + r.getName(), r),
                (ns, name) -> reports.remove(ns + "/" + name), 2, Duration.ofSeconds(1), Duration.ofMillis(20));
        p.start();
        return p;
    }

    @AfterEach
    void close() {
        prefetcher.close();
    }

    private void desire(Assignment... entries) throws Exception {
        desired.applySnapshot(Snapshot.newBuilder().setRevision(revision.incrementAndGet()).addAllAssignments(List.of(entries)).build());
    }

    private static Assignment entry(String ns, String name, List<String> images, List<String> secrets, ConfigData... configData) {
        ImagePullTask.Builder task = ImagePullTask.newBuilder().setName(name).setUid(name + "-uid").addAllImages(images);
        secrets.forEach(s -> task.addImagePullSecrets(LocalObjectReference.newBuilder().setName(s)));
        return Assignment.newBuilder().setNode("node-a").setNamespace(ns).setReplica("prefetch." + name).setImagePull(task)
                .addAllConfigData(List.of(configData)).build();
    }

    private ImagePullReport awaitState(String key, ImagePullReport.State state) {
        Await.until(WAIT, key + " " + state, () -> reports.containsKey(key) && reports.get(key).getState() == state,
                () -> String.valueOf(reports.get(key)));
        return reports.get(key);
    }

    @Test
    void pullsWithThePullSecretReportsDoneAndKeepsTheImagesFromGc() throws Exception {
        String first = registry.push(TestImages.BUSYBOX.archive(), "prefetch/busybox:one");
        String second = registry.push(TestImages.BUSYBOX.archive(), "prefetch/other:two");
        ConfigData secret = Pods.registrySecret("regcred", Pods.dockerConfigJson("http://" + registry.address() + "/", USER, PASSWORD));
        assertFalse(cri.image(first).isPresent());
        desire(entry("ns", "rollout", List.of(first, second), List.of("regcred"), secret));
        ImagePullReport done = awaitState("ns/rollout", ImagePullReport.State.DONE);
        assertEquals(2, done.getImagesDone());
        assertEquals(2, done.getImagesTotal());
        assertEquals("rollout-uid", done.getUid());
        assertTrue(cri.image(first).isPresent(), "pulled into containerd");
        assertTrue(cri.image(second).isPresent(), "pulled into containerd");

        // Image GC (collecting everything it may: thresholds 0, no minimum age) keeps them while the entry is desired.
        ImageGc gc = new ImageGc(cri, () -> ImagePrefetcher.images(desired.current()), new ImageGc.Settings(0, 0, Duration.ZERO, tmp),
                Clock.systemUTC());
        gc.collectOnce();
        assertTrue(cri.image(first).isPresent(), "kept by image GC while the prefetch exists");

        // A restarted agent reports the finished entry DONE again from what containerd holds.
        prefetcher.close();
        reports.clear();
        prefetcher = started();
        assertEquals(2, awaitState("ns/rollout", ImagePullReport.State.DONE).getImagesDone());

        // The prefetch is deleted: its report is forgotten and GC may take the images.
        desire();
        Await.until(WAIT, "report forgotten", () -> !reports.containsKey("ns/rollout"));
        gc.collectOnce();
        assertFalse(cri.image(first).isPresent(), "collected once no entry names it");
    }

    @Test
    void withoutCredentialsTheEntryFailsNamingTheRefusal() throws Exception {
        String image = registry.push(TestImages.BUSYBOX.archive(), "prefetch/busybox:nocred");
        desire(entry("ns", "nocred", List.of(image), List.of()));
        ImagePullReport failed = awaitState("ns/nocred", ImagePullReport.State.FAILED);
        assertEquals(0, failed.getImagesDone());
        assertTrue(failed.getMessage().contains("image " + image + ": registry " + registry.address()
                + " refused the pull: it needs credentials"), failed.getMessage());
        assertFalse(cri.image(image).isPresent());
        // The entry changes (a pull Secret is given now): it runs again and succeeds.
        ConfigData secret = Pods.registrySecret("regcred", Pods.dockerConfigJson(registry.address(), USER, PASSWORD));
        desire(entry("ns", "nocred", List.of(image), List.of("regcred"), secret));
        awaitState("ns/nocred", ImagePullReport.State.DONE);
        assertTrue(cri.image(image).isPresent());
        assertFalse(reports.get("ns/nocred").getMessage().contains(PASSWORD));
    }
}
