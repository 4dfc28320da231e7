package dev.edgeplane.controlplane.quotas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.Quota;
import dev.edgeplane.api.v1.QuotaAmounts;
import dev.edgeplane.api.v1.QuotaSpec;
import dev.edgeplane.api.v1.Resources;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class QuotaCheckTest {
    private static App app(AppSpec.Mode mode, int replicas, long cpu, long memory, int containers) {
        PodTemplate.Builder template = PodTemplate.newBuilder();
        for (int i = 0; i < containers; i++) {
            template.addContainers(Container.newBuilder().setName("c" + i).setImage("busybox:1")
                    .setLimits(Resources.newBuilder().setCpuMillis(cpu).setMemoryBytes(memory)));
        }
        return App.newBuilder().setMetadata(ObjectMeta.newBuilder().setName("a"))
                .setSpec(AppSpec.newBuilder().setMode(mode).setReplicas(replicas).setTemplate(template)).build();
    }

    private static Quota quota(QuotaAmounts.Builder hard) {
        return Quota.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace("ns").setName("q"))
                .setSpec(QuotaSpec.newBuilder().setHard(hard)).build();
    }

    @Test
    void usageIsLimitsTimesReplicasSummedOverContainers() {
        assertEquals(new Usage(1, 3, 3 * 2 * 250, 3 * 2 * 100), Usage.of(app(AppSpec.Mode.REPLICATED, 3, 250, 100, 2)));
    }

    @Test
    void anAppWithPoolsCountsTheReplicasOfAllItsPools() {
        App app = app(AppSpec.Mode.REPLICATED, 2, 250, 100, 1);
        App spread = app.toBuilder().setSpec(app.getSpec().toBuilder()
                .addPools(dev.edgeplane.api.v1.PoolReplicas.newBuilder().setName("site-a").setReplicas(5))
                .addPools(dev.edgeplane.api.v1.PoolReplicas.newBuilder().setName("site-b"))).build(); // the App's 2
        assertEquals(new Usage(1, 7, 7 * 250, 7 * 100), Usage.of(spread));
    }

    @Test
    void anEveryNodeAppCountsAsAnAppOnly() {
        assertEquals(new Usage(1, 0, 0, 0), Usage.of(app(AppSpec.Mode.EVERY_NODE, 7, 250, 100, 1)));
    }

    @Test
    void sumsSaturateInsteadOfOverflowing() {
        Usage huge = Usage.of(app(AppSpec.Mode.REPLICATED, 10_000, Long.MAX_VALUE / 2, Long.MAX_VALUE, 2));
        assertEquals(Long.MAX_VALUE, huge.cpuMillis());
        assertEquals(Long.MAX_VALUE, huge.memoryBytes());
        assertEquals(Long.MAX_VALUE, huge.plus(huge).cpuMillis());
        assertTrue(QuotaCheck.exceeded(quota(QuotaAmounts.newBuilder().setCpuMillis(1_000)), Usage.NONE, huge).isPresent());
    }

    @Test
    void onlyGrowthPastAHardLimitIsRefusedAndUnsetLimitsAreNotLimits() {
        Quota replicas = quota(QuotaAmounts.newBuilder().setReplicas(10));
        assertEquals(Optional.of("replicas 11 would exceed 10"),
                QuotaCheck.exceeded(replicas, new Usage(1, 10, 0, 0), new Usage(1, 11, 0, 0)));
        assertEquals(Optional.empty(), QuotaCheck.exceeded(replicas, new Usage(1, 5, 0, 0), new Usage(1, 10, 0, 0)), "up to the limit");
        assertEquals(Optional.empty(), QuotaCheck.exceeded(replicas, new Usage(1, 20, 0, 0), new Usage(1, 15, 0, 0)),
                "over the limit but shrinking");
        assertEquals(Optional.empty(), QuotaCheck.exceeded(replicas, Usage.NONE, new Usage(99, 0, 99_999, 99_999)),
                "apps, cpu and memory are not limited by this quota");
        assertEquals(Optional.of("apps 1 would exceed 0"),
                QuotaCheck.exceeded(quota(QuotaAmounts.newBuilder().setApps(0)), Usage.NONE, new Usage(1, 0, 0, 0)), "0 is a limit");
    }

    @Test
    void aCpuOrMemoryQuotaNeedsEveryReplicatedContainerToSetThatLimit() {
        Quota cpu = quota(QuotaAmounts.newBuilder().setCpuMillis(1000));
        assertEquals(List.of("app.spec.template.containers[0].limits.cpu_millis", "app.spec.template.containers[1].limits.cpu_millis"),
                QuotaCheck.missingLimits(cpu, app(AppSpec.Mode.REPLICATED, 1, 0, 100, 2)));
        assertEquals(List.of(), QuotaCheck.missingLimits(cpu, app(AppSpec.Mode.REPLICATED, 1, 100, 0, 2)), "memory is not limited here");
        assertEquals(List.of(), QuotaCheck.missingLimits(cpu, app(AppSpec.Mode.EVERY_NODE, 0, 0, 0, 1)));
    }
}
