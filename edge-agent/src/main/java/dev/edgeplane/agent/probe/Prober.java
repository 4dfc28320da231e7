package dev.edgeplane.agent.probe;

import dev.edgeplane.api.v1.HTTPGetAction;
import dev.edgeplane.api.v1.HTTPHeader;
import dev.edgeplane.api.v1.LifecycleHandler;
import dev.edgeplane.api.v1.Probe;
import dev.edgeplane.cri.v1.ExecSyncResponse;
import dev.edgeplane.grpchealth.v1.HealthCheckRequest;
import dev.edgeplane.grpchealth.v1.HealthCheckResponse;
import dev.edgeplane.grpchealth.v1.HealthGrpc;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * Runs one check of a container, bounded by its timeout: an HTTP GET (200-399 passes), a TCP
 * connect, a command through CRI ExecSync (exit 0 passes) or a gRPC health check (SERVING passes).
 * Pods use host networking, so the default host is the loopback address. Like the kubelet, HTTPS
 * probes do not verify the server's certificate and at most {@link #MAX_OUTPUT} bytes of an answer
 * or a command's output are read.
 */
public final class Prober {
    static final int MAX_OUTPUT = 10 * 1024;
    static final String DEFAULT_HOST = "127.0.0.1";
    private static final String USER_AGENT = "edgeplane-probe/1";

    /** CRI ExecSync (the tunnel's CriContainers::execSync in the agent). */
    @FunctionalInterface
    public interface Exec {
        ExecSyncResponse execSync(String containerId, List<String> command, long timeoutSeconds);
    }

    /** One check's outcome; the message says why it failed ("HTTP 503", "connection refused"...). */
    public record Outcome(boolean success, String message) {
        static Outcome passed() {
            return new Outcome(true, "");
        }

        static Outcome failed(String message) {
            return new Outcome(false, message);
        }
    }

    private final Exec exec;
    private final SSLSocketFactory trustAll;

    public Prober(Exec exec) {
        this.exec = exec;
        this.trustAll = trustAllSockets();
    }

    /** A lifecycle hook (post_start, pre_stop): the same handlers as probes, run once. */
    public Outcome run(LifecycleHandler hook, String containerId, Duration timeout) {
        return switch (hook.getHandlerCase()) {
            case EXEC -> check(Probe.newBuilder().setExec(hook.getExec()).build(), containerId, timeout);
            case HTTP_GET -> check(Probe.newBuilder().setHttpGet(hook.getHttpGet()).build(), containerId, timeout);
            case HANDLER_NOT_SET -> Outcome.failed("the hook has no handler");
        };
    }

    public Outcome check(Probe probe, String containerId, Duration timeout) {
        try {
            return switch (probe.getHandlerCase()) {
                case HTTP_GET -> httpGet(probe.getHttpGet(), timeout);
                case TCP_SOCKET -> tcp(host(probe.getTcpSocket().getHost()), probe.getTcpSocket().getPort(), timeout);
                case EXEC -> exec(containerId, probe.getExec().getCommandList(), timeout);
                case GRPC -> grpc(probe.getGrpc().getPort(), probe.getGrpc().getService(), timeout);
                case HANDLER_NOT_SET -> Outcome.failed("the probe has no handler");
            };
        } catch (RuntimeException e) {
            return Outcome.failed(e.toString());
        }
    }

