package dev.edgeplane.tunnel.edge;

import dev.edgeplane.api.v1.Grant;
import dev.edgeplane.api.v1.TunnelFrame;
import dev.edgeplane.tunnel.audit.SessionAudit;
import io.grpc.Status;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Clock;
import java.time.Duration;
import java.util.function.Consumer;

/** Port-forward and SSH: one TCP connection on the edge host, bytes both ways, half-close honoured. */
final class TcpSession extends EdgeSession {
    private static final int CHUNK = 128 * 1024;

    private final InetSocketAddress address;
    private final Duration dialTimeout;
    private final Socket socket = new Socket();

    TcpSession(Grant grant, InetSocketAddress address, Duration dialTimeout, Clock clock, Consumer<SessionAudit> onEnd) {
        super(grant, clock, onEnd);
        this.address = address;
        this.dialTimeout = dialTimeout;
    }

    @Override
    protected void serve() throws IOException, InterruptedException {
        try {
            socket.setTcpNoDelay(true);
            socket.connect(address, (int) dialTimeout.toMillis());
        } catch (SocketTimeoutException e) {
            fail(Status.DEADLINE_EXCEEDED.withDescription("connecting to " + address + " timed out"));
            return;
        } catch (IOException e) {
            fail(Status.UNAVAILABLE.withDescription("cannot connect to " + address + ": " + e.getMessage()));
            return;
        }
        startReceiving();
        byte[] buffer = new byte[CHUNK];
        InputStream in = socket.getInputStream();
        while (true) {
            int n;
            try {
                n = in.read(buffer);
            } catch (IOException e) {
                if (isClosed()) {
                    return;
                }
                throw e;
            }
            if (n < 0) {
                finish();
                return;
            }
            sendData(buffer, n);
        }
    }

    @Override
    protected void onFrame(TunnelFrame frame) throws IOException {
        switch (frame.getKindCase()) {
            case DATA -> frame.getData().writeTo(socket.getOutputStream());
            case CLOSE_WRITE -> {
                if (!socket.isOutputShutdown()) {
                    socket.shutdownOutput();
                }
            }
            default -> { }
        }
    }

    @Override
    protected void release() {
        try {
            socket.close();
        } catch (IOException e) {
            // nothing to do
        }
    }
}
