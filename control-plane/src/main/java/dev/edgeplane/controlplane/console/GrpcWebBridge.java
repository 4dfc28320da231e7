package dev.edgeplane.controlplane.console;

import io.grpc.Attributes;
import io.grpc.BindableService;
import io.grpc.ForwardingServerCall;
import io.grpc.Grpc;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.util.MutableHandlerRegistry;
import io.quarkus.arc.Arc;
import io.quarkus.arc.ClientProxy;
import io.quarkus.arc.Subclass;
import io.quarkus.grpc.runtime.ServerInterceptorStorage;
import io.quarkus.runtime.StartupEvent;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Any;
import jakarta.enterprise.inject.Instance;
import jakarta.enterprise.inject.spi.Prioritized;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * gRPC-Web (the protocol browsers can speak: HTTP/1.1 or HTTP/2, trailers in the body) on the API port, for
 * the web console. Quarkus' Vert.x gRPC server (vertx-grpc-server 4.5) serves only HTTP/2 gRPC, so this route
 * takes requests whose content type is {@code application/grpc-web[+proto]} or
 * {@code application/grpc-web-text[+proto]} and replays each as a unary call on an in-process gRPC server that
 * holds the SAME service beans wrapped in the SAME interceptors, in the same order, as Quarkus builds for the
 * public port: the global interceptors ({@code BearerAuthInterceptor}, audit, admission, metering...) and each
 * service's own. Authentication and authorisation therefore happen exactly as for edgectl; this class only
 * reframes bytes. Only the {@code authorization} and {@code grpc-timeout} headers are passed on (never cookies).
 * Streaming methods answer UNIMPLEMENTED: the console polls unary calls.
 */
@ApplicationScoped
public class GrpcWebBridge {
    private static final Logger LOG = Logger.getLogger(GrpcWebBridge.class);
    static final String GRPC_WEB = "application/grpc-web";
    static final String GRPC_WEB_TEXT = "application/grpc-web-text";
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    /** Longest a bridged call may run (also the cap on a client's grpc-timeout). */
    private static final long MAX_DEADLINE_MS = 60_000;
    /** HTTP headers of a gRPC-Web response that a browser script may read. */
    private static final String EXPOSED = "grpc-status,grpc-message";

    private final Instance<BindableService> services;
    private final ServerInterceptorStorage interceptorStorage;
    private final long maxMessageBytes;
    private final Map<String, MethodDescriptor<?, ?>> methods = new ConcurrentHashMap<>();
    private volatile Server server;
    private volatile ManagedChannel channel;
    private volatile ExecutorService executor;

    public GrpcWebBridge(@Any Instance<BindableService> services, ServerInterceptorStorage interceptorStorage,
                         @ConfigProperty(name = "quarkus.grpc.server.max-inbound-message-size", defaultValue = "4194304") long maxMessageBytes) {
        this.services = services;
        this.interceptorStorage = interceptorStorage;
        this.maxMessageBytes = maxMessageBytes;
    }

    void register(@Observes Router router) {
        // Before Quarkus' gRPC route (which would take HTTP/2 requests of any application/grpc* type).
        router.route().order(-1_000).handler(this::handle);
    }

    void start(@Observes StartupEvent event) {
        ensureStarted();
    }

