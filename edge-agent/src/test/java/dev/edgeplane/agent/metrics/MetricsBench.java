package dev.edgeplane.agent.metrics;

import dev.edgeplane.agent.Await;
import dev.edgeplane.agent.TestPki;
import dev.edgeplane.agent.identity.StateDir;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.journal.JournalStore;
import dev.edgeplane.agent.pods.Pods;
import dev.edgeplane.agent.pods.Reconciler;
import dev.edgeplane.agent.pods.ReconcilerSettings;
import dev.edgeplane.agent.run.Agent;
import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.agent.status.StatusManager;
import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.MetricsAck;
import dev.edgeplane.api.v1.MetricsBatch;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.Resources;
import dev.edgeplane.api.v1.Snapshot;
import dev.edgeplane.testkit.Containerd;
import dev.edgeplane.testkit.FreePorts;
import dev.edgeplane.testkit.TestImages;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Figures for issue 6's closing note (BENCH lines; run by deploy/bench.sh metrics):
 * <ul>
 * <li>bytes per node per minute on the wire for steady reporting at the defaults (a sample every
 *     10 s, a batch every 60 s), for a node running 5 containers on a real containerd: the real
 *     collectors feed the real uploader, whose ReportMetrics stream runs over mutual TLS through a
 *     TCP proxy that counts every byte both ways (HTTP/2 and TLS framing, acks included; the shared
 *     connection's setup and keepalive pings are not metrics' cost and are left out). Simulated time:
 *     the frames carry 10 s steps, so ten minutes take seconds;</li>
 * <li>CPU used by collection: the sampling thread's CPU time per pass, as a share of one core at
 *     the 10 s default.</li>
 * </ul>
 */
class MetricsBench {
    private static final int CONTAINERS = 5;
    private static final int MINUTES = 10;
    private static final Duration INTERVAL = Duration.ofSeconds(10);
    private static final Duration FLUSH = Duration.ofSeconds(60);

    @TempDir
    Path tmp;

    @Test
    void wireBytesAndCollectionCpu() throws Exception {
        try (Containerd containerd = Containerd.start(List.of(TestImages.BUSYBOX));
             CriRuntime cri = CriRuntime.connect(containerd.endpoint())) {
            DesiredStateStore desired = DesiredStateStore.open(new JournalStore(tmp.resolve("journal")));
            StatusManager status = new StatusManager(Clock.systemUTC());
            try (Reconciler reconciler = new Reconciler(cri, desired, status,
                    ReconcilerSettings.defaults("bench", tmp.resolve("logs")).withSyncPeriod(Duration.ofMillis(500)), Clock.systemUTC())) {
                reconciler.start();
                Snapshot.Builder snapshot = Snapshot.newBuilder().setRevision(1);
                for (int i = 0; i < CONTAINERS; i++) {
                    // One container busy at 0.1 cores, the others asleep: values that change and ones that do not.
                    PodTemplate t = Pods.template(PodTemplate.RestartPolicy.ALWAYS, i == 0
                            ? Pods.container("main", Pods.BUSYBOX, "sh", "-c", "while :; do :; done").toBuilder()
                                    .setLimits(Resources.newBuilder().setCpuMillis(100)).build()
                            : Pods.container("main", Pods.BUSYBOX, "sleep", "3600"));
                    snapshot.addAssignments(Pods.assignment("bench", "app" + i, 0, t));
                }
                desired.applySnapshot(snapshot.build());
                Await.until(Duration.ofSeconds(120), CONTAINERS + " containers running", () -> Pods.running(cri, "bench").size() == CONTAINERS);
                try {
                    // Coded values (the default) and plain doubles (agents before codes), each with and without gzip.
                    for (int precision : new int[] {MetricsSettings.DEFAULT_PRECISION_BITS, 0}) {
                        for (boolean gzip : new boolean[] {true, false}) {
                            run(cri, gzip, precision);
                        }
                    }
                } finally {
                    Pods.removeAll(cri);
                }
            }
        }
    }

