package dev.edgeplane.agent.probe;

import com.sun.net.httpserver.HttpServer;
import dev.edgeplane.agent.events.EventRecorder;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.HTTPGetAction;
import dev.edgeplane.api.v1.ObjectReference;
import dev.edgeplane.api.v1.Probe;
import dev.edgeplane.api.v1.TCPSocketAction;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The agent's CPU for 100 probes at Kubernetes' default period (10 s): the CPU time of the prober's
 * own threads (the timer and the check pool), sampled every second so a pooled thread that ends keeps
 * its count, over {@code -Dprobes.seconds} (60) per kind. The HTTP server answering is not counted.
 * Prints {@code BENCH probes ...}. Run from deploy/bench.sh probes.
 */
class ProbeBench {
    private static final int PROBES = 100;

    @Test
    void cpuOfOneHundredProbesAtTheDefaultPeriod() throws Exception {
        int seconds = Integer.getInteger("probes.seconds", 60);
        HttpServer http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 128);
        AtomicLong answered = new AtomicLong();
        http.createContext("/healthz", exchange -> {
            answered.incrementAndGet();
            exchange.sendResponseHeaders(200, -1);
            exchange.close();
        });
        http.setExecutor(Executors.newFixedThreadPool(4, r -> new Thread(r, "bench-http")));
        http.start();
        try {
            int port = http.getAddress().getPort();
            double httpMs = cpuMsPerPeriod(Probe.newBuilder().setHttpGet(HTTPGetAction.newBuilder().setPath("/healthz").setPort(port)).build(), seconds);
            long httpChecks = answered.get();
            double tcpMs = cpuMsPerPeriod(Probe.newBuilder().setTcpSocket(TCPSocketAction.newBuilder().setPort(port)).build(), seconds);
            System.out.printf("BENCH probes probes=%d period_s=10 window_s=%d http_checks=%d http_cpu_ms_per_period=%.1f"
                            + " http_cpu_percent_of_a_core=%.3f tcp_cpu_ms_per_period=%.1f tcp_cpu_percent_of_a_core=%.3f%n",
                    PROBES, seconds, httpChecks, httpMs, httpMs / 10_000 * 100, tcpMs, tcpMs / 10_000 * 100);
        } finally {
            http.stop(0);
        }
    }

    /** CPU milliseconds the prober's threads spend per 10 s period running {@link #PROBES} copies of the probe. */
    private static double cpuMsPerPeriod(Probe probe, int seconds) throws Exception {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        Map<Long, Long> cpuByThread = new HashMap<>();
        Prober prober = new Prober((id, command, timeout) -> {
            throw new UnsupportedOperationException("no exec here");
        });
        try (ProberManager manager = new ProberManager(prober, 8, EventRecorder.NONE, Clock.systemUTC())) {
            Container spec = Container.newBuilder().setName("c").setReadinessProbe(probe).build();
            List<ProberManager.RunningContainer> running = new ArrayList<>();
            for (int i = 0; i < PROBES; i++) {
                manager.syncPod("bench/p-" + i, ObjectReference.getDefaultInstance(),
                        List.of(new ProberManager.RunningContainer("c-" + i, spec, Instant.now())));
            }
            Thread.sleep(12_000); // warm-up: every probe has run at least once, JIT included
            Map<Long, Long> start = sample(threads);
            long deadline = System.nanoTime() + seconds * 1_000_000_000L;
            while (System.nanoTime() < deadline) {
                Thread.sleep(1000);
                sample(threads).forEach((id, cpu) -> cpuByThread.merge(id, cpu, Math::max));
            }
            long total = 0;
            for (Map.Entry<Long, Long> e : cpuByThread.entrySet()) {
                total += e.getValue() - start.getOrDefault(e.getKey(), 0L);
            }
            return total / 1e6 / (seconds / 10.0);
        }
    }

    /** CPU nanoseconds of each prober thread now. */
    private static Map<Long, Long> sample(ThreadMXBean threads) {
        Map<Long, Long> cpu = new HashMap<>();
        for (ThreadInfo info : threads.getThreadInfo(threads.getAllThreadIds())) {
            if (info != null && (info.getThreadName().startsWith("prober-") || info.getThreadName().equals("probe-timer"))) {
                long nanos = threads.getThreadCpuTime(info.getThreadId());
                if (nanos >= 0) {
                    cpu.put(info.getThreadId(), nanos);
                }
            }
        }
        return cpu;
    }
}
