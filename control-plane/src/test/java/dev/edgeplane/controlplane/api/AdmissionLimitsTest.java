package dev.edgeplane.controlplane.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.rpc.BadRequest;
import com.google.rpc.QuotaFailure;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.EnvVar;
import dev.edgeplane.api.v1.ListAppsRequest;
import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.UpdateAppRequest;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Every bound of the public API at its default (edgeplane.limits.*): refused with the right code,
 * naming the field or the limit, and nothing written.
 */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class AdmissionLimitsTest {
    private static final String NS = "admission";
    private TestApi api;

    @BeforeEach
    void connect() {
        api = new TestApi();
    }

    @AfterEach
    void disconnect() {
        api.close();
    }

    private static App app(String name, int replicas) {
        return AppApiTest.app(NS, name, replicas);
    }

    private static App withTemplate(App app, UnaryOperator<PodTemplate.Builder> change) {
        return app.toBuilder().setSpec(app.getSpec().toBuilder().setTemplate(change.apply(app.getSpec().getTemplate().toBuilder()))).build();
    }

    private static App withContainer(App app, UnaryOperator<Container.Builder> change) {
        return withTemplate(app, t -> t.setContainers(0, change.apply(t.getContainers(0).toBuilder())));
    }

    @Test
    void countsAndLengthsAreInvalidArgumentsNamingFieldAndLimit() {
        assertInvalid(app("too-many", 10_001), "app.spec.replicas", "edgeplane.limits.max-replicas");
        assertInvalid(app("too-many", Integer.MAX_VALUE), "app.spec.replicas", "edgeplane.limits.max-replicas");
        assertInvalid(withTemplate(app("containers", 1), t -> {
            for (int i = 1; i <= 32; i++) {
                t.addContainers(t.getContainers(0).toBuilder().setName("c" + i));
            }
            return t;
        }), "app.spec.template.containers", "edgeplane.limits.max-containers");
        assertInvalid(withContainer(app("env", 1), c -> {
            for (int i = 0; i < 257; i++) {
                c.addEnv(EnvVar.newBuilder().setName("E" + i).setValue("v"));
            }
            return c;
        }), "app.spec.template.containers[0].env", "edgeplane.limits.max-list-items");
        assertInvalid(withContainer(app("args", 1), c -> {
            for (int i = 0; i < 257; i++) {
                c.addArgs("a");
            }
            return c;
        }), "app.spec.template.containers[0].args", "edgeplane.limits.max-list-items");
        assertInvalid(withContainer(app("long-arg", 1), c -> c.setArgs(0, "x".repeat(16 * 1024 + 1))),
                "app.spec.template.containers[0].args[0]", "edgeplane.limits.max-string-bytes");
        assertInvalid(withContainer(app("long-env", 1), c -> c.addEnv(EnvVar.newBuilder().setName("BIG").setValue("y".repeat(20_000)))),
                "app.spec.template.containers[0].env[0].value", "edgeplane.limits.max-string-bytes");
        assertInvalid(withContainer(app("long-command", 1), c -> c.setCommand(0, "z".repeat(16 * 1024 + 1))),
                "app.spec.template.containers[0].command[0]", "edgeplane.limits.max-string-bytes");

        App labels = app("labels", 1);
        App.Builder many = labels.toBuilder();
        for (int i = 0; i < 65; i++) {
            many.getMetadataBuilder().putLabels("l" + i, "v");
        }
        assertInvalid(many.build(), "app.metadata.labels", "edgeplane.limits.max-labels");
        // Kubernetes' label rules: name <= 63, optional DNS prefix <= 253, value <= 63.
        assertInvalid(label(labels, "k".repeat(64), "v"), "app.metadata.labels[" + "k".repeat(64) + "]", "label key");
        assertInvalid(label(labels, "a".repeat(63) + "." + "b".repeat(63) + "." + "c".repeat(63) + "." + "d".repeat(63) + "/k", "v"),
                null, "prefix");
        assertInvalid(label(labels, "tier", "v".repeat(64)), "app.metadata.labels[tier]", "label value");
        App annotated = labels.toBuilder().setMetadata(labels.getMetadata().toBuilder()
                .putAnnotations("note", "n".repeat(64 * 1024))).build();
        assertInvalid(annotated, "app.metadata.annotations", "edgeplane.limits.max-annotations-bytes");
        App badAnnotationKey = labels.toBuilder().setMetadata(labels.getMetadata().toBuilder().putAnnotations("bad key", "x")).build();
        assertInvalid(badAnnotationKey, "app.metadata.annotations[bad key]", "annotation key");
        assertInvalid(app("n".repeat(64), 1), "app.metadata.name", "DNS-1123");

        assertEquals(0, api.etcdCount("/edgeplane/apps/" + NS + "/"), "no refused request wrote anything");
    }

    @Test
    void aTemplateOverItsSizeIsResourceExhaustedNamingTheLimit() {
        // 20 containers x 15 KiB of args: each string within its own limit, the template over 256 KiB.
        App big = withTemplate(app("big-template", 1), t -> {
            for (int i = 1; i < 20; i++) {
                t.addContainers(t.getContainers(0).toBuilder().setName("c" + i));
            }
            for (int i = 0; i < 20; i++) {
                t.setContainers(i, t.getContainers(i).toBuilder().addArgs("p".repeat(15 * 1024)));
            }
            return t;
        });
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> api.apps().createApp(CreateAppRequest.newBuilder().setApp(big).build()));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("edgeplane.limits.max-template-bytes"), e.getStatus().getDescription());
        QuotaFailure failure = detail(e, QuotaFailure.class);
        assertEquals("edgeplane.limits.max-template-bytes", failure.getViolations(0).getSubject());
        assertNull(api.etcdGet("/edgeplane/apps/" + NS + "/big-template"));

        // The same on update: the stored App is left as it was.
        App small = api.apps().createApp(CreateAppRequest.newBuilder().setApp(AppApiTest.app("admission-update", "grows", 1)).build());
        byte[] before = api.etcdGet("/edgeplane/apps/admission-update/grows");
        App grown = big.toBuilder().setMetadata(small.getMetadata()).build();
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, assertThrows(StatusRuntimeException.class,
                () -> api.apps().updateApp(UpdateAppRequest.newBuilder().setApp(grown).build())).getStatus().getCode());
        assertEquals(new String(before), new String(api.etcdGet("/edgeplane/apps/admission-update/grows")));
    }

    @Test
    void aMessageOverTheInboundLimitIsRefusedBeforeItIsRead() {
        App.Builder b = app("huge-message", 1).toBuilder();
        for (int i = 0; i < 5; i++) {
            b.getMetadataBuilder().putAnnotations("blob-" + i, "h".repeat(1024 * 1024));
        }
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> api.apps().createApp(CreateAppRequest.newBuilder().setApp(b).build()));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode(), e.getStatus().toString());
        assertNull(api.etcdGet("/edgeplane/apps/" + NS + "/huge-message"));
        // The connection stays usable.
        api.apps().listApps(ListAppsRequest.newBuilder().setNamespace(NS).build());
    }

    @Test
    void manyViolationsStillMakeADeliverableReply() {
        // 256 bad env names: the reply lists a few and counts the rest (trailers have a size limit).
        App bad = withContainer(app("many-bad", 1), c -> {
            for (int i = 0; i < 256; i++) {
                c.addEnv(EnvVar.newBuilder().setName("1bad-" + "q".repeat(1000) + i));
            }
            return c;
        });
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> api.apps().createApp(CreateAppRequest.newBuilder().setApp(bad).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        BadRequest request = detail(e, BadRequest.class);
        assertEquals(Validation.MAX_REPORTED, request.getFieldViolationsCount());
        assertTrue(e.getStatus().getDescription().contains("and 248 more"), e.getStatus().getDescription());
    }

    @Test
    void pagesAreBoundedAndSelectorsToo() {
        assertEquals(Status.Code.INVALID_ARGUMENT, assertThrows(StatusRuntimeException.class,
                () -> api.apps().listApps(ListAppsRequest.newBuilder().setPageSize(-1).build())).getStatus().getCode());
        // Past the maximum a page is coerced (AIP-158), not refused: edgectl and the benches ask for 1000.
        api.nodes().listNodes(ListNodesRequest.newBuilder().setPageSize(1_000_000).build());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> api.apps().listApps(
                ListAppsRequest.newBuilder().setLabelSelector("a=b,".repeat(1100)).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals("label_selector", detail(e, BadRequest.class).getFieldViolations(0).getField());
        assertTrue(e.getStatus().getDescription().contains("edgeplane.limits.max-label-selector-bytes"));
    }

    private static App label(App app, String key, String value) {
        return app.toBuilder().setMetadata(app.getMetadata().toBuilder().putLabels(key, value)).build();
    }

    static <T extends com.google.protobuf.Message> T detail(StatusRuntimeException e, Class<T> type) {
        com.google.rpc.Status status = StatusProto.fromThrowable(e);
        for (var any : status.getDetailsList()) {
            if (any.is(type)) {
                try {
                    return any.unpack(type);
                } catch (Exception ex) {
                    throw new AssertionError(ex);
                }
            }
        }
        throw new AssertionError("no " + type.getSimpleName() + " in " + status);
    }

    /** INVALID_ARGUMENT with a violation of {@code field} (any field when null) whose description mentions {@code words}. */
    private void assertInvalid(App app, String field, String words) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> api.apps().createApp(CreateAppRequest.newBuilder().setApp(app).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
        BadRequest bad = detail(e, BadRequest.class);
        assertTrue(bad.getFieldViolationsList().stream().anyMatch(v -> (field == null || v.getField().equals(field))
                && v.getDescription().contains(words)), "expected a violation of " + field + " mentioning " + words + " in " + bad);
    }
}