    private synchronized void ensureStarted() {
        if (server != null) {
            return;
        }
        MutableHandlerRegistry registry = new MutableHandlerRegistry();
        List<ServerInterceptor> global = sorted(interceptorStorage.getGlobalInterceptors());
        for (BindableService bean : services) {
            BindableService service = ClientProxy.unwrap(bean);
            ServerServiceDefinition definition = service.bindService();
            List<ServerInterceptor> chain = new ArrayList<>(global);
            chain.addAll(sorted(interceptorStorage.getInterceptors(implementationClass(service).getName())));
            chain.sort(BY_PRIORITY);
            chain.add(PEER_FROM_BRIDGE); // last: runs first, so audit and limits see the browser's address
            ServerServiceDefinition intercepted = ServerInterceptors.intercept(definition, chain);
            registry.addService(intercepted);
            for (ServerMethodDefinition<?, ?> method : intercepted.getMethods()) {
                methods.put(method.getMethodDescriptor().getFullMethodName(), method.getMethodDescriptor());
            }
        }
        LOG.infof("gRPC-Web for the console: %d services behind the interceptors %s", services.stream().count(),
                global.stream().map(i -> ClientProxy.unwrap(i).getClass().getSimpleName()).toList());
        String name = "console-grpc-web-" + UUID.randomUUID();
        AtomicInteger threads = new AtomicInteger();
        // Calls block (etcd reads and writes) as they do on Quarkus' worker pool; the API's own admission
        // interceptor bounds how many run. The queue is bounded too: beyond it a call is refused.
        executor = new ThreadPoolExecutor(4, 16, 60, TimeUnit.SECONDS, new LinkedBlockingQueue<>(256), r -> {
            Thread t = new Thread(r, "console-grpc-web-" + threads.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        try {
            server = InProcessServerBuilder.forName(name).executor(executor).fallbackHandlerRegistry(registry)
                    .maxInboundMessageSize((int) Math.min(Integer.MAX_VALUE, maxMessageBytes)).build().start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    }

    @PreDestroy
    void stop() {
        if (channel != null) {
            channel.shutdownNow();
        }
        if (server != null) {
            server.shutdownNow();
        }
        if (executor != null) {
            executor.shutdownNow();
        }
    }

    /**
     * The browser's address, which the in-process transport cannot carry: the bridge passes it in a header that
     * only it can set (it forwards no other header than authorization and grpc-timeout, and the in-process
     * server has a random name, unreachable from outside the JVM), and this puts it back as the call's remote
     * address, as the public port's transport would.
     */
    private static final Metadata.Key<String> PEER = Metadata.Key.of("x-edgeplane-grpc-web-peer", Metadata.ASCII_STRING_MARSHALLER);
    private static final ServerInterceptor PEER_FROM_BRIDGE = new ServerInterceptor() {
        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
            String peer = headers.get(PEER);
            headers.removeAll(PEER);
            if (peer == null) {
                return next.startCall(call, headers);
            }
            int colon = peer.lastIndexOf(':');
            SocketAddress address = new InetSocketAddress(peer.substring(0, colon), Integer.parseInt(peer.substring(colon + 1)));
            Attributes attributes = call.getAttributes().toBuilder().set(Grpc.TRANSPORT_ATTR_REMOTE_ADDR, address).build();
            return next.startCall(new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
                @Override
                public Attributes getAttributes() {
                    return attributes;
                }
            }, headers);
        }
    };

    /** Quarkus' own order: ascending priority, so that the highest priority runs first (it is applied last). */
    private static final Comparator<ServerInterceptor> BY_PRIORITY = Comparator.comparingInt(
            i -> i instanceof Prioritized p ? p.getPriority() : 0);

    private static List<ServerInterceptor> sorted(Set<Class<?>> classes) {
        List<ServerInterceptor> list = new ArrayList<>();
        for (Class<?> type : classes) {
            Object interceptor = Arc.container().instance(type, Any.Literal.INSTANCE).get();
            if (interceptor == null) {
                throw new IllegalStateException("gRPC interceptor " + type.getName() + " is not a bean");
            }
            list.add((ServerInterceptor) interceptor);
        }
        list.sort(BY_PRIORITY);
        return list;
    }

    private static Class<?> implementationClass(Object service) {
        Class<?> type = service.getClass();
        return service instanceof Subclass ? type.getSuperclass() : type;
    }

    private void handle(RoutingContext ctx) {
        HttpServerRequest request = ctx.request();
        String contentType = request.getHeader("content-type");
        if (contentType == null) {
            ctx.next();
            return;
        }
        String type = contentType.toLowerCase(java.util.Locale.ROOT);
        boolean text = type.startsWith(GRPC_WEB_TEXT);
        if (!text && !type.startsWith(GRPC_WEB)) {
            ctx.next();
            return;
        }
        HttpServerResponse response = ctx.response();
        String responseType = text ? GRPC_WEB_TEXT + "+proto" : GRPC_WEB + "+proto";
        if (request.method() != io.vertx.core.http.HttpMethod.POST) {
            ctx.response().setStatusCode(405).putHeader("allow", "POST").end();
            return;
        }
        // Encoded size bound: base64 text is 4/3 of the bytes; the 5-byte frame header on top.
        long maxBody = (maxMessageBytes + 5) * (text ? 4 : 3) / 3 + 8;
        String length = request.getHeader("content-length");
        if (length != null && parseLong(length) > maxBody) {
            finish(ctx, responseType, text, null, Status.RESOURCE_EXHAUSTED.withDescription(
                    "request larger than quarkus.grpc.server.max-inbound-message-size (" + maxMessageBytes + " bytes)"), new Metadata());
            return;
        }
        Buffer body = Buffer.buffer();
        boolean[] tooLarge = {false};
        request.handler(chunk -> {
            if (body.length() + chunk.length() > maxBody) {
                tooLarge[0] = true;
            } else if (!tooLarge[0]) {
                body.appendBuffer(chunk);
            }
        });
        request.exceptionHandler(e -> ctx.fail(e));
        request.endHandler(v -> {
            if (tooLarge[0]) {
                finish(ctx, responseType, text, null, Status.RESOURCE_EXHAUSTED.withDescription(
                        "request larger than quarkus.grpc.server.max-inbound-message-size (" + maxMessageBytes + " bytes)"), new Metadata());
                return;
            }
            call(ctx, responseType, text, body.getBytes());
        });
    }

    private void call(RoutingContext ctx, String responseType, boolean text, byte[] raw) {
        String path = ctx.request().path();
        String full = path.startsWith("/") ? path.substring(1) : path;
        MethodDescriptor<?, ?> method = methods.get(full);
        if (method == null) {
            finish(ctx, responseType, text, null, Status.UNIMPLEMENTED.withDescription("unknown method " + full), new Metadata());
            return;
        }
        if (method.getType() != MethodDescriptor.MethodType.UNARY) {
            finish(ctx, responseType, text, null, Status.UNIMPLEMENTED.withDescription(
                    "gRPC-Web on this port serves unary methods only; " + full + " streams (use a gRPC client)"), new Metadata());
            return;
        }
        byte[] message;
        try {
            message = onlyMessage(text ? decodeBase64(raw) : raw);
        } catch (IllegalArgumentException e) {
            finish(ctx, responseType, text, null, Status.INVALID_ARGUMENT.withDescription("gRPC-Web body: " + e.getMessage()), new Metadata());
            return;
        }
        Metadata headers = new Metadata();
        io.vertx.core.net.SocketAddress remote = ctx.request().remoteAddress();
        if (remote != null && remote.hostAddress() != null) {
            headers.put(PEER, remote.hostAddress() + ":" + remote.port());
        }
        String authorization = ctx.request().getHeader("authorization");
        if (authorization != null) {
            headers.put(AUTHORIZATION, authorization);
        }
        long deadlineMs = Math.min(MAX_DEADLINE_MS, timeoutMs(ctx.request().getHeader("grpc-timeout")));
        MethodDescriptor<byte[], byte[]> bytes = MethodDescriptor.<byte[], byte[]>newBuilder()
                .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName(full)
                .setRequestMarshaller(RAW).setResponseMarshaller(RAW).build();
        ClientCall<byte[], byte[]> call = channel.newCall(bytes, CallOptions.DEFAULT.withDeadlineAfter(deadlineMs, TimeUnit.MILLISECONDS));
        Context vertxContext = Vertx.currentContext();
        ctx.response().closeHandler(v -> call.cancel("the browser went away", null));
        call.start(new ClientCall.Listener<>() {
            private byte[] reply;

            @Override
            public void onMessage(byte[] value) {
                reply = value;
            }

            @Override
            public void onClose(Status status, Metadata trailers) {
                byte[] out = status.isOk() ? reply : null;
                vertxContext.runOnContext(v -> finish(ctx, responseType, text, out, status, trailers));
            }
        }, headers);
        call.request(2);
        call.sendMessage(message);
        call.halfClose();
    }

    /** The one message of a unary request: a 5-byte header (flag 0: not compressed, big-endian length), then the bytes. */
    static byte[] onlyMessage(byte[] body) {
        if (body.length < 5) {
            throw new IllegalArgumentException("expected one length-prefixed message, got " + body.length + " bytes");
        }
        if (body[0] != 0) {
            throw new IllegalArgumentException("compressed or trailer frames are not accepted in a request (flag " + body[0] + ")");
        }
        long length = ((body[1] & 0xffL) << 24) | ((body[2] & 0xff) << 16) | ((body[3] & 0xff) << 8) | (body[4] & 0xff);
        if (length != body.length - 5) {
            throw new IllegalArgumentException("frame says " + length + " bytes, body has " + (body.length - 5) + " after the header");
        }
        byte[] message = new byte[(int) length];
        System.arraycopy(body, 5, message, 0, message.length);
        return message;
    }

    private static byte[] decodeBase64(byte[] raw) {
        // grpc-web-text may send several base64 chunks one after the other, each padded.
        String s = new String(raw, StandardCharsets.US_ASCII).replaceAll("\\s", "");
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        int start = 0;
        while (start < s.length()) {
            int end = start;
            while (end < s.length() && s.charAt(end) != '=') {
                end++;
            }
            while (end < s.length() && s.charAt(end) == '=') {
                end++;
            }
            out.writeBytes(Base64.getDecoder().decode(s.substring(start, end)));
            start = end;
        }
        return out.toByteArray();
    }

    private static void finish(RoutingContext ctx, String contentType, boolean text, byte[] message, Status status, Metadata trailers) {
        HttpServerResponse response = ctx.response();
        if (response.ended() || response.closed()) {
            return;
        }
        Buffer body = Buffer.buffer();
        if (message != null) {
            body.appendBuffer(frame(0, message));
        }
        StringBuilder trailer = new StringBuilder();
        trailer.append("grpc-status:").append(status.getCode().value()).append("\r\n");
        if (status.getDescription() != null) {
            trailer.append("grpc-message:").append(percentEncode(status.getDescription())).append("\r\n");
        }
        for (String key : trailers.keys()) {
            if (key.equals("grpc-status") || key.equals("grpc-message")) {
                continue;
            }
            if (key.endsWith(Metadata.BINARY_HEADER_SUFFIX)) {
                for (byte[] value : trailers.getAll(Metadata.Key.of(key, Metadata.BINARY_BYTE_MARSHALLER))) {
                    trailer.append(key).append(':').append(Base64.getEncoder().encodeToString(value)).append("\r\n");
                }
            } else {
                for (String value : trailers.getAll(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER))) {
                    trailer.append(key).append(':').append(value).append("\r\n");
                }
            }
        }
        body.appendBuffer(frame(0x80, trailer.toString().getBytes(StandardCharsets.US_ASCII)));
        Buffer out = text ? Buffer.buffer(Base64.getEncoder().encodeToString(body.getBytes())) : body;
        response.setStatusCode(200)
                .putHeader("content-type", contentType)
                .putHeader("cache-control", "no-store")
                .putHeader("x-content-type-options", "nosniff")
                .putHeader("access-control-expose-headers", EXPOSED)
                .putHeader("grpc-status", String.valueOf(status.getCode().value()));
        if (status.getDescription() != null) {
            response.putHeader("grpc-message", percentEncode(status.getDescription()));
        }
        response.end(out);
    }

    private static Buffer frame(int flag, byte[] payload) {
        return Buffer.buffer(5 + payload.length).appendByte((byte) flag).appendInt(payload.length).appendBytes(payload);
    }

    /** gRPC's encoding of grpc-message: printable ASCII except '%' as is, every other byte as %XX of its UTF-8. */
    static String percentEncode(String message) {
        StringBuilder out = new StringBuilder();
        for (byte b : message.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            if (c >= 0x20 && c <= 0x7e && c != '%') {
                out.append((char) c);
            } else {
                out.append('%').append(String.format("%02X", c));
            }
        }
        return out.toString();
    }

    /** grpc-timeout ("100m", "5S", ...) in milliseconds; absent or malformed: the cap. */
    static long timeoutMs(String header) {
        if (header == null || header.length() < 2 || header.length() > 9) {
            return MAX_DEADLINE_MS;
        }
        long value;
        try {
            value = Long.parseLong(header.substring(0, header.length() - 1));
        } catch (NumberFormatException e) {
            return MAX_DEADLINE_MS;
        }
        return switch (header.charAt(header.length() - 1)) {
            case 'H' -> value * 3_600_000;
            case 'M' -> value * 60_000;
            case 'S' -> value * 1000;
            case 'm' -> value;
            case 'u' -> Math.max(1, value / 1000);
            case 'n' -> Math.max(1, value / 1_000_000);
            default -> MAX_DEADLINE_MS;
        };
    }

    private static long parseLong(String s) {
        try {
            return Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            return Long.MAX_VALUE;
        }
    }

    private static final MethodDescriptor.Marshaller<byte[]> RAW = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };
}
