package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.schedule.CronSchedule;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Autoscaler;
import dev.edgeplane.api.v1.AutoscalerServiceGrpc;
import dev.edgeplane.api.v1.AutoscalerSpec;
import dev.edgeplane.api.v1.CreateAutoscalerRequest;
import dev.edgeplane.api.v1.DeleteAutoscalerRequest;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.GetAutoscalerRequest;
import dev.edgeplane.api.v1.ListAutoscalersRequest;
import dev.edgeplane.api.v1.ListAutoscalersResponse;
import dev.edgeplane.api.v1.MetricTarget;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.ScalingPolicy;
import dev.edgeplane.api.v1.ScalingRules;
import dev.edgeplane.api.v1.ScheduledBounds;
import dev.edgeplane.api.v1.UpdateAutoscalerRequest;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.controllers.autoscaler.AutoscalerBounds;
import dev.edgeplane.controlplane.controllers.autoscaler.AutoscalerController;
import dev.edgeplane.controlplane.controllers.autoscaler.ReplicaRequests;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.PutOption;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import org.jboss.logging.Logger;

/**
 * AutoscalerService: Autoscalers at /edgeplane/autoscalers/&lt;ns&gt;/&lt;name&gt;, each with an index key
 * /edgeplane/autoscaler-targets/&lt;ns&gt;/&lt;app&gt; naming it, created and deleted in the same transaction,
 * so that two Autoscalers on one App cannot both be created however the calls race. The spec is
 * validated here (bounds, targets, behavior, schedules with {@link CronSchedule}); the target App must
 * exist, be REPLICATED and request what is targeted (FAILED_PRECONDITION naming the containers). The
 * {@link AutoscalerController} writes the status; what it measured last is added when read.
 */
@GrpcService
@Blocking
public class AutoscalerApi extends AutoscalerServiceGrpc.AutoscalerServiceImplBase {
    private static final Logger LOG = Logger.getLogger(AutoscalerApi.class);
    public static final int MAX_TARGET_PERCENT = 1000;
    public static final int MAX_WINDOW_SECONDS = 3600;
    public static final int MAX_POLICIES = 10;
    public static final int MAX_PERIOD_SECONDS = 1800;
    public static final int MAX_SCHEDULES = 16;
    public static final long MAX_SCHEDULE_DURATION_SECONDS = 31L * 24 * 3600;

    private final EtcdStore store;
    private final ApiLimits limits;
    private final int maxReplicas;
    private final AutoscalerController controller;

    public AutoscalerApi(EtcdStore store, ControlPlaneConfig config, AutoscalerController controller) {
        this.store = store;
        this.limits = ApiLimits.of(config.limits());
        this.maxReplicas = config.limits().maxReplicas();
        this.controller = controller;
    }

    private static String describe(String namespace, String name) {
        return "autoscaler \"" + namespace + "/" + name + "\"";
    }

