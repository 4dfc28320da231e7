package dev.edgeplane.tunnel.edge;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.ExecStart;
import dev.edgeplane.api.v1.Grant;
import dev.edgeplane.api.v1.TerminalSize;
import dev.edgeplane.api.v1.TunnelFrame;
import dev.edgeplane.cri.v1.ContainerState;
import dev.edgeplane.cri.v1.ContainerStatus;
import dev.edgeplane.cri.v1.ExecSyncResponse;
import dev.edgeplane.tunnel.audit.SessionAudit;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Exec in a container. Without stdin or a TTY it is CRI ExecSync; otherwise CRI Exec, whose URL is
 * the runtime's streaming server, spoken to over WebSocket with the Kubernetes channel protocol
 * (v4.channel.k8s.io: one leading byte per message names stdin 0, stdout 1, stderr 2, error 3,
 * resize 4; the error channel ends with a status naming the exit code).
 */
final class ExecSession extends EdgeSession {
    private static final Pattern EXIT_CODE = Pattern.compile("\"reason\"\\s*:\\s*\"ExitCode\"\\s*,\\s*\"message\"\\s*:\\s*\"(\\d+)\"");
    private static final long SYNC_TIMEOUT_SECONDS = 600;

    private final CriContainers containers;
    private final HttpClient http;
    private final ExecStart start;
    private volatile WebSocket socket;
    /** WebSocket sends must not overlap: chained here. */
    private CompletableFuture<WebSocket> lastSend = CompletableFuture.completedFuture(null);

    ExecSession(Grant grant, CriContainers containers, HttpClient http, Clock clock, Consumer<SessionAudit> onEnd) {
        super(grant, clock, onEnd);
        this.containers = containers;
        this.http = http;
        this.start = grant.getRequest().getExec();
    }

    @Override
    protected void serve() throws IOException, InterruptedException {
        ContainerStatus container;
        try {
            container = containers.find(grant.getRequest().getTarget(), false);
        } catch (StatusRuntimeException e) {
            fail(e.getStatus());
            return;
        }
        if (container.getState() != ContainerState.CONTAINER_RUNNING) {
            fail(Status.FAILED_PRECONDITION.withDescription("container " + container.getMetadata().getName() + " is not running"));
            return;
        }
        if (!start.getStdin() && !start.getTty()) {
            execSync(container.getId());
            return;
        }
        streaming(container.getId());
    }

    private void execSync(String id) throws Closed, InterruptedException {
        ExecSyncResponse result;
        try {
            result = containers.execSync(id, start.getCommandList(), SYNC_TIMEOUT_SECONDS);
        } catch (StatusRuntimeException e) {
            fail(e.getStatus());
            return;
        }
        startReceiving();
        sendChunks(result.getStdout(), false);
        sendChunks(result.getStderr(), true);
        sendFrame(TunnelFrame.newBuilder().setExitCode(result.getExitCode()).build());
        finish();
    }

    private void sendChunks(ByteString bytes, boolean stderr) throws Closed, InterruptedException {
        for (int i = 0; i < bytes.size(); i += 32 * 1024) {
            ByteString part = bytes.substring(i, Math.min(bytes.size(), i + 32 * 1024));
            sendFrame(stderr ? TunnelFrame.newBuilder().setStderr(part).build() : TunnelFrame.newBuilder().setData(part).build());
        }
    }

    /** What the WebSocket listener hands to the session thread, in order. */
    private record Incoming(int channel, byte[] bytes, boolean end) {}

