package dev.edgeplane.agent.pods;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.PodTemplate;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** The reconciler's own small rules, without a runtime. */
class PodLogicTest {
    @Test
    void pullPolicyDefaultsLikeTheKubelet() {
        assertEquals(Container.PullPolicy.ALWAYS, ImagePolicy.effective(Container.newBuilder().setImage("busybox").build()));
        assertEquals(Container.PullPolicy.ALWAYS, ImagePolicy.effective(Container.newBuilder().setImage("reg:5000/app:latest").build()));
        assertEquals(Container.PullPolicy.ALWAYS, ImagePolicy.effective(Container.newBuilder().setImage("127.0.0.1:5000/app").build()));
        assertEquals(Container.PullPolicy.IF_NOT_PRESENT, ImagePolicy.effective(Container.newBuilder().setImage("reg:5000/app:1").build()));
        assertEquals(Container.PullPolicy.IF_NOT_PRESENT, ImagePolicy.effective(Container.newBuilder().setImage("app@sha256:abcd").build()));
        assertEquals(Container.PullPolicy.NEVER, ImagePolicy.effective(Container.newBuilder().setImage("app:latest")
                .setImagePullPolicy(Container.PullPolicy.NEVER).build()));
    }

    @Test
    void templateHashIsStableAndSeesEveryChange() {
        PodTemplate a = PodTemplate.newBuilder().putLabels("x", "1").putLabels("y", "2")
                .addContainers(Container.newBuilder().setName("c").setImage("i:1")).build();
        PodTemplate sameOtherMapOrder = PodTemplate.newBuilder().putLabels("y", "2").putLabels("x", "1")
                .addContainers(Container.newBuilder().setName("c").setImage("i:1")).build();
        assertEquals(TemplateHash.of(a), TemplateHash.of(sameOtherMapOrder));
        assertEquals(16, TemplateHash.of(a).length());
        assertNotEquals(TemplateHash.of(a), TemplateHash.of(a.toBuilder().setContainers(0, a.getContainers(0).toBuilder().addArgs("-v")).build()));
    }

    @Test
    void crashLoopBackoffDoublesToTheCapAndResets() {
        RestartBackoff backoff = new RestartBackoff(Duration.ofSeconds(10), Duration.ofSeconds(40));
        Instant t = Instant.parse("2026-01-01T00:00:00Z");
        assertEquals(Duration.ZERO, backoff.remaining("k", t, t), "the first restart is immediate");
        backoff.next("k", t);
        assertEquals(Duration.ofSeconds(10), backoff.remaining("k", t, t));
        assertEquals(Duration.ofSeconds(4), backoff.remaining("k", t, t.plusSeconds(6)));
        backoff.next("k", t);
        backoff.next("k", t);
        assertEquals(Duration.ofSeconds(40), backoff.currentDelay("k"));
        backoff.next("k", t);
        assertEquals(Duration.ofSeconds(40), backoff.currentDelay("k"), "capped");
        backoff.reset("k");
        assertEquals(Duration.ZERO, backoff.remaining("k", t, t));
    }

    @Test
    void cpuLimitsBecomeCfsQuota() {
        var assignment = Pods.assignment("ns", "app", 0, Pods.template(PodTemplate.RestartPolicy.ALWAYS,
                Pods.container("c", "i:1").toBuilder().setLimits(dev.edgeplane.api.v1.Resources.newBuilder()
                        .setCpuMillis(250).setMemoryBytes(64L << 20)).build()));
        var config = PodConfigs.container(assignment, assignment.getTemplate().getContainers(0), "h", 2);
        assertEquals(100_000, config.getLinux().getResources().getCpuPeriod());
        assertEquals(25_000, config.getLinux().getResources().getCpuQuota());
        assertEquals(64L << 20, config.getLinux().getResources().getMemoryLimitInBytes());
        assertEquals("c/2.log", config.getLogPath());
        assertEquals("true", config.getLabelsOrThrow(PodLabels.MANAGED));
    }
}
