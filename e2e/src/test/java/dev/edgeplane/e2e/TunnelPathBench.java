package dev.edgeplane.e2e;

import dev.edgeplane.api.v1.OpsServiceGrpc;
import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.api.v1.PortForwardRequest;
import dev.edgeplane.api.v1.PortForwardResponse;
import dev.edgeplane.api.v1.PortForwardStart;
import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Port-forward throughput through the real processes (an operator's gRPC client on the public API, the
 * control plane's hub, the agent's Tunnel stream over mutual TLS, a TCP server on the host) against
 * direct loopback TCP to the same server: what TunnelBench (one JVM, no TLS) leaves out. Prints
 * {@code BENCH tunnel.real_path} lines; not part of the test run ({@code deploy/bench.sh tunnel-path}).
 */
class TunnelPathBench {
    private static final int MB = 1024 * 1024;
    private static final int CHUNK = 64 * 1024;

    @TempDir Path dir;

    @Test
    void portForwardThroughTheControlPlane() throws Exception {
        int mb = Integer.getInteger("bench.mb", 64);
        int rounds = Integer.getInteger("bench.rounds", 3);
        try (ServerSocket sink = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
             ServerSocket source = new ServerSocket(0, 16, InetAddress.getLoopbackAddress())) {
            serve(sink, s -> s.getInputStream().transferTo(OutputStream.nullOutputStream()));
            serve(source, s -> {
                long left = new DataInputStream(s.getInputStream()).readLong();
                byte[] chunk = new byte[CHUNK];
                while (left > 0) {
                    int n = (int) Math.min(chunk.length, left);
                    s.getOutputStream().write(chunk, 0, n);
                    left -= n;
                }
            });
            try (EdgeCluster cluster = EdgeCluster.start(dir, "bench-tunnel", List.of(
                    "--tunnel-ports", sink.getLocalPort() + "," + source.getLocalPort()))) {
                ManagedChannel channel = NettyChannelBuilder.forTarget(cluster.cloud.apiAddress()).usePlaintext().build();
                try {
                    OpsServiceGrpc.OpsServiceStub ops = OpsServiceGrpc.newStub(channel).withCallCredentials(ControlPlane.bearer(cluster.cloud.adminToken()));
                    forward(ops, "bench-tunnel", sink.getLocalPort(), 8L * MB, false); // warm up
                    forward(ops, "bench-tunnel", source.getLocalPort(), 8L * MB, true);
                    for (boolean download : new boolean[] {false, true}) {
                        int port = download ? source.getLocalPort() : sink.getLocalPort();
                        double[] direct = new double[rounds];
                        double[] tunnelled = new double[rounds];
                        for (int r = 0; r < rounds; r++) {
                            direct[r] = direct(port, (long) mb * MB, download);
                            tunnelled[r] = forward(ops, "bench-tunnel", port, (long) mb * MB, download);
                        }
                        double d = median(direct);
                        double t = median(tunnelled);
                        System.out.printf("BENCH tunnel.real_path streams=1 direction=%s direct_MBps=%.1f tunnel_MBps=%.1f ratio=%.3f rounds=%d load_avg=%.1f%n",
                                download ? "download" : "upload", d, t, t / d, rounds,
                                java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
                    }
                } finally {
                    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                }
            }
        }
    }

    /** MB/s of one port-forward session: upload sends {@code bytes} zeros; download asks the source for them. */
    private static double forward(OpsServiceGrpc.OpsServiceStub ops, String node, int port, long bytes, boolean download) throws Exception {
        CompletableFuture<Long> done = new CompletableFuture<>();
        Object ready = new Object();
        long[] received = {0};
        ClientResponseObserver<PortForwardRequest, PortForwardResponse> responses = new ClientResponseObserver<>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<PortForwardRequest> requests) {
                requests.setOnReadyHandler(() -> {
                    synchronized (ready) {
                        ready.notifyAll();
                    }
                });
            }

            @Override
            public void onNext(PortForwardResponse value) {
                received[0] += value.getData().size();
            }

            @Override
            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                done.complete(received[0]);
            }
        };
        long start = System.nanoTime();
        var requests = (ClientCallStreamObserver<PortForwardRequest>) ops.withOnReadyThreshold(MB).portForward(responses);
        requests.onNext(PortForwardRequest.newBuilder().setStart(PortForwardStart.newBuilder()
                .setTarget(OpsTarget.newBuilder().setNode(node)).setPort(port)).build());
        if (download) {
            requests.onNext(PortForwardRequest.newBuilder().setData(ByteString.copyFrom(ByteBuffer.allocate(8).putLong(0, bytes))).build());
        } else {
            ByteString chunk = ByteString.copyFrom(new byte[CHUNK]);
            for (long left = bytes; left > 0; left -= CHUNK) {
                synchronized (ready) {
                    while (!requests.isReady() && !done.isDone()) {
                        ready.wait(100);
                    }
                }
                requests.onNext(PortForwardRequest.newBuilder().setData(left >= CHUNK ? chunk : chunk.substring(0, (int) left)).build());
            }
        }
        requests.onNext(PortForwardRequest.newBuilder().setCloseWrite(true).build());
        requests.onCompleted();
        long got = done.get(10, TimeUnit.MINUTES);
        if (download && got != bytes) {
            throw new IllegalStateException("downloaded " + got + " bytes, not " + bytes);
        }
        return bytes / (double) MB / ((System.nanoTime() - start) / 1e9);
    }

    private static double direct(int port, long bytes, boolean download) throws IOException {
        long start = System.nanoTime();
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            if (download) {
                s.getOutputStream().write(ByteBuffer.allocate(8).putLong(bytes).array());
                s.shutdownOutput();
                s.getInputStream().transferTo(OutputStream.nullOutputStream());
            } else {
                byte[] chunk = new byte[CHUNK];
                for (long left = bytes; left > 0; left -= CHUNK) {
                    s.getOutputStream().write(chunk, 0, (int) Math.min(CHUNK, left));
                }
                s.shutdownOutput();
                s.getInputStream().transferTo(OutputStream.nullOutputStream());
            }
        }
        return bytes / (double) MB / ((System.nanoTime() - start) / 1e9);
    }

    @FunctionalInterface
    private interface Handler {
        void handle(Socket s) throws IOException;
    }

    private static void serve(ServerSocket server, Handler handler) {
        Thread acceptor = new Thread(() -> {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    Thread t = new Thread(() -> {
                        try (s) {
                            handler.handle(s);
                        } catch (IOException e) {
                            // the client went away
                        }
                    });
                    t.setDaemon(true);
                    t.start();
                } catch (IOException e) {
                    return;
                }
            }
        });
        acceptor.setDaemon(true);
        acceptor.start();
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