    static Validation validate(Autoscaler autoscaler, ApiLimits limits, int maxReplicas) {
        Validation v = new Validation();
        v.dnsLabel("autoscaler.metadata.name", autoscaler.getMetadata().getName());
        v.dnsLabel("autoscaler.metadata.namespace", autoscaler.getMetadata().getNamespace());
        v.labels("autoscaler.metadata.labels", autoscaler.getMetadata().getLabelsMap(), limits.maxLabels());
        v.annotations("autoscaler.metadata.annotations", autoscaler.getMetadata().getAnnotationsMap(), limits.maxAnnotationsBytes());
        AutoscalerSpec spec = autoscaler.getSpec();
        v.dnsLabel("autoscaler.spec.target_app", spec.getTargetApp());
        if (spec.getMinReplicas() < 0) {
            v.add("autoscaler.spec.min_replicas", "must be at least 1 (0 or unset: 1), got " + spec.getMinReplicas());
        }
        int min = AutoscalerBounds.specMin(spec);
        if (spec.getMaxReplicas() < min || spec.getMaxReplicas() > maxReplicas) {
            v.add("autoscaler.spec.max_replicas", "must be min_replicas (" + min + ") to " + maxReplicas
                    + " (edgeplane.limits.max-replicas), got " + spec.getMaxReplicas());
        }
        if (spec.getMetricsCount() == 0) {
            v.add("autoscaler.spec.metrics", "at least one metric is required (cpu or memory utilization)");
        }
        Set<MetricTarget.Resource> seen = new HashSet<>();
        for (int i = 0; i < spec.getMetricsCount() && i < 4; i++) {
            MetricTarget m = spec.getMetrics(i);
            String field = "autoscaler.spec.metrics[" + i + "]";
            if (m.getResource() != MetricTarget.Resource.CPU && m.getResource() != MetricTarget.Resource.MEMORY) {
                v.add(field + ".resource", "must be CPU or MEMORY");
            } else if (!seen.add(m.getResource())) {
                v.add(field + ".resource", m.getResource() + " is targeted twice");
            }
            if (m.getTargetAverageUtilization() < 1 || m.getTargetAverageUtilization() > MAX_TARGET_PERCENT) {
                v.add(field + ".target_average_utilization", "must be 1 to " + MAX_TARGET_PERCENT + " (percent of the requests), got "
                        + m.getTargetAverageUtilization());
            }
        }
        if (spec.getMetricsCount() > 2) {
            v.add("autoscaler.spec.metrics", "at most 2 (one per resource), got " + spec.getMetricsCount());
        }
        rules(v, "autoscaler.spec.behavior.scale_up", spec.getBehavior().getScaleUp(), maxReplicas);
        rules(v, "autoscaler.spec.behavior.scale_down", spec.getBehavior().getScaleDown(), maxReplicas);
        if (spec.getSchedulesCount() > MAX_SCHEDULES) {
            v.add("autoscaler.spec.schedules", "at most " + MAX_SCHEDULES + ", got " + spec.getSchedulesCount());
            return v;
        }
        Set<String> names = new HashSet<>();
        for (int i = 0; i < spec.getSchedulesCount(); i++) {
            ScheduledBounds s = spec.getSchedules(i);
            String field = "autoscaler.spec.schedules[" + i + "]";
            v.dnsLabel(field + ".name", s.getName());
            if (!names.add(s.getName())) {
                v.add(field + ".name", "\"" + s.getName() + "\" is used by an earlier schedule");
            }
            try {
                CronSchedule.parse(s.getSchedule(), s.getTimeZone());
            } catch (CronSchedule.InvalidCronException e) {
                v.add(field + (e.field().equals("time_zone") ? ".time_zone" : ".schedule"), e.getMessage());
            }
            if (s.getDurationSeconds() < 1 || s.getDurationSeconds() > MAX_SCHEDULE_DURATION_SECONDS) {
                v.add(field + ".duration_seconds", "must be 1 to " + MAX_SCHEDULE_DURATION_SECONDS + " (31 days), got " + s.getDurationSeconds());
            }
            if (!s.hasMinReplicas() && !s.hasMaxReplicas()) {
                v.add(field, "sets neither min_replicas nor max_replicas");
            }
            if (s.hasMinReplicas() && (s.getMinReplicas() < 1 || s.getMinReplicas() > maxReplicas)) {
                v.add(field + ".min_replicas", "must be 1 to " + maxReplicas + ", got " + s.getMinReplicas());
            }
            if (s.hasMaxReplicas() && (s.getMaxReplicas() < 1 || s.getMaxReplicas() > maxReplicas)) {
                v.add(field + ".max_replicas", "must be 1 to " + maxReplicas + ", got " + s.getMaxReplicas());
            }
            AutoscalerBounds.Bounds merged = AutoscalerBounds.merged(spec, s);
            if (merged.min() > merged.max()) {
                v.add(field, "while active its min_replicas " + merged.min() + " would be over its max_replicas " + merged.max()
                        + " (an unset one is the spec's)");
            }
        }
        return v;
    }

