package dev.edgeplane.tunnel;

import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.api.v1.PortForwardStart;
import dev.edgeplane.tunnel.client.StreamPipe;
import dev.edgeplane.tunnel.hub.HubSettings;
import dev.edgeplane.tunnel.policy.Allowlist;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Port-forward throughput through the tunnel as a ratio of direct loopback TCP (1 and 16 streams),
 * session setup latency p50/p99, and heap per open session. Prints "BENCH " lines; run with
 * deploy/bench.sh tunnel (or -Dtest=TunnelBench -Dedgeplane.bench=true).
 */
public final class TunnelBench {
    private static final int MB = 1024 * 1024;

    /** Not a *Test: surefire runs it only when asked (-Dtest=TunnelBench), as deploy/bench.sh does. */
    @org.junit.jupiter.api.Test
    void bench() throws Exception {
        main(new String[0]);
    }

    public static void main(String[] args) throws Exception {
        int perStreamMb = Integer.getInteger("bench.mb", 64);
        try (EchoServer echo = new EchoServer();
             Sink sink = new Sink();
             TunnelFixture tunnel = new TunnelFixture(new Allowlist(Set.of(echo.port(), sink.port()), Set.of(), false, Set.of(), false, false, 22, true),
                     HubSettings.defaults(), Optional.empty(), Map.of())) {
            // warm up the JIT and the channels
            throughput(tunnel, sink, 1, 16, false);
            throughput(tunnel, sink, 1, 16, true);
            for (int streams : new int[] {1, 16}) {
                int mb = Math.max(8, perStreamMb / streams);
                double direct = throughput(tunnel, sink, streams, mb, false);
                double tunnelled = throughput(tunnel, sink, streams, mb, true);
                System.out.printf("BENCH tunnel.port_forward streams=%d direct_MBps=%.1f tunnel_MBps=%.1f ratio=%.3f%n",
                        streams, direct, tunnelled, tunnelled / direct);
            }
            latency(tunnel, echo, 50);
            long[] ms = latency(tunnel, echo, 500);
            long[] direct = directLatency(echo, 500);
            System.out.printf("BENCH tunnel.session_setup n=%d p50_ms=%.2f p99_ms=%.2f direct_tcp_p50_ms=%.2f direct_tcp_p99_ms=%.2f load_avg=%.1f%n",
                    ms.length, ms[ms.length / 2] / 1e6, ms[(int) (ms.length * 0.99)] / 1e6,
                    direct[direct.length / 2] / 1e6, direct[(int) (direct.length * 0.99)] / 1e6,
                    ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
            memoryPerSession(tunnel, echo, 50);
        }
    }

    /** MB/s of data written to a sink that discards it (direct: plain loopback TCP to the same sink). */
    private static double throughput(TunnelFixture tunnel, Sink sink, int streams, int mbPerStream, boolean tunnelled) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(streams);
        try {
            long start = System.nanoTime();
            List<Future<?>> futures = new ArrayList<>();
            for (int i = 0; i < streams; i++) {
                futures.add(pool.submit(() -> {
                    InputStream data = new ZeroStream((long) mbPerStream * MB);
                    if (tunnelled) {
                        StreamPipe.run(tunnel.ops(), StreamPipe.Kind.PORT_FORWARD, PortForwardStart.newBuilder()
                                .setTarget(OpsTarget.newBuilder().setNode(TunnelFixture.NODE)).setPort(sink.port()).build(),
                                data, OutputStream.nullOutputStream());
                    } else {
                        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), sink.port())) {
                            data.transferTo(s.getOutputStream());
                            s.shutdownOutput();
                            s.getInputStream().transferTo(OutputStream.nullOutputStream());
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get(10, TimeUnit.MINUTES);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            return (double) streams * mbPerStream / seconds;
        } finally {
            pool.shutdownNow();
        }
    }

    /** Nanoseconds from the first request to the first echoed byte of a new session, sorted. */
    private static long[] latency(TunnelFixture tunnel, EchoServer echo, int n) throws Exception {
        long[] result = new long[n];
        for (int i = 0; i < n; i++) {
            long start = System.nanoTime();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            StreamPipe.run(tunnel.ops(), StreamPipe.Kind.PORT_FORWARD, PortForwardStart.newBuilder()
                    .setTarget(OpsTarget.newBuilder().setNode(TunnelFixture.NODE)).setPort(echo.port()).build(),
                    new ByteArrayInputStream(new byte[] {42}), out);
            result[i] = System.nanoTime() - start;
        }
        Arrays.sort(result);
        return result;
    }

    /** The same exchange over plain loopback TCP: connect, one byte, half-close, read the echo. */
    private static long[] directLatency(EchoServer echo, int n) throws IOException {
        long[] result = new long[n];
        for (int i = 0; i < n; i++) {
            long start = System.nanoTime();
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), echo.port())) {
                s.getOutputStream().write(42);
                s.shutdownOutput();
                s.getInputStream().readAllBytes();
            }
            result[i] = System.nanoTime() - start;
        }
        Arrays.sort(result);
        return result;
    }

