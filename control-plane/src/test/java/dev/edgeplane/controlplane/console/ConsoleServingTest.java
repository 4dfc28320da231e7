package dev.edgeplane.controlplane.console;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.DescriptorProtos.FileDescriptorSet;
import com.google.protobuf.Message;
import dev.edgeplane.api.v1.AccessServiceGrpc;
import dev.edgeplane.api.v1.ApiToken;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.AuditServiceGrpc;
import dev.edgeplane.api.v1.ListAuditRecordsRequest;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateApiTokenRequest;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateRoleBindingRequest;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.ListAppsRequest;
import dev.edgeplane.api.v1.ListAppsResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.Role;
import dev.edgeplane.api.v1.RoleBinding;
import dev.edgeplane.api.v1.UpdateAppRequest;
import dev.edgeplane.api.v1.WatchAppsRequest;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The web console against the real control plane and etcd: its files and security headers, and gRPC-Web
 * (HTTP/1.1, as a browser sends it) reaching the real services through the same authentication and
 * authorisation as edgectl's gRPC calls.
 */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class ConsoleServingTest {
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .followRedirects(HttpClient.Redirect.NEVER).connectTimeout(Duration.ofSeconds(5)).build();
    private TestApi api;
    private String base;

    @BeforeEach
    void connect() {
        api = new TestApi();
        base = "http://127.0.0.1:" + ConfigProvider.getConfig().getValue("quarkus.http.test-port", Integer.class);
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    /** A gRPC-Web reply: status, message and the parsed reply (null unless OK). */
    record Reply(int status, String message, byte[] body, HttpResponse<byte[]> http) {}

    private Reply grpcWeb(String method, Message request, String token, boolean text) throws Exception {
        ByteArrayOutputStream framed = new ByteArrayOutputStream();
        byte[] bytes = request.toByteArray();
        framed.write(0);
        framed.write(ByteBuffer.allocate(4).putInt(bytes.length).array());
        framed.write(bytes);
        byte[] body = text ? Base64.getEncoder().encode(framed.toByteArray()) : framed.toByteArray();
        HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(base + "/" + method))
                .header("content-type", text ? "application/grpc-web-text" : "application/grpc-web+proto")
                .header("x-grpc-web", "1").timeout(Duration.ofSeconds(20))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (token != null) {
            builder.header("authorization", "Bearer " + token);
        }
        HttpResponse<byte[]> response = http.send(builder.build(), HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, response.statusCode());
        byte[] raw = text ? Base64.getDecoder().decode(response.body()) : response.body();
        ByteBuffer in = ByteBuffer.wrap(raw);
        byte[] message = null;
        Map<String, String> trailers = new LinkedHashMap<>();
        while (in.hasRemaining()) {
            int flag = in.get() & 0xff;
            byte[] payload = new byte[in.getInt()];
            in.get(payload);
            if (flag == 0) {
                message = payload;
            } else {
                for (String line : new String(payload, StandardCharsets.US_ASCII).split("\r\n")) {
                    int colon = line.indexOf(':');
                    trailers.put(line.substring(0, colon), line.substring(colon + 1));
                }
            }
        }
        return new Reply(Integer.parseInt(trailers.get("grpc-status")), trailers.get("grpc-message"), message, response);
    }

    private HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    private static App app(String name, int replicas) {
        return App.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace("console").setName(name))
                .setSpec(AppSpec.newBuilder().setReplicas(replicas).setTemplate(PodTemplate.newBuilder()
                        .addContainers(Container.newBuilder().setName("main").setImage("img:1")))).build();
    }

    @Test
    void theConsoleIsServedWithSecurityHeaders() throws Exception {
        HttpResponse<String> page = get("/console/");
        assertEquals(200, page.statusCode());
        assertTrue(page.headers().firstValue("content-type").orElse("").startsWith("text/html"), page.headers().toString());
        String csp = page.headers().firstValue("content-security-policy").orElseThrow();
        assertTrue(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), csp);
        assertEquals("nosniff", page.headers().firstValue("x-content-type-options").orElseThrow());
        assertEquals("DENY", page.headers().firstValue("x-frame-options").orElseThrow());
        assertEquals("no-referrer", page.headers().firstValue("referrer-policy").orElseThrow());

        HttpResponse<String> bare = get("/console");
        assertEquals(302, bare.statusCode());
        assertEquals("/console/", bare.headers().firstValue("location").orElseThrow());

        HttpResponse<String> runtime = get("/console/vendor/protobuf/index.js");
        assertEquals(200, runtime.statusCode(), "the protobuf runtime is bundled in the jar");
        assertTrue(runtime.headers().firstValue("content-type").orElse("").contains("javascript"), runtime.headers().toString());

        HttpResponse<byte[]> schema = http.send(HttpRequest.newBuilder(URI.create(base + ConsoleRoutes.DESCRIPTORS)).GET().build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, schema.statusCode());
        var api = FileDescriptorSet.parseFrom(schema.body()).getFileList().stream().filter(f -> f.getName().equals("edgeplane/v1/api.proto"))
                .findFirst().orElseThrow();
        var listNodes = api.getMessageTypeList().stream().filter(m -> m.getName().equals("ListNodesRequest")).findFirst().orElseThrow();
        assertEquals("pageSize", listNodes.getField(0).getJsonName(), "JSON names filled in, as protoc gives plugins");
        // Elsewhere (the API port's other paths) nothing changes.
        assertTrue(get("/metrics").headers().firstValue("content-security-policy").isEmpty());
    }

    @Test
    void grpcWebNeedsAValidToken() throws Exception {
        Reply none = grpcWeb("edgeplane.v1.AppService/ListApps", ListAppsRequest.newBuilder().setNamespace("console").build(), null, false);
        assertEquals(16, none.status(), "UNAUTHENTICATED without a token");
        assertNull(none.body());
        Reply bad = grpcWeb("edgeplane.v1.AppService/ListApps", ListAppsRequest.newBuilder().setNamespace("console").build(), "not-a-token", false);
        assertEquals(16, bad.status());
        assertEquals("invalid bearer token", bad.message());

        api.apps().createApp(CreateAppRequest.newBuilder().setApp(app("listed", 1)).build());
        Reply ok = grpcWeb("edgeplane.v1.AppService/ListApps", ListAppsRequest.newBuilder().setNamespace("console").build(), api.adminToken, false);
        assertEquals(0, ok.status(), ok.message());
        assertTrue(ListAppsResponse.parseFrom(ok.body()).getAppsList().stream().anyMatch(a -> a.getMetadata().getName().equals("listed")));
        assertEquals("application/grpc-web+proto", ok.http().headers().firstValue("content-type").orElseThrow());

        Reply text = grpcWeb("edgeplane.v1.AppService/ListApps", ListAppsRequest.newBuilder().setNamespace("console").build(), api.adminToken, true);
        assertEquals(0, text.status(), text.message());
        assertTrue(ListAppsResponse.parseFrom(text.body()).getAppsCount() >= 1);

        Reply streaming = grpcWeb("edgeplane.v1.AppService/WatchApps", WatchAppsRequest.getDefaultInstance(), api.adminToken, false);
        assertEquals(12, streaming.status(), "UNIMPLEMENTED: streaming is not bridged");
        Reply unknown = grpcWeb("edgeplane.v1.Nope/Nothing", WatchAppsRequest.getDefaultInstance(), api.adminToken, false);
        assertEquals(12, unknown.status());
    }

    @Test
    void aViewerTokenReadsButCannotScale() throws Exception {
        App created = api.apps().createApp(CreateAppRequest.newBuilder().setApp(app("scaled", 1)).build());
        var access = api.withToken(AccessServiceGrpc.newBlockingStub(api.channel), api.adminToken);
        String viewer = access.createApiToken(CreateApiTokenRequest.newBuilder().setApiToken(ApiToken.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("console-viewer")).setDescription("test")).build()).getSecret();
        access.createRoleBinding(CreateRoleBindingRequest.newBuilder().setRoleBinding(RoleBinding.newBuilder()
                .setMetadata(ObjectMeta.newBuilder().setName("console-viewer")).setRole(Role.VIEWER).setSubject("token:console-viewer")).build());
        GetAppRequest get = GetAppRequest.newBuilder().setNamespace("console").setName("scaled").build();
        TestApi.await("the viewer's binding in effect", Duration.ofSeconds(10), () -> {
            try {
                return grpcWeb("edgeplane.v1.AppService/GetApp", get, viewer, false).status() == 0;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        Reply read = grpcWeb("edgeplane.v1.AppService/GetApp", get, viewer, false);
        assertEquals(1, App.parseFrom(read.body()).getSpec().getReplicas());

        App scaled = created.toBuilder().setSpec(created.getSpec().toBuilder().setReplicas(3)).build();
        Reply denied = grpcWeb("edgeplane.v1.AppService/UpdateApp", UpdateAppRequest.newBuilder().setApp(scaled).build(), viewer, false);
        assertEquals(7, denied.status(), "PERMISSION_DENIED for a viewer's UpdateApp");
        assertNotNull(denied.message());
        assertEquals(1, api.apps().getApp(get).getSpec().getReplicas(), "nothing changed");

        Reply allowed = grpcWeb("edgeplane.v1.AppService/UpdateApp", UpdateAppRequest.newBuilder().setApp(scaled).build(), api.adminToken, false);
        assertEquals(0, allowed.status(), allowed.message());
        assertEquals(3, api.apps().getApp(get).getSpec().getReplicas());

        // Audited like any API call, the refused one too, under the caller's own subject.
        var audit = api.withToken(AuditServiceGrpc.newBlockingStub(api.channel), api.adminToken);
        TestApi.await("the console's calls in the audit log", Duration.ofSeconds(10), () -> {
            var records = audit.listAuditRecords(ListAuditRecordsRequest.newBuilder().setMethod("UpdateApp").build()).getRecordsList();
            return records.stream().anyMatch(r -> r.getSubject().equals("token:console-viewer") && r.getCode().equals("PERMISSION_DENIED"))
                    && records.stream().anyMatch(r -> r.getSubject().equals("admin") && r.getCode().equals("OK")
                    && r.getPeer().startsWith("/127.0.0.1:")); // the browser's address, not the in-process channel's
        });
    }

    /** Browsers speak HTTP/2 to a TLS API port: the bridge must take gRPC-Web there too (before Quarkus' gRPC route). */
    @Test
    void grpcWebOverHttp2() throws Exception {
        java.nio.file.Path body = java.nio.file.Files.createTempFile("grpc-web", ".bin");
        try {
            byte[] request = ListAppsRequest.newBuilder().setNamespace("console").build().toByteArray();
            ByteArrayOutputStream framed = new ByteArrayOutputStream();
            framed.write(0);
            framed.write(ByteBuffer.allocate(4).putInt(request.length).array());
            framed.write(request);
            java.nio.file.Files.write(body, framed.toByteArray());
            for (var token : new String[] {"", api.adminToken}) {
                Process curl = new ProcessBuilder("curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-D", "-",
                        "-H", "content-type: application/grpc-web+proto", "-H", "authorization: Bearer " + token,
                        "--data-binary", "@" + body, base + "/edgeplane.v1.AppService/ListApps").redirectErrorStream(true).start();
                String headers = new String(curl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertTrue(curl.waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
                assertTrue(headers.startsWith("HTTP/2 200"), headers);
                assertTrue(headers.contains("grpc-status: " + (token.isEmpty() ? 16 : 0)), headers);
                assertTrue(headers.contains("content-type: application/grpc-web+proto"), headers);
            }
        } finally {
            java.nio.file.Files.deleteIfExists(body);
        }
    }

    @Test
    void malformedBodiesAreRefused() throws Exception {
        HttpResponse<byte[]> response = http.send(HttpRequest.newBuilder(URI.create(base + "/edgeplane.v1.AppService/ListApps"))
                .header("content-type", "application/grpc-web+proto").header("authorization", "Bearer " + api.adminToken)
                .POST(HttpRequest.BodyPublishers.ofByteArray(new byte[] {0, 0, 0, 0, 9, 1})).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertEquals("3", response.headers().firstValue("grpc-status").orElseThrow(), "INVALID_ARGUMENT for a frame that lies about its length");
    }
}