    private static void rules(Validation v, String field, ScalingRules rules, int maxReplicas) {
        if (rules.hasStabilizationWindowSeconds()
                && (rules.getStabilizationWindowSeconds() < 0 || rules.getStabilizationWindowSeconds() > MAX_WINDOW_SECONDS)) {
            v.add(field + ".stabilization_window_seconds", "must be 0 to " + MAX_WINDOW_SECONDS + ", got "
                    + rules.getStabilizationWindowSeconds());
        }
        if (rules.getSelectPolicyValue() < 0 || rules.getSelectPolicyValue() > ScalingRules.SelectPolicy.DISABLED_VALUE) {
            v.add(field + ".select_policy", "must be MAX, MIN or DISABLED");
        }
        if (rules.getPoliciesCount() > MAX_POLICIES) {
            v.add(field + ".policies", "at most " + MAX_POLICIES + ", got " + rules.getPoliciesCount());
            return;
        }
        for (int i = 0; i < rules.getPoliciesCount(); i++) {
            ScalingPolicy p = rules.getPolicies(i);
            String f = field + ".policies[" + i + "]";
            if (p.getType() == ScalingPolicy.Type.PODS) {
                if (p.getValue() < 1 || p.getValue() > maxReplicas) {
                    v.add(f + ".value", "must be 1 to " + maxReplicas + " replicas, got " + p.getValue());
                }
            } else if (p.getType() == ScalingPolicy.Type.PERCENT) {
                if (p.getValue() < 1 || p.getValue() > MAX_TARGET_PERCENT) {
                    v.add(f + ".value", "must be 1 to " + MAX_TARGET_PERCENT + " percent, got " + p.getValue());
                }
            } else {
                v.add(f + ".type", "must be PODS or PERCENT");
            }
            if (p.getPeriodSeconds() < 1 || p.getPeriodSeconds() > MAX_PERIOD_SECONDS) {
                v.add(f + ".period_seconds", "must be 1 to " + MAX_PERIOD_SECONDS + ", got " + p.getPeriodSeconds());
            }
        }
    }

    /** FAILED_PRECONDITION when the App cannot be autoscaled by {@code spec}. */
    private static void checkTarget(String ns, App app, AutoscalerSpec spec) {
        String target = "app \"" + ns + "/" + spec.getTargetApp() + "\"";
        if (app.getSpec().getMode() == AppSpec.Mode.EVERY_NODE) {
            throw Status.FAILED_PRECONDITION.withDescription(target + " is EVERY_NODE (one replica per node): it cannot be autoscaled")
                    .asRuntimeException();
        }
        List<String> missing = ReplicaRequests.missing(app.getSpec().getTemplate(), spec.getMetricsList());
        if (!missing.isEmpty()) {
            throw Status.FAILED_PRECONDITION.withDescription(target + ": containers lack the request (or limit) of a targeted resource ("
                    + String.join("; ", missing) + "); utilization is measured against it").asRuntimeException();
        }
    }

    private Optional<App> app(String ns, String name) {
        return store.get(Keys.app(ns, name), App.parser()).map(Entry::value);
    }

    private static Autoscaler normalise(Autoscaler autoscaler) {
        return autoscaler.toBuilder().setMetadata(autoscaler.getMetadata().toBuilder()
                .setNamespace(Calls.orDefault(autoscaler.getMetadata().getNamespace()))).clearStatus().build();
    }

    private Autoscaler shown(Entry<Autoscaler> entry) {
        Autoscaler a = entry.value().toBuilder()
                .setMetadata(entry.value().getMetadata().toBuilder().setResourceVersion(entry.modRevision())).build();
        return controller.withLiveStatus(a);
    }

