package dev.edgeplane.controlplane.audit;

import com.google.protobuf.Descriptors;
import com.google.protobuf.Message;
import dev.edgeplane.api.v1.AuditRecord;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.ObjectReference;
import dev.edgeplane.controlplane.auth.Subjects;
import dev.edgeplane.controlplane.join.Joiner;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.spi.Prioritized;
import java.net.SocketAddress;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;

/**
 * Audits every mutating public API call (a method named Create..., Update..., Delete..., Cordon...,
 * Uncordon..., Drain..., Reset..., Pause..., Resume..., Abort..., Rollback..., Revoke..., and the CA rollover's
 * Start..., Switch..., Finish..., Cancel...), refused ones included:
 * who (the authenticated subject: admin, token:&lt;name&gt;, oidc:&lt;user&gt;), what, which object, the result, the peer, when. Reads go
 * unaudited. Runs outside the bearer check, so an unauthenticated attempt is recorded too.
 */
@GlobalInterceptor
@ApplicationScoped
public class AuditInterceptor implements ServerInterceptor, Prioritized {
    static final Pattern MUTATING = Pattern.compile("(Create|Update|Delete|Cordon|Uncordon|Drain|Reset|Pause|Resume|Abort|Rollback|Revoke|Start|Switch|Finish|Cancel|Trigger).*");
    private static final int MAX_REASON = 512;
    private static final java.util.Set<String> CLUSTER_SCOPED = java.util.Set.of("Node", "NodePool", "StorageClass", "JoinToken", "Access", "ApiToken", "RoleBinding");

    private final AuditTrail trail;
    private final Subjects subjects;

    public AuditInterceptor(AuditTrail trail, Subjects subjects) {
        this.trail = trail;
        this.subjects = subjects;
    }

    /** Above the bearer check (0) and below the call meter (1000). */
    @Override
    public int getPriority() {
        return 500;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        String method = call.getMethodDescriptor().getBareMethodName();
        if (method == null || !MUTATING.matcher(method).matches()) {
            return next.startCall(call, headers);
        }
        AtomicReference<Object> request = new AtomicReference<>();
        String subject = subjects.of(headers);
        SocketAddress peer = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
        ServerCall<Q, R> audited = new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
            @Override
            public void close(Status status, Metadata trailers) {
                String reason = status.getDescription() == null ? "" : status.getDescription();
                trail.record(AuditRecord.newBuilder()
                        .setTime(Joiner.timestamp(Instant.now()))
                        .setSubject(subject)
                        .setMethod(call.getMethodDescriptor().getFullMethodName())
                        .setObject(objectOf(call.getMethodDescriptor().getServiceName(), method, request.get()))
                        .setCode(status.getCode().name())
                        .setReason(reason.length() > MAX_REASON ? reason.substring(0, MAX_REASON) + "..." : reason)
                        .setPeer(peer == null ? "" : peer.toString())
                        .build());
                super.close(status, trailers);
            }
        };
        return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(audited, headers)) {
            @Override
            public void onMessage(Q message) {
                request.compareAndSet(null, message);
                super.onMessage(message);
            }
        };
    }

    /**
     * The object a request names: its own namespace/name fields (Get/Delete/Cordon style), else the
     * metadata of the resource it carries (Create/Update style). Kind: the service's resource.
     */
    static ObjectReference objectOf(String service, Object request) {
        return objectOf(service, "", request);
    }

    /** As above; AccessService serves two kinds, so its kind is the method's noun (CreateApiToken: ApiToken). */
    static ObjectReference objectOf(String service, String method, Object request) {
        String kind = service == null ? "" : service.substring(service.lastIndexOf('.') + 1).replaceFirst("Service$", "");
        if (kind.equals("Access") && method != null) {
            kind = MUTATING.matcher(method).matches() ? method.replaceFirst("^(Create|Update|Delete|Revoke)", "") : kind;
        }
        ObjectReference.Builder object = ObjectReference.newBuilder().setKind(kind);
        if (!(request instanceof Message message)) {
            return object.build();
        }
        String name = stringField(message, "name");
        String namespace = stringField(message, "namespace");
        if (name.isEmpty()) {
            for (Descriptors.FieldDescriptor field : message.getDescriptorForType().getFields()) {
                if (field.getJavaType() == Descriptors.FieldDescriptor.JavaType.MESSAGE && !field.isRepeated()) {
                    Message inner = (Message) message.getField(field);
                    Descriptors.FieldDescriptor meta = inner.getDescriptorForType().findFieldByName("metadata");
                    if (meta != null && inner.getField(meta) instanceof ObjectMeta m) {
                        name = m.getName();
                        namespace = m.getNamespace();
                        break;
                    }
                }
            }
        }
        if (namespace.isEmpty() && !name.isEmpty() && !CLUSTER_SCOPED.contains(kind)) {
            namespace = "default"; // what the API defaults it to
        }
        return object.setName(clip(name)).setNamespace(clip(namespace)).build();
    }

    private static String stringField(Message message, String name) {
        Descriptors.FieldDescriptor field = message.getDescriptorForType().findFieldByName(name);
        return field != null && field.getJavaType() == Descriptors.FieldDescriptor.JavaType.STRING && !field.isRepeated()
                ? (String) message.getField(field) : "";
    }

    private static String clip(String s) {
        return s.length() > 253 ? s.substring(0, 253) : s;
    }
}