    private Outcome httpGet(HTTPGetAction get, Duration timeout) {
        String scheme = get.getScheme() == HTTPGetAction.Scheme.HTTPS ? "https" : "http";
        String path = get.getPath().isEmpty() ? "/" : get.getPath().startsWith("/") ? get.getPath() : "/" + get.getPath();
        URI uri;
        try {
            uri = new URI(scheme + "://" + hostForUri(host(get.getHost())) + ":" + get.getPort() + path);
        } catch (java.net.URISyntaxException e) {
            return Outcome.failed("bad URL: " + e.getMessage());
        }
        HttpURLConnection connection = null;
        try {
            connection = (HttpURLConnection) uri.toURL().openConnection(java.net.Proxy.NO_PROXY);
            if (connection instanceof HttpsURLConnection https) {
                https.setSSLSocketFactory(trustAll);
                https.setHostnameVerifier((name, session) -> true);
            }
            int millis = (int) Math.max(1, timeout.toMillis());
            connection.setConnectTimeout(millis);
            connection.setReadTimeout(millis);
            connection.setUseCaches(false);
            connection.setRequestProperty("User-Agent", USER_AGENT);
            connection.setRequestProperty("Accept", "*/*");
            for (HTTPHeader header : get.getHttpHeadersList()) {
                connection.setRequestProperty(header.getName(), header.getValue());
            }
            int code = connection.getResponseCode();
            drain(code >= 400 ? connection.getErrorStream() : connection.getInputStream());
            return code >= 200 && code < 400 ? Outcome.passed() : Outcome.failed("HTTP probe failed with status code " + code);
        } catch (SocketTimeoutException e) {
            return Outcome.failed("HTTP GET " + uri + ": timed out after " + timeout.toMillis() + " ms");
        } catch (IOException e) {
            return Outcome.failed("HTTP GET " + uri + ": " + e.getMessage());
        } finally {
            if (connection != null) {
                connection.disconnect();
            }
        }
    }

    private static Outcome tcp(String host, int port, Duration timeout) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), (int) Math.max(1, timeout.toMillis()));
            return Outcome.passed();
        } catch (SocketTimeoutException e) {
            return Outcome.failed("TCP " + host + ":" + port + ": timed out after " + timeout.toMillis() + " ms");
        } catch (IOException e) {
            return Outcome.failed("TCP " + host + ":" + port + ": " + e.getMessage());
        }
    }

    private Outcome exec(String containerId, List<String> command, Duration timeout) {
        try {
            ExecSyncResponse response = exec.execSync(containerId, command, Math.max(1, timeout.toSeconds()));
            if (response.getExitCode() == 0) {
                return Outcome.passed();
            }
            String output = (response.getStdout().toString(StandardCharsets.UTF_8) + response.getStderr().toString(StandardCharsets.UTF_8)).strip();
            if (output.length() > 256) {
                output = output.substring(0, 256) + "...";
            }
            return Outcome.failed("command exited with code " + response.getExitCode() + (output.isEmpty() ? "" : ": " + output));
        } catch (StatusRuntimeException e) {
            return Outcome.failed("exec: " + e.getStatus().getCode() + " " + (e.getStatus().getDescription() == null ? "" : e.getStatus().getDescription()));
        }
    }

    private static Outcome grpc(int port, String service, Duration timeout) {
        ManagedChannel channel = NettyChannelBuilder.forAddress(DEFAULT_HOST, port).usePlaintext()
                .maxInboundMessageSize(MAX_OUTPUT).directExecutor().build();
        try {
            HealthCheckResponse response = HealthGrpc.newBlockingStub(channel).withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
                    .check(HealthCheckRequest.newBuilder().setService(service).build());
            return response.getStatus() == HealthCheckResponse.ServingStatus.SERVING ? Outcome.passed()
                    : Outcome.failed("gRPC health check: " + response.getStatus());
        } catch (StatusRuntimeException e) {
            return Outcome.failed("gRPC health check on port " + port + ": " + e.getStatus().getCode()
                    + (e.getStatus().getDescription() == null ? "" : " " + e.getStatus().getDescription()));
        } finally {
            channel.shutdownNow();
        }
    }

    private static void drain(InputStream in) throws IOException {
        if (in == null) {
            return;
        }
        try (in) {
            in.readNBytes(MAX_OUTPUT);
        }
    }

    private static String host(String host) {
        return host.isEmpty() ? DEFAULT_HOST : host;
    }

    private static String hostForUri(String host) {
        return host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
    }

    private static SSLSocketFactory trustAllSockets() {
        X509TrustManager all = new X509TrustManager() {
            @Override
            public void checkClientTrusted(X509Certificate[] chain, String authType) {}

            @Override
            public void checkServerTrusted(X509Certificate[] chain, String authType) {}

            @Override
            public X509Certificate[] getAcceptedIssuers() {
                return new X509Certificate[0];
            }
        };
        try {
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, new TrustManager[] {all}, new SecureRandom());
            return context.getSocketFactory();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("no TLS in this JVM", e);
        }
    }
}