    private void streaming(String id) throws IOException, InterruptedException {
        String url;
        try {
            url = containers.execUrl(id, start.getCommandList(), start.getTty(), start.getStdin());
        } catch (StatusRuntimeException e) {
            fail(e.getStatus());
            return;
        }
        URI uri = URI.create(url.replaceFirst("^http", "ws"));
        LinkedBlockingQueue<Incoming> incoming = new LinkedBlockingQueue<>();
        WebSocket.Listener listener = new WebSocket.Listener() {
            private final ByteArrayOutputStream message = new ByteArrayOutputStream();

            @Override
            public CompletionStage<?> onBinary(WebSocket ws, ByteBuffer data, boolean last) {
                byte[] bytes = new byte[data.remaining()];
                data.get(bytes);
                message.writeBytes(bytes);
                if (last) {
                    byte[] whole = message.toByteArray();
                    message.reset();
                    if (whole.length > 0) {
                        byte[] payload = new byte[whole.length - 1];
                        System.arraycopy(whole, 1, payload, 0, payload.length);
                        incoming.add(new Incoming(whole[0], payload, false));
                    }
                }
                ws.request(1);
                return null;
            }

            @Override
            public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
                ws.request(1);
                return null;
            }

            @Override
            public CompletionStage<?> onClose(WebSocket ws, int statusCode, String reason) {
                incoming.add(new Incoming(-1, new byte[0], true));
                return null;
            }

            @Override
            public void onError(WebSocket ws, Throwable error) {
                incoming.add(new Incoming(-2, String.valueOf(error).getBytes(StandardCharsets.UTF_8), true));
            }
        };
        try {
            socket = http.newWebSocketBuilder()
                    .subprotocols("v4.channel.k8s.io", "channel.k8s.io")
                    .connectTimeout(Duration.ofSeconds(10))
                    .buildAsync(uri, listener)
                    .get(15, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            fail(Status.UNAVAILABLE.withDescription("cannot reach the runtime's streaming server: " + e.getMessage()));
            return;
        }
        if (start.hasSize()) {
            resize(start.getSize());
        }
        startReceiving();
        Integer exitCode = null;
        while (true) {
            Incoming in = incoming.poll(1, TimeUnit.SECONDS);
            if (in == null) {
                if (isClosed()) {
                    return;
                }
                continue;
            }
            if (in.end()) {
                if (in.channel() == -2 && exitCode == null) {
                    fail(Status.UNAVAILABLE.withDescription("exec stream failed: " + new String(in.bytes(), StandardCharsets.UTF_8)));
                    return;
                }
                break;
            }
            switch (in.channel()) {
                case 1 -> sendFrame(TunnelFrame.newBuilder().setData(ByteString.copyFrom(in.bytes())).build());
                case 2 -> sendFrame(TunnelFrame.newBuilder().setStderr(ByteString.copyFrom(in.bytes())).build());
                case 3 -> {
                    String status = new String(in.bytes(), StandardCharsets.UTF_8);
                    if (!status.isBlank()) {
                        exitCode = exitCodeOf(status);
                    }
                }
                default -> { }
            }
        }
        sendFrame(TunnelFrame.newBuilder().setExitCode(exitCode == null ? 0 : exitCode).build());
        finish();
    }

    /** The exit code in a v4 error-channel status: 0 for Success, the ExitCode cause otherwise. */
    static int exitCodeOf(String status) {
        if (status.contains("\"Success\"")) {
            return 0;
        }
        Matcher m = EXIT_CODE.matcher(status);
        return m.find() ? Integer.parseInt(m.group(1)) : 126;
    }

    private void resize(TerminalSize size) {
        send(4, ("{\"Width\":" + size.getWidth() + ",\"Height\":" + size.getHeight() + "}").getBytes(StandardCharsets.UTF_8));
    }

    private void send(int channel, byte[] payload) {
        WebSocket ws = socket;
        if (ws == null) {
            return;
        }
        ByteBuffer message = ByteBuffer.allocate(payload.length + 1);
        message.put((byte) channel).put(payload).flip();
        CompletableFuture<WebSocket> next;
        synchronized (this) {
            next = lastSend.thenCompose(w -> ws.sendBinary(message, true));
            lastSend = next;
        }
        try {
            next.get(30, TimeUnit.SECONDS); // back-pressure: the next frame is asked for when this one is out
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("writing to the exec stream failed: " + e.getMessage(), e);
        }
    }

    @Override
    protected void onFrame(TunnelFrame frame) {
        switch (frame.getKindCase()) {
            case DATA -> {
                if (start.getStdin()) {
                    send(0, frame.getData().toByteArray());
                }
            }
            case RESIZE -> resize(frame.getResize());
            // The v4 channel protocol cannot close stdin alone: the command sees EOF when the session ends.
            case CLOSE_WRITE -> { }
            default -> { }
        }
    }

    @Override
    protected void release() {
        WebSocket ws = socket;
        if (ws != null) {
            ws.abort();
        }
    }
}