    /** Heap used by open, idle sessions (both ends are in this JVM): opens n, measures, closes. */
    private static void memoryPerSession(TunnelFixture tunnel, EchoServer echo, int n) throws Exception {
        long before = usedHeap();
        List<Thread> threads = new ArrayList<>();
        CountDownLatch release = new CountDownLatch(1);
        List<java.io.PipedOutputStream> inputs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            java.io.PipedOutputStream feed = new java.io.PipedOutputStream();
            java.io.PipedInputStream in = new java.io.PipedInputStream(feed);
            inputs.add(feed);
            Thread t = new Thread(() -> {
                try {
                    StreamPipe.run(tunnel.ops(), StreamPipe.Kind.PORT_FORWARD, PortForwardStart.newBuilder()
                            .setTarget(OpsTarget.newBuilder().setNode(TunnelFixture.NODE)).setPort(echo.port()).build(),
                            in, OutputStream.nullOutputStream());
                } catch (Exception e) {
                    // ended
                }
            });
            t.setDaemon(true);
            t.start();
            threads.add(t);
        }
        Poll.until(() -> tunnel.agent.activeSessions() == n, n + " open sessions", 60_000);
        long during = usedHeap();
        System.out.printf("BENCH tunnel.memory_per_session sessions=%d heap_bytes_per_session=%d threads=%d (both ends and the operator in one JVM)%n",
                n, (during - before) / n, ManagementFactory.getThreadMXBean().getThreadCount());
        for (java.io.PipedOutputStream feed : inputs) {
            feed.close();
        }
        for (Thread t : threads) {
            t.join(10_000);
        }
        release.countDown();
    }

    private static long usedHeap() {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        Runtime r = Runtime.getRuntime();
        return r.totalMemory() - r.freeMemory();
    }

    /** Reads and discards; closes after the client half-closes. */
    private static final class Sink implements AutoCloseable {
        private final java.net.ServerSocket server;

        Sink() throws IOException {
            server = new java.net.ServerSocket(0, 64, InetAddress.getLoopbackAddress());
            Thread t = new Thread(() -> {
                while (!server.isClosed()) {
                    try {
                        Socket s = server.accept();
                        Thread h = new Thread(() -> {
                            try (s) {
                                s.getInputStream().transferTo(OutputStream.nullOutputStream());
                            } catch (IOException e) {
                                // gone
                            }
                        });
                        h.setDaemon(true);
                        h.start();
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            t.setDaemon(true);
            t.start();
        }

        int port() {
            return server.getLocalPort();
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }

    /** n zero bytes, read in large chunks. */
    private static final class ZeroStream extends InputStream {
        private long left;

        ZeroStream(long n) {
            left = n;
        }

        @Override
        public int read() {
            return left-- > 0 ? 0 : -1;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (left <= 0) {
                return -1;
            }
            int n = (int) Math.min(len, left);
            Arrays.fill(b, off, off + n, (byte) 0);
            left -= n;
            return n;
        }
    }
}