    private void run(CriRuntime cri, boolean gzip, int precision) throws Exception {
        Path dir = tmp.resolve((gzip ? "gzip-" : "plain-") + precision);
        TestPki pki = new TestPki("bench-ca");
        TestPki.Issued serving = pki.server();
        AtomicLong batches = new AtomicLong();
        AtomicLong frames = new AtomicLong();
        AtomicLong serialized = new AtomicLong();
        int port = FreePorts.next();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
                .sslContext(GrpcSslContexts.configure(SslContextBuilder.forServer(serving.keys().getPrivate(), serving.certificate(), pki.ca())
                        .trustManager(pki.ca()).clientAuth(ClientAuth.REQUIRE)).build())
                .addService(new AgentServiceGrpc.AgentServiceImplBase() {
                    @Override
                    public StreamObserver<MetricsBatch> reportMetrics(StreamObserver<MetricsAck> acks) {
                        return new StreamObserver<>() {
                            private boolean first = true;

                            @Override
                            public void onNext(MetricsBatch batch) {
                                batches.incrementAndGet();
                                frames.addAndGet(batch.getFramesCount());
                                serialized.addAndGet(batch.getSerializedSize());
                                // As the control plane does: its first ack says blocks are read.
                                acks.onNext(MetricsAck.newBuilder().setSequence(batch.getSequence()).setReadsBlocks(first).build());
                                first = false;
                            }

                            @Override
                            public void onError(Throwable t) {}

                            @Override
                            public void onCompleted() {
                                acks.onCompleted();
                            }
                        };
                    }
                }).build().start();
        StateDir state = new StateDir(dir.resolve("state"));
        TestPki.Issued node = pki.node("bench");
        state.writeIdentity(node.keyPem(), node.certificatePem(), pki.caPem(), new StateDir.NodeRecord("bench", "", "127.0.0.1:" + port));
        ExecutorService thread = Executors.newSingleThreadExecutor();
        try (CountingProxy proxy = new CountingProxy(port)) {
            ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", proxy.port()).sslContext(Agent.mutualTls(state)).build();
            MetricsRing ring = MetricsRing.open(dir.resolve("ring"), MetricsSettings.DEFAULT_RING_BYTES, Duration.ofHours(24), Clock.systemUTC());
            AtomicLong nanos = new AtomicLong();
            MetricsUploader uploader = new MetricsUploader(channel, () -> true, ring, new SequenceFile(dir.resolve("sequence")),
                    new Downsampler(Duration.ofMinutes(1)), new MetricsUploader.Settings(FLUSH, gzip, 1000, 60, precision), thread,
                    nanos::get, () -> {});
            AgentStats stats = AgentStats.system();
            stats.linkUp();
            List<Collector> collectors = List.of(NodeCollector.forHost(dir), new ContainerCollector(cri),
                    new AgentCollector(stats, Path.of("/proc/self/status"), () -> 0.0));
            ThreadMXBean threads = ManagementFactory.getThreadMXBean();
            // Warm up (JIT, first CPU readings) and open the stream: not counted.
            long[] cpu = new long[1];
            int[] series = new int[1];
            long start = System.currentTimeMillis();
            thread.submit(() -> sample(collectors, uploader, start - 10_000)).get();
            Await.until(Duration.ofSeconds(30), "stream up", () -> {
                try {
                    nanos.addAndGet(Duration.ofSeconds(1).toNanos()); // past any retry delay, short of a flush
                    return thread.submit(() -> {
                        uploader.tick();
                        return uploader.streaming();
                    }).get() && proxy.downBytes() > 0;
                } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
                    throw new IllegalStateException(e);
                }
            }, () -> "proxy " + proxy.upBytes() + " up, " + proxy.downBytes() + " down, " + batches.get() + " batches");
            Thread.sleep(500);
            long upBefore = proxy.upBytes();
            long downBefore = proxy.downBytes();
            long batchesBefore = batches.get();
            int samplesPerMinute = (int) (FLUSH.toMillis() / INTERVAL.toMillis());
            for (int minute = 0; minute < MINUTES; minute++) {
                for (int i = 0; i < samplesPerMinute; i++) {
                    long t = start + (minute * samplesPerMinute + i) * INTERVAL.toMillis();
                    Thread.sleep(100); // real time passes between passes: containerd's and /proc's figures move
                    thread.submit(() -> {
                        long before = threads.getCurrentThreadCpuTime();
                        series[0] = sample(collectors, uploader, t);
                        cpu[0] += threads.getCurrentThreadCpuTime() - before;
                    }).get();
                }
                nanos.addAndGet(FLUSH.toNanos());
                thread.submit(uploader::tick).get();
            }
            long expected = batchesBefore + MINUTES;
            Await.until(Duration.ofSeconds(20), "all batches acked", () -> {
                try {
                    return batches.get() >= expected && thread.submit(uploader::queued).get() == 0L;
                } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
                    throw new IllegalStateException(e);
                }
            });
            Thread.sleep(500);
            long up = proxy.upBytes() - upBefore;
            long down = proxy.downBytes() - downBefore;
            double perMinute = (up + down) / (double) MINUTES;
            System.out.printf("BENCH metrics wire %s %s: %d series, %d frames/min, %.0f bytes/node/min (%.0f up + %.0f down, %.3f kbit/s; "
                            + "KubeEdge steady ~0.25 kbit/s = 1875 B/min); protobuf before compression %.0f B/min%n",
                    precision == 0 ? "doubles" : "coded", gzip ? "gzip" : "identity", series[0], samplesPerMinute, perMinute, up / (double) MINUTES, down / (double) MINUTES,
                    perMinute * 8 / 60 / 1000, serialized.get() / (double) batches.get());
            if (gzip && precision != 0) {
                // What an hour offline costs on disk: one ring record a minute at the default resolution.
                try (MetricsRing offline = MetricsRing.open(dir.resolve("offline"), MetricsSettings.DEFAULT_RING_BYTES,
                        Duration.ofHours(24), Clock.systemUTC())) {
                    int records = 60;
                    for (int i = 0; i < records; i++) {
                        long t = System.currentTimeMillis() - (records - i) * 60_000L;
                        thread.submit(() -> {
                            Samples s = new Samples();
                            for (Collector c : collectors) {
                                try {
                                    c.collect(s);
                                } catch (Exception e) {
                                    throw new IllegalStateException(c.name(), e);
                                }
                            }
                            offline.append(s.frame(t));
                            return null;
                        }).get();
                    }
                    double perRecord = offline.bytes() / (double) records;
                    System.out.printf("BENCH metrics ring: %.0f bytes per 1-minute record (%d series) -> %.1f MiB for 24 h offline "
                            + "(bound %d MiB)%n", perRecord, series[0], perRecord * 1440 / (1 << 20), MetricsSettings.DEFAULT_RING_BYTES >> 20);
                }
                int passes = MINUTES * samplesPerMinute;
                double msPerPass = cpu[0] / 1e6 / passes;
                System.out.printf("BENCH metrics collect cpu: %.2f ms per pass (node + %d containers via CRI + agent) = %.3f%% of one core "
                        + "at a %d s interval (sampler thread CPU)%n", msPerPass, CONTAINERS, msPerPass / INTERVAL.toMillis() * 100,
                        INTERVAL.toSeconds());
            }
            thread.submit(uploader::shutdown).get();
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            ring.close();
        } finally {
            thread.shutdownNow();
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private static int sample(List<Collector> collectors, MetricsUploader uploader, long timeMs) {
        Samples s = new Samples();
        for (Collector c : collectors) {
            try {
                c.collect(s);
            } catch (Exception e) {
                throw new IllegalStateException(c.name(), e);
            }
        }
        uploader.record(s.frame(timeMs));
        return s.size();
    }

    /** A loopback TCP proxy that counts bytes each way. */
    private static final class CountingProxy implements AutoCloseable {
        private final ServerSocket listener;
        private final AtomicLong up = new AtomicLong();
        private final AtomicLong down = new AtomicLong();
        private final List<Socket> sockets = new ArrayList<>();
        private final Thread acceptor;

        CountingProxy(int target) throws IOException {
            listener = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
            acceptor = new Thread(() -> {
                while (!listener.isClosed()) {
                    try {
                        Socket client = listener.accept();
                        Socket server = new Socket("127.0.0.1", target);
                        synchronized (sockets) {
                            sockets.add(client);
                            sockets.add(server);
                        }
                        pump(client, server, up);
                        pump(server, client, down);
                    } catch (IOException e) {
                        return;
                    }
                }
            }, "proxy-accept");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        private static void pump(Socket from, Socket to, AtomicLong counter) {
            Thread t = new Thread(() -> {
                byte[] buf = new byte[16384];
                try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                    int n;
                    while ((n = in.read(buf)) > 0) {
                        counter.addAndGet(n);
                        out.write(buf, 0, n);
                        out.flush();
                    }
                } catch (IOException ignored) {
                    // closed
                }
            }, "proxy-pump");
            t.setDaemon(true);
            t.start();
        }

        int port() {
            return listener.getLocalPort();
        }

        long upBytes() {
            return up.get();
        }

        long downBytes() {
            return down.get();
        }

        @Override
        public void close() throws IOException {
            listener.close();
            synchronized (sockets) {
                for (Socket s : sockets) {
                    s.close();
                }
            }
        }
    }
}
