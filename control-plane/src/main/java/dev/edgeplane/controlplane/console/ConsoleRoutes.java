package dev.edgeplane.controlplane.console;

import com.google.protobuf.DescriptorProtos.DescriptorProto;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.DescriptorProtos.FileDescriptorSet;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import io.grpc.BindableService;
import io.grpc.protobuf.ProtoFileDescriptorSupplier;
import io.quarkus.arc.ClientProxy;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.ext.web.Router;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Any;
import jakarta.enterprise.inject.Instance;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The web console's HTTP side: security headers on everything under /console (the static files come from
 * META-INF/resources/console in this jar), /console redirected to /console/, and the API's protobuf schema
 * (a FileDescriptorSet, the same the open reflection service gives) so the browser can encode requests and
 * decode replies without generated code. The API calls themselves are gRPC-Web ({@link GrpcWebBridge}).
 */
@ApplicationScoped
public class ConsoleRoutes {
    static final String PREFIX = "/console";
    static final String DESCRIPTORS = PREFIX + "/api/descriptors.binpb";
    /** No inline script or style, nothing from elsewhere, never framed; the API is same-origin. */
    static final String CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            + "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private final Instance<BindableService> services;
    private volatile byte[] descriptors;

    public ConsoleRoutes(@Any Instance<BindableService> services) {
        this.services = services;
    }

    void register(@Observes Router router) {
        router.route().order(-2_000).handler(ctx -> {
            String path = ctx.request().path();
            if (path.equals(PREFIX) || path.startsWith(PREFIX + "/")) {
                securityHeaders(ctx.response().headers());
            }
            ctx.next();
        });
        // Vert.x' "/console" route also matches "/console/": redirect only the bare path (relative URLs need the slash).
        router.get(PREFIX).order(-1_900).handler(ctx -> {
            if (ctx.request().path().equals(PREFIX)) {
                ctx.response().setStatusCode(302).putHeader("location", PREFIX + "/").end();
            } else {
                ctx.next();
            }
        });
        router.get(DESCRIPTORS).order(-1_900).handler(ctx -> ctx.response()
                .putHeader("content-type", "application/octet-stream")
                .putHeader("cache-control", "no-cache")
                .end(Buffer.buffer(descriptors())));
    }

    static void securityHeaders(MultiMap headers) {
        headers.set("Content-Security-Policy", CSP);
        headers.set("X-Content-Type-Options", "nosniff");
        headers.set("X-Frame-Options", "DENY");
        headers.set("Referrer-Policy", "no-referrer");
        headers.set("Cross-Origin-Opener-Policy", "same-origin");
        headers.set("Cross-Origin-Resource-Policy", "same-origin");
    }

    /** Every file that defines a served service, with its imports, dependencies first. */
    private byte[] descriptors() {
        byte[] cached = descriptors;
        if (cached == null) {
            Map<String, FileDescriptor> files = new LinkedHashMap<>();
            for (BindableService bean : services) {
                Object schema = ClientProxy.unwrap(bean).bindService().getServiceDescriptor().getSchemaDescriptor();
                if (schema instanceof ProtoFileDescriptorSupplier supplier) {
                    add(supplier.getFileDescriptor(), files);
                }
            }
            FileDescriptorSet.Builder set = FileDescriptorSet.newBuilder();
            files.values().forEach(f -> set.addFile(withJsonNames(f)));
            cached = descriptors = set.build().toByteArray();
        }
        return cached;
    }

    /**
     * The file as protoc hands it to plugins: with each field's json_name filled in (the descriptors compiled
     * into Java leave it out unless set in the .proto), so the browser maps JSON names (pageSize) as Java does.
     */
    private static FileDescriptorProto withJsonNames(FileDescriptor file) {
        FileDescriptorProto.Builder proto = file.toProto().toBuilder();
        for (int i = 0; i < proto.getMessageTypeCount(); i++) {
            fill(proto.getMessageTypeBuilder(i), file.getMessageTypes().get(i));
        }
        return proto.build();
    }

    private static void fill(DescriptorProto.Builder proto, Descriptor message) {
        for (int i = 0; i < proto.getFieldCount(); i++) {
            proto.getFieldBuilder(i).setJsonName(message.getFields().get(i).getJsonName());
        }
        for (int i = 0; i < proto.getNestedTypeCount(); i++) {
            fill(proto.getNestedTypeBuilder(i), message.getNestedTypes().get(i));
        }
    }

    private static void add(FileDescriptor file, Map<String, FileDescriptor> files) {
        if (files.containsKey(file.getName())) {
            return;
        }
        for (FileDescriptor dependency : file.getDependencies()) {
            add(dependency, files);
        }
        files.put(file.getName(), file);
    }
}
