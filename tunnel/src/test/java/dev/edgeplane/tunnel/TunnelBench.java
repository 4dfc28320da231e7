package dev.edgeplane.tunnel;

import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.api.v1.PortForwardStart;
import dev.edgeplane.tunnel.client.StreamPipe;
import dev.edgeplane.tunnel.hub.HubSettings;
import dev.edgeplane.tunnel.policy.Allowlist;
import java.io.ByteArrayInputStream;
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
        int perStreamMb = Integer.getInteger("bench.mb", 32);
        // One audit line per session is the product's; thousands of them here would be the bench's own load.
        java.util.logging.Logger audit = java.util.logging.Logger.getLogger("edgeplane.audit");
        audit.setLevel(java.util.logging.Level.WARNING);
        try (EchoServer echo = new EchoServer();
             Sink sink = new Sink();
             Source source = new Source();
             IdleServer idle = new IdleServer();
             TunnelFixture tunnel = new TunnelFixture(new Allowlist(Set.of(echo.port(), sink.port(), source.port(), idle.port()),
                     Set.of(), false, Set.of(), false, false, 22, true), HubSettings.defaults(), Optional.empty(), Map.of())) {
            // warm up the JIT (its compiler threads count in the CPU figures) and the channels
            for (int round = 0; round < 2; round++) {
                for (Direction direction : Direction.values()) {
                    throughput(tunnel, sink, source, direction, 1, 16, false);
                    throughput(tunnel, sink, source, direction, 1, 32, true);
                    throughput(tunnel, sink, source, direction, 16, 2, true);
                }
            }
            // Direct and tunnelled runs alternate, ROUNDS times; the median of each is reported (other
            // work on the host moves single runs by a factor of several). CPU: this process's, per MB.
            int rounds = Integer.getInteger("bench.rounds", 3);
            double[] ratio = new double[2];
            for (int i = 0; i < 2; i++) {
                int streams = i == 0 ? 1 : 16;
                int mb = Math.max(8, perStreamMb / streams);
                ratio[i] = Double.MAX_VALUE;
                for (Direction direction : Direction.values()) {
                    double[] direct = new double[rounds];
                    double[] tunnelled = new double[rounds];
                    double[] directCpu = new double[rounds];
                    double[] tunnelCpu = new double[rounds];
                    for (int r = 0; r < rounds; r++) {
                        long cpu = cpuNanos();
                        direct[r] = throughput(tunnel, sink, source, direction, streams, mb, false);
                        directCpu[r] = (cpuNanos() - cpu) / 1e6 / ((double) streams * mb);
                        cpu = cpuNanos();
                        tunnelled[r] = throughput(tunnel, sink, source, direction, streams, mb, true);
                        tunnelCpu[r] = (cpuNanos() - cpu) / 1e6 / ((double) streams * mb);
                    }
                    double d = median(direct);
                    double t = median(tunnelled);
                    ratio[i] = Math.min(ratio[i], t / d);
                    System.out.printf("BENCH tunnel.port_forward streams=%d direction=%s direct_MBps=%.1f tunnel_MBps=%.1f ratio=%.3f"
                                    + " direct_cpu_ms_per_MB=%.2f tunnel_cpu_ms_per_MB=%.2f rounds=%d load_avg=%.1f%n",
                            streams, direction.name().toLowerCase(), d, t, t / d, median(directCpu), median(tunnelCpu), rounds, loadAverage());
                }
            }
            latency(tunnel, echo, 50);
            long[][] sessions = latency(tunnel, echo, 500);
            long[] firstByte = sessions[0];
            long[] whole = sessions[1];
            long[] direct = directLatency(echo, 500);
            double setupP99 = firstByte[(int) (firstByte.length * 0.99)] / 1e6;
            System.out.printf("BENCH tunnel.session_setup n=%d p50_ms=%.2f p99_ms=%.2f whole_session_p50_ms=%.2f whole_session_p99_ms=%.2f"
                            + " direct_tcp_p50_ms=%.2f direct_tcp_p99_ms=%.2f load_avg=%.1f%n",
                    firstByte.length, firstByte[firstByte.length / 2] / 1e6, setupP99, whole[whole.length / 2] / 1e6,
                    whole[(int) (whole.length * 0.99)] / 1e6, direct[direct.length / 2] / 1e6, direct[(int) (direct.length * 0.99)] / 1e6,
                    loadAverage());
            double heapKib = memoryPerSession(tunnel, idle, 50) / 1024.0;
            // The keys: the lower ratio of the two directions for 1 and 16 streams.
            System.out.printf("BENCH tunnel port_forward_ratio_1=%.3f port_forward_ratio_16=%.3f session_setup_p99_ms=%.2f heap_kib_per_session=%.1f load_avg=%.1f%n",
                    ratio[0], ratio[1], setupP99, heapKib, loadAverage());
        }
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    /** CPU time of this process (all its threads: both ends of the tunnel, the hub and the servers). */
    private static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    private static double loadAverage() {
        return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }

    /** Upload: the operator's bytes to a sink on the node; download: a source on the node to the operator. */
    private enum Direction { UPLOAD, DOWNLOAD }

    /**
     * MB/s moved through port-forward sessions (direct: plain loopback TCP to the same server). Upload
     * writes zeros to a sink that discards them; download reads what a source on the node writes.
     */
    private static double throughput(TunnelFixture tunnel, Sink sink, Source source, Direction direction, int streams,
                                     int mbPerStream, boolean tunnelled) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(streams);
        try {
            long start = System.nanoTime();
            List<Future<?>> futures = new ArrayList<>();
            for (int i = 0; i < streams; i++) {
                futures.add(pool.submit(() -> {
                    long bytes = (long) mbPerStream * MB;
                    boolean upload = direction == Direction.UPLOAD;
                    // a download asks the source for its byte count in the first 8 bytes
                    InputStream data = upload ? new ZeroStream(bytes) : new ByteArrayInputStream(java.nio.ByteBuffer.allocate(8).putLong(bytes).array());
                    CountingStream received = new CountingStream();
                    int port = upload ? sink.port() : source.port();
                    if (tunnelled) {
                        StreamPipe.run(tunnel.ops(), StreamPipe.Kind.PORT_FORWARD, PortForwardStart.newBuilder()
                                .setTarget(OpsTarget.newBuilder().setNode(TunnelFixture.NODE)).setPort(port).build(),
                                data, received);
                    } else {
                        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                            data.transferTo(s.getOutputStream());
                            s.shutdownOutput();
                            s.getInputStream().transferTo(received);
                        }
                    }
                    if (!upload && received.count != bytes) {
                        throw new IllegalStateException("downloaded " + received.count + " bytes, not " + bytes);
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

    /**
     * Nanoseconds, sorted, of n one-byte sessions to an echo server: [0] from the call to the first
     * echoed byte (setup: grant, OpenTunnel, the agent's stream and TCP connect, one round trip), [1]
     * to the session's end (half-close, the echo server closing, both ends closing).
     */
    private static long[][] latency(TunnelFixture tunnel, EchoServer echo, int n) throws Exception {
        long[] firstByte = new long[n];
        long[] whole = new long[n];
        for (int i = 0; i < n; i++) {
            long start = System.nanoTime();
            long[] first = {0};
            OutputStream out = new OutputStream() {
                @Override
                public void write(int b) {
                    if (first[0] == 0) {
                        first[0] = System.nanoTime();
                    }
                }

                @Override
                public void write(byte[] b, int off, int len) {
                    if (len > 0 && first[0] == 0) {
                        first[0] = System.nanoTime();
                    }
                }
            };
            StreamPipe.run(tunnel.ops(), StreamPipe.Kind.PORT_FORWARD, PortForwardStart.newBuilder()
                    .setTarget(OpsTarget.newBuilder().setNode(TunnelFixture.NODE)).setPort(echo.port()).build(),
                    new ByteArrayInputStream(new byte[] {42}), out);
            whole[i] = System.nanoTime() - start;
            firstByte[i] = first[0] - start;
        }
        Arrays.sort(firstByte);
        Arrays.sort(whole);
        return new long[][] {firstByte, whole};
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

    /**
     * Heap per open, idle port-forward session: the hub's and the agent's state plus the operator's
     * bare gRPC call (both ends are in this JVM; edgectl's pipe is a process of its own, and the
     * target is a server that holds its connections without buffers). Opens n, measures, closes.
     */
    private static long memoryPerSession(TunnelFixture tunnel, IdleServer idle, int n) throws Exception {
        Poll.until(() -> tunnel.agent.activeSessions() == 0 && tunnel.hub.openSessions() == 0, "no sessions open", 60_000);
        long before = usedHeap();
        List<io.grpc.stub.ClientCallStreamObserver<dev.edgeplane.api.v1.PortForwardRequest>> calls = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            var call = (io.grpc.stub.ClientCallStreamObserver<dev.edgeplane.api.v1.PortForwardRequest>) tunnel.ops().portForward(
                    new io.grpc.stub.StreamObserver<dev.edgeplane.api.v1.PortForwardResponse>() {
                        @Override
                        public void onNext(dev.edgeplane.api.v1.PortForwardResponse value) {}

                        @Override
                        public void onError(Throwable t) {}

                        @Override
                        public void onCompleted() {}
                    });
            call.onNext(dev.edgeplane.api.v1.PortForwardRequest.newBuilder().setStart(PortForwardStart.newBuilder()
                    .setTarget(OpsTarget.newBuilder().setNode(TunnelFixture.NODE)).setPort(idle.port())).build());
            calls.add(call);
        }
        Poll.until(() -> tunnel.agent.activeSessions() == n && idle.connections() >= n, n + " open sessions", 60_000);
        long during = usedHeap();
        long perSession = (during - before) / n;
        System.out.printf("BENCH tunnel.memory_per_session sessions=%d heap_bytes_per_session=%d threads=%d (hub, agent and a bare operator call in one JVM)%n",
                n, perSession, ManagementFactory.getThreadMXBean().getThreadCount());
        for (var call : calls) {
            call.onNext(dev.edgeplane.api.v1.PortForwardRequest.newBuilder().setCloseWrite(true).build());
            call.onCompleted();
        }
        idle.closeAll();
        Poll.until(() -> tunnel.agent.activeSessions() == 0, "sessions closed", 60_000);
        return perSession;
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

    /** Writes the number of bytes the client asks for (an 8-byte count), then closes. */
    private static final class Source implements AutoCloseable {
        private final java.net.ServerSocket server;

        Source() throws IOException {
            server = new java.net.ServerSocket(0, 64, InetAddress.getLoopbackAddress());
            Thread t = new Thread(() -> {
                while (!server.isClosed()) {
                    try {
                        Socket s = server.accept();
                        Thread h = new Thread(() -> {
                            try (s) {
                                long left = new java.io.DataInputStream(s.getInputStream()).readLong();
                                byte[] chunk = new byte[64 * 1024];
                                OutputStream out = s.getOutputStream();
                                while (left > 0) {
                                    int n = (int) Math.min(chunk.length, left);
                                    out.write(chunk, 0, n);
                                    left -= n;
                                }
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

    /** Accepts connections and holds them, reading nothing: an idle service that costs the bench no heap. */
    private static final class IdleServer implements AutoCloseable {
        private final java.net.ServerSocket server;
        private final List<Socket> accepted = java.util.Collections.synchronizedList(new ArrayList<>());

        IdleServer() throws IOException {
            server = new java.net.ServerSocket(0, 128, InetAddress.getLoopbackAddress());
            Thread t = new Thread(() -> {
                while (!server.isClosed()) {
                    try {
                        accepted.add(server.accept());
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

        int connections() {
            return accepted.size();
        }

        void closeAll() throws IOException {
            synchronized (accepted) {
                for (Socket s : accepted) {
                    s.close();
                }
                accepted.clear();
            }
        }

        @Override
        public void close() throws IOException {
            closeAll();
            server.close();
        }
    }

    /** Counts and discards. */
    private static final class CountingStream extends OutputStream {
        private long count;

        @Override
        public void write(int b) {
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) {
            count += len;
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
