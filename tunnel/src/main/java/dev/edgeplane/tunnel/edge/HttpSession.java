package dev.edgeplane.tunnel.edge;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.Grant;
import dev.edgeplane.api.v1.HttpProxyRequest;
import dev.edgeplane.api.v1.HttpProxyResponse;
import dev.edgeplane.api.v1.TunnelFrame;
import dev.edgeplane.tunnel.audit.SessionAudit;
import io.grpc.Status;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Clock;
import java.time.Duration;
import java.util.Set;
import java.util.function.Consumer;

/** One HTTP request to an allowlisted port on the host's loopback (e.g. a metrics endpoint). */
final class HttpSession extends EdgeSession {
    private static final Set<String> RESTRICTED = Set.of("connection", "content-length", "host", "upgrade", "expect");
    private static final int MAX_BODY = 16 * 1024 * 1024;

    private final HttpClient http;
    private final Duration timeout;

    HttpSession(Grant grant, HttpClient http, Duration timeout, Clock clock, Consumer<SessionAudit> onEnd) {
        super(grant, clock, onEnd);
        this.http = http;
        this.timeout = timeout;
    }

    @Override
    protected void serve() throws IOException, InterruptedException {
        HttpProxyRequest request = grant.getRequest().getHttp();
        String path = request.getPath().isEmpty() ? "/" : request.getPath();
        HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + request.getPort() + path))
                .timeout(timeout)
                .method(request.getMethod().isEmpty() ? "GET" : request.getMethod(),
                        request.getBody().isEmpty() ? HttpRequest.BodyPublishers.noBody()
                                : HttpRequest.BodyPublishers.ofByteArray(request.getBody().toByteArray()));
        request.getHeadersMap().forEach((k, v) -> {
            if (!RESTRICTED.contains(k.toLowerCase())) {
                builder.header(k, v);
            }
        });
        HttpResponse<byte[]> response;
        try {
            response = http.send(builder.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (HttpTimeoutException e) {
            fail(Status.DEADLINE_EXCEEDED.withDescription("http://127.0.0.1:" + request.getPort() + path + " timed out"));
            return;
        } catch (IOException e) {
            fail(Status.UNAVAILABLE.withDescription("http://127.0.0.1:" + request.getPort() + path + ": " + e));
            return;
        }
        byte[] body = response.body();
        if (body.length > MAX_BODY) {
            fail(Status.RESOURCE_EXHAUSTED.withDescription("response body larger than " + MAX_BODY + " bytes"));
            return;
        }
        HttpProxyResponse.Builder out = HttpProxyResponse.newBuilder().setStatus(response.statusCode()).setBody(ByteString.copyFrom(body));
        response.headers().map().forEach((k, v) -> out.putHeaders(k, String.join(", ", v)));
        sendFrame(TunnelFrame.newBuilder().setHttpResponse(out).build());
        finish();
    }

    @Override
    protected void onFrame(TunnelFrame frame) {
        // nothing comes from the operator on an HTTP session
    }

    @Override
    protected void release() {
        // nothing held
    }
}