    @Override
    public void createAutoscaler(CreateAutoscalerRequest request, StreamObserver<Autoscaler> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Autoscaler autoscaler = normalise(request.getAutoscaler());
            validate(autoscaler, limits, maxReplicas).throwIfInvalid();
            String ns = autoscaler.getMetadata().getNamespace();
            String name = autoscaler.getMetadata().getName();
            String appName = autoscaler.getSpec().getTargetApp();
            App app = app(ns, appName).orElseThrow(() -> Status.FAILED_PRECONDITION.withDescription("target app \"" + ns + "/"
                    + appName + "\" does not exist (autoscaler.spec.target_app): create the App first").asRuntimeException());
            checkTarget(ns, app, autoscaler.getSpec());
            ObjectMeta meta = autoscaler.getMetadata().toBuilder().setUid(UUID.randomUUID().toString())
                    .setCreateTime(Joiner.timestamp(Instant.now())).setGeneration(1).setResourceVersion(0).build();
            Autoscaler stored = autoscaler.toBuilder().setMetadata(meta).build();
            String key = Keys.autoscaler(ns, name);
            String index = Keys.autoscalerTarget(ns, appName);
            TxnResponse response = store.await(store.client().getKVClient().txn()
                    .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.version(0)),
                            new Cmp(EtcdStore.bytes(index), Cmp.Op.EQUAL, CmpTarget.version(0)))
                    .Then(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(stored.toByteArray()), PutOption.DEFAULT),
                            Op.put(EtcdStore.bytes(index), EtcdStore.bytes(name), PutOption.DEFAULT))
                    .commit(), "create " + key);
            if (!response.isSucceeded()) {
                if (store.get(key).isPresent()) {
                    throw Calls.exists(describe(ns, name));
                }
                throw taken(ns, appName);
            }
            long revision = response.getHeader().getRevision();
            LOG.infof("created %s for app %s (%d..%d replicas)", describe(ns, name), appName, AutoscalerBounds.specMin(stored.getSpec()),
                    stored.getSpec().getMaxReplicas());
            controller.wake(ns, name);
            return shown(new Entry<>(key, stored, revision, revision));
        });
    }

    private StatusRuntimeException taken(String ns, String app) {
        String other = store.get(Keys.autoscalerTarget(ns, app)).map(e -> new String(e.value(), StandardCharsets.UTF_8)).orElse("?");
        return Status.FAILED_PRECONDITION.withDescription("app \"" + ns + "/" + app + "\" already has " + describe(ns, other)
                + "; an App has at most one Autoscaler").asRuntimeException();
    }

    @Override
    public void getAutoscaler(GetAutoscalerRequest request, StreamObserver<Autoscaler> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            Entry<Autoscaler> entry = store.get(Keys.autoscaler(ns, request.getName()), Autoscaler.parser())
                    .orElseThrow(() -> Calls.notFound(describe(ns, request.getName())));
            return shown(entry);
        });
    }

    @Override
    public void listAutoscalers(ListAutoscalersRequest request, StreamObserver<ListAutoscalersResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String prefix = Keys.AUTOSCALERS;
            if (!request.getNamespace().isEmpty()) {
                new Validation().dnsLabel("namespace", request.getNamespace()).throwIfInvalid();
                prefix = Keys.AUTOSCALERS + request.getNamespace() + "/";
            }
            Listing.Page<Autoscaler> page = Listing.list(store, limits, prefix, request.getPageSize(), request.getPageToken(),
                    request.getLabelSelector(), Autoscaler.parser(), a -> a.getMetadata().getLabelsMap());
            ListAutoscalersResponse.Builder response = ListAutoscalersResponse.newBuilder().setNextPageToken(page.nextPageToken());
            page.items().forEach(e -> response.addAutoscalers(shown(e)));
            return response.build();
        });
    }

    @Override
    public void updateAutoscaler(UpdateAutoscalerRequest request, StreamObserver<Autoscaler> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Autoscaler autoscaler = normalise(request.getAutoscaler());
            validate(autoscaler, limits, maxReplicas).throwIfInvalid();
            String ns = autoscaler.getMetadata().getNamespace();
            String name = autoscaler.getMetadata().getName();
            String key = Keys.autoscaler(ns, name);
            Entry<Autoscaler> current = store.get(key, Autoscaler.parser()).orElseThrow(() -> Calls.notFound(describe(ns, name)));
            long given = autoscaler.getMetadata().getResourceVersion();
            if (given != 0 && given != current.modRevision()) {
                throw Calls.stale(describe(ns, name), given, current.modRevision());
            }
            if (!current.value().getSpec().getTargetApp().equals(autoscaler.getSpec().getTargetApp())) {
                throw Validation.invalid("autoscaler.spec.target_app", "cannot change (from \"" + current.value().getSpec().getTargetApp()
                        + "\"): delete this Autoscaler and create one for the other App");
            }
            // A target that is gone shows in the status; one that is there must still fit the metrics.
            app(ns, autoscaler.getSpec().getTargetApp()).ifPresent(app -> checkTarget(ns, app, autoscaler.getSpec()));
            boolean specChanged = !current.value().getSpec().equals(autoscaler.getSpec());
            ObjectMeta meta = current.value().getMetadata().toBuilder()
                    .clearLabels().putAllLabels(autoscaler.getMetadata().getLabelsMap())
                    .clearAnnotations().putAllAnnotations(autoscaler.getMetadata().getAnnotationsMap())
                    .setGeneration(current.value().getMetadata().getGeneration() + (specChanged ? 1 : 0))
                    .setResourceVersion(0).build();
            Autoscaler stored = current.value().toBuilder().setMetadata(meta).setSpec(autoscaler.getSpec()).build();
            TxnResponse response = store.await(store.client().getKVClient().txn()
                    .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(current.modRevision())))
                    .Then(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(stored.toByteArray()), PutOption.DEFAULT)).commit(), "update " + key);
            if (!response.isSucceeded()) {
                throw given != 0 ? Calls.stale(describe(ns, name), given, -1) : Calls.conflict(describe(ns, name));
            }
            controller.wake(ns, name);
            long revision = response.getHeader().getRevision();
            return shown(new Entry<>(key, stored, revision, current.createRevision()));
        });
    }

    @Override
    public void deleteAutoscaler(DeleteAutoscalerRequest request, StreamObserver<DeleteResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            String name = request.getName();
            new Validation().dnsLabel("name", name).dnsLabel("namespace", ns).throwIfInvalid();
            String key = Keys.autoscaler(ns, name);
            Entry<Autoscaler> current = store.get(key, Autoscaler.parser()).orElseThrow(() -> Calls.notFound(describe(ns, name)));
            if (request.getResourceVersion() != 0 && request.getResourceVersion() != current.modRevision()) {
                throw Calls.stale(describe(ns, name), request.getResourceVersion(), current.modRevision());
            }
            String index = Keys.autoscalerTarget(ns, current.value().getSpec().getTargetApp());
            // The index goes with it when it names this one (it always should; the guard makes sure).
            TxnResponse response = store.await(store.client().getKVClient().txn()
                    .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(current.modRevision())),
                            new Cmp(EtcdStore.bytes(index), Cmp.Op.EQUAL, CmpTarget.value(EtcdStore.bytes(name))))
                    .Then(Op.delete(EtcdStore.bytes(key), DeleteOption.DEFAULT), Op.delete(EtcdStore.bytes(index), DeleteOption.DEFAULT))
                    .commit(), "delete " + key);
            if (!response.isSucceeded() && !store.delete(key, current.modRevision())) {
                throw Calls.conflict(describe(ns, name)); // (the second try is for an index that is not ours)
            }
            LOG.infof("deleted %s (app %s keeps its replicas)", describe(ns, name), current.value().getSpec().getTargetApp());
            return DeleteResponse.getDefaultInstance();
        });
    }
}
