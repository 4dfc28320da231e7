package dev.edgeplane.controlplane.sync;

import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Join throughput: {@code JOINS} hosts (default 2,000) join with ONE multi-use token through the
 * real Join RPC over TLS, each on a connection of its own (as agents do), from {@code CALLERS}
 * concurrent callers (default 32). Prints {@code BENCH fleet joins_per_s=...}. Not in CI (*Bench):
 * {@code mvn -o -pl control-plane -am test -Dtest=JoinBench -Dsurefire.failIfNoSpecifiedTests=false -Djoins=2000 -Dcallers=32}.
 */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class JoinBench {
    @Test
    void joinsPerSecond() throws Exception {
        int joins = Integer.getInteger("joins", 2000);
        int callers = Integer.getInteger("callers", 32);
        try (TestApi api = new TestApi()) {
            JoinToken token = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder()
                    .setToken(JoinToken.newBuilder().setSpec(JoinTokenSpec.newBuilder().setMaxUses(joins))).build());
            // Keys first (the hosts' own work, not the control plane's).
            List<TestAgent> agents = new ArrayList<>();
            for (int i = 0; i < joins; i++) {
                agents.add(new TestAgent("bench-" + i));
            }
            AtomicInteger failed = new AtomicInteger();
            ExecutorService pool = Executors.newFixedThreadPool(callers);
            long start = System.nanoTime();
            List<Future<?>> done = new ArrayList<>();
            for (TestAgent agent : agents) {
                done.add(pool.submit(() -> {
                    try (agent) {
                        agent.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());
                    } catch (Exception e) {
                        if (failed.incrementAndGet() <= 5) {
                            System.out.println("join failed: " + e);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            pool.shutdown();
            long uses = api.tokens().getJoinToken(dev.edgeplane.api.v1.GetJoinTokenRequest.newBuilder()
                    .setName(token.getMetadata().getName()).build()).getStatus().getUses();
            System.out.printf("BENCH fleet joins=%d callers=%d failed=%d token_uses=%d seconds=%.1f joins_per_s=%.0f%n",
                    joins, callers, failed.get(), uses, seconds, (joins - failed.get()) / seconds);
        }
    }
}
