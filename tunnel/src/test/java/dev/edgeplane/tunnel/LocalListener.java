package dev.edgeplane.tunnel;

import dev.edgeplane.api.v1.OpsServiceGrpc;
import dev.edgeplane.api.v1.PortForwardStart;
import dev.edgeplane.tunnel.client.StreamPipe;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

/** What `edgectl port-forward` does, for tests: each accepted local connection is one session. */
final class LocalListener implements AutoCloseable {
    private final ServerSocket server;

    LocalListener(OpsServiceGrpc.OpsServiceStub stub, StreamPipe.Kind kind, PortForwardStart start) throws IOException {
        server = new ServerSocket(0, 64, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(() -> {
            while (!server.isClosed()) {
                Socket socket;
                try {
                    socket = server.accept();
                } catch (IOException e) {
                    return;
                }
                Thread t = new Thread(() -> {
                    try (socket) {
                        StreamPipe.run(stub, kind, start, socket.getInputStream(), socket.getOutputStream());
                    } catch (IOException | RuntimeException e) {
                        // the session's end
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }, "local-session");
                t.setDaemon(true);
                t.start();
            }
        }, "local-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    int port() {
        return server.getLocalPort();
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
