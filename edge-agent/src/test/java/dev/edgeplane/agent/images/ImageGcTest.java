package dev.edgeplane.agent.images;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.pods.PodConfigs;
import dev.edgeplane.agent.pods.Pods;
import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.testkit.Containerd;
import dev.edgeplane.testkit.TestImages;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Image garbage collection against a real containerd holding the project's two images: the pause
 * image (containerd's sandbox_image) and busybox. Thresholds of 0 % make every pass collect.
 */
class ImageGcTest {
    @TempDir
    Path tmp;
    private Containerd containerd;
    private CriRuntime cri;

    @BeforeEach
    void start() {
        containerd = Containerd.start();
        cri = CriRuntime.connect(containerd.endpoint());
    }

    @AfterEach
    void stop() {
        cri.close();
        containerd.close();
    }

    private ImageGc gc(Set<String> desired, Duration minimumAge) {
        return new ImageGc(cri, () -> desired, new ImageGc.Settings(0, 0, minimumAge, tmp), Clock.systemUTC());
    }

    private boolean present(TestImages.Image image) {
        return cri.image(image.name()).isPresent();
    }

    @Test
    void theRuntimeNamesItsSandboxImage() {
        assertEquals(TestImages.PAUSE.name(), cri.sandboxImage().orElseThrow(), "from CRI Status (verbose)");
    }

    @Test
    void anImageUnusedLongEnoughGoesButNeverOneTheDesiredStateOrTheSandboxesNeed() {
        assertEquals(List.of(), gc(Set.of(), Duration.ofHours(1)).collectOnce(), "first seen just now: too young");
        assertEquals(List.of(), gc(Set.of(TestImages.BUSYBOX.name()), Duration.ZERO).collectOnce(), "the desired state names it");
        assertTrue(present(TestImages.BUSYBOX));

        // A container of it (created, never started, not in the desired state) keeps it too.
        var template = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("c", TestImages.BUSYBOX.name(), "sleep", "1"));
        var assignment = Pods.assignment("gc", "user", 0, template);
        var sandboxConfig = PodConfigs.sandbox(assignment, "h", 0, tmp.resolve("logs"));
        String sandbox = cri.runSandbox(sandboxConfig);
        String container = cri.createContainer(sandbox, PodConfigs.container(assignment, template.getContainers(0), "h", 0), sandboxConfig);
        assertEquals(List.of(), gc(Set.of(), Duration.ZERO).collectOnce(), "a container uses it");
        cri.removeContainer(container);
        cri.stopSandbox(sandbox);
        cri.removeSandbox(sandbox);

        List<String> removed = gc(Set.of(), Duration.ZERO).collectOnce();
        assertEquals(1, removed.size(), "busybox, and only it: " + removed);
        assertTrue(!present(TestImages.BUSYBOX), "busybox is gone");
        assertTrue(present(TestImages.PAUSE), "the sandbox image stays: offline, it could not come back");
    }
}
