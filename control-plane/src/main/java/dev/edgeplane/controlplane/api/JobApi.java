package dev.edgeplane.controlplane.api;

import com.google.protobuf.util.Durations;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.CreateJobRequest;
import dev.edgeplane.api.v1.DeleteJobRequest;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.GetJobRequest;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.JobServiceGrpc;
import dev.edgeplane.api.v1.JobSpec;
import dev.edgeplane.api.v1.ListJobsRequest;
import dev.edgeplane.api.v1.ListJobsResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.UpdateJobRequest;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.quotas.QuotaAdmission;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.time.Instant;
import java.util.UUID;
import org.jboss.logging.Logger;

/**
 * JobService: Jobs at /edgeplane/jobs/&lt;ns&gt;/&lt;name&gt;, Kubernetes batch/v1 fields and defaults. The
 * spec is validated here (the pod template by the App's validator, field paths under "job.spec");
 * the pods are the {@link dev.edgeplane.controlplane.controllers.job.JobController}'s. The status is
 * the controller's: ignored on Create and Update, kept by Update.
 */
@GrpcService
@Blocking
public class JobApi extends JobServiceGrpc.JobServiceImplBase {
    private static final Logger LOG = Logger.getLogger(JobApi.class);
    public static final int MAX_BACKOFF_LIMIT = 10_000;
    public static final long MAX_SECONDS = 10L * 366 * 24 * 3600;
    /** A pod is "&lt;job&gt;-&lt;5 characters&gt;" and stays a DNS label (63). */
    public static final int MAX_NAME = 57;

    private final EtcdStore store;
    private final ApiLimits limits;
    /** A running Job's pods count against the namespace's Quotas (replicas, cpu, memory), as an App's replicas do. */
    private final QuotaAdmission quotas;

    public JobApi(EtcdStore store, ControlPlaneConfig config, QuotaAdmission quotas) {
        this.store = store;
        this.quotas = quotas;
        this.limits = ApiLimits.of(config.limits());
    }

    private static String describe(String namespace, String name) {
        return "job \"" + namespace + "/" + name + "\"";
    }

    static Validation validate(Job job, ApiLimits limits) {
        JobSpec spec = job.getSpec();
        // The template, selector and tolerations as an App's (same rules, same limits), renamed to the Job's fields.
        AppSpec.Builder asApp = AppSpec.newBuilder().setTemplate(spec.getTemplate()).putAllNodeSelector(spec.getNodeSelectorMap())
                .addAllTolerations(spec.getTolerationsList());
        if (spec.hasRescheduleAfterUnreachable()) {
            asApp.setRescheduleAfterUnreachable(spec.getRescheduleAfterUnreachable());
        }
        Validation fromApp = AppValidator.validate(App.newBuilder().setMetadata(job.getMetadata()).setSpec(asApp).build(), limits);
        Validation v = new Validation();
        fromApp.violations().forEach(f -> v.add(f.getField().replaceFirst("^app\\.", "job."), f.getDescription()));
        String name = job.getMetadata().getName();
        if (name.length() > MAX_NAME) {
            v.add("job.metadata.name", "at most " + MAX_NAME + " characters (its pods are \"<name>-<5 characters>\"), got " + name.length());
        }
        if (spec.hasParallelism() && (spec.getParallelism() < 0 || spec.getParallelism() > limits.maxReplicas())) {
            v.add("job.spec.parallelism", "must be 0 (suspended) to " + limits.maxReplicas() + " (edgeplane.limits.max-replicas), got "
                    + spec.getParallelism());
        }
        if (spec.hasCompletions() && (spec.getCompletions() < 1 || spec.getCompletions() > limits.maxReplicas())) {
            v.add("job.spec.completions", "must be 1 to " + limits.maxReplicas() + " (edgeplane.limits.max-replicas), got "
                    + spec.getCompletions());
        }
        if (spec.hasBackoffLimit() && (spec.getBackoffLimit() < 0 || spec.getBackoffLimit() > MAX_BACKOFF_LIMIT)) {
            v.add("job.spec.backoff_limit", "must be 0 to " + MAX_BACKOFF_LIMIT + ", got " + spec.getBackoffLimit());
        }
        if (spec.hasActiveDeadlineSeconds() && (spec.getActiveDeadlineSeconds() < 1 || spec.getActiveDeadlineSeconds() > MAX_SECONDS)) {
            v.add("job.spec.active_deadline_seconds", "must be 1 to " + MAX_SECONDS + " (10 years), got " + spec.getActiveDeadlineSeconds());
        }
        if (spec.hasTtlSecondsAfterFinished() && (spec.getTtlSecondsAfterFinished() < 0 || spec.getTtlSecondsAfterFinished() > MAX_SECONDS)) {
            v.add("job.spec.ttl_seconds_after_finished", "must be 0 to " + MAX_SECONDS + " (10 years), got "
                    + spec.getTtlSecondsAfterFinished());
        }
        if (spec.hasRescheduleAfterUnreachable() && Durations.toSeconds(spec.getRescheduleAfterUnreachable()) > MAX_SECONDS) {
            v.add("job.spec.reschedule_after_unreachable", "must be at most 10 years");
        }
        PodTemplate.RestartPolicy policy = spec.getTemplate().getRestartPolicy();
        if (policy != PodTemplate.RestartPolicy.NEVER && policy != PodTemplate.RestartPolicy.ON_FAILURE) {
            v.add("job.spec.template.restart_policy", "must be NEVER or ON_FAILURE (a Job's pods finish), got " + policy);
        }
        for (int i = 0; i < Math.min(spec.getTemplate().getVolumesCount(), limits.maxListItems()); i++) {
            if (spec.getTemplate().getVolumes(i).getSourceCase() == PodVolume.SourceCase.VOLUME) {
                v.add("job.spec.template.volumes[" + i + "].volume",
                        "a Job's pods cannot use Volume resources (use empty_dir, host_path, config_map or secret)");
            }
        }
        return v;
    }

    /** The fields UpdateJob may not change (Kubernetes: the template, completions and selectors are immutable). */
    static Validation immutable(JobSpec before, JobSpec after) {
        Validation v = new Validation();
        if (!before.getTemplate().equals(after.getTemplate())) {
            v.add("job.spec.template", "is immutable");
        }
        if (before.hasCompletions() != after.hasCompletions() || before.getCompletions() != after.getCompletions()) {
            v.add("job.spec.completions", "is immutable");
        }
        if (before.hasBackoffLimit() != after.hasBackoffLimit() || before.getBackoffLimit() != after.getBackoffLimit()) {
            v.add("job.spec.backoff_limit", "is immutable");
        }
        if (!before.getNodeSelectorMap().equals(after.getNodeSelectorMap())) {
            v.add("job.spec.node_selector", "is immutable");
        }
        if (!before.getTolerationsList().equals(after.getTolerationsList())) {
            v.add("job.spec.tolerations", "is immutable");
        }
        if (!before.getRescheduleAfterUnreachable().equals(after.getRescheduleAfterUnreachable())
                || before.hasRescheduleAfterUnreachable() != after.hasRescheduleAfterUnreachable()) {
            v.add("job.spec.reschedule_after_unreachable", "is immutable");
        }
        return v;
    }

    private static Job normalise(Job job) {
        return job.toBuilder().setMetadata(job.getMetadata().toBuilder().setNamespace(Calls.orDefault(job.getMetadata().getNamespace())))
                .clearStatus().build();
    }

    private static Job shown(Entry<Job> entry) {
        return entry.value().toBuilder().setMetadata(entry.value().getMetadata().toBuilder().setResourceVersion(entry.modRevision())).build();
    }

    @Override
    public void createJob(CreateJobRequest request, StreamObserver<Job> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Job job = normalise(request.getJob());
            job = job.toBuilder().setSpec(job.getSpec().toBuilder().clearEdgeNode()).build(); // the platform's only
            validate(job, limits).throwIfInvalid();
            ObjectMeta meta = job.getMetadata().toBuilder().setUid(UUID.randomUUID().toString())
                    .setCreateTime(Joiner.timestamp(Instant.now())).setGeneration(1).setResourceVersion(0).build();
            Job stored = job.toBuilder().setMetadata(meta).build();
            String key = Keys.job(meta.getNamespace(), meta.getName());
            long revision = quotas.createJob(key, stored)
                    .orElseThrow(() -> Calls.exists(describe(meta.getNamespace(), meta.getName())));
            LOG.infof("created %s (%d completions, parallelism %d)", describe(meta.getNamespace(), meta.getName()),
                    stored.getSpec().hasCompletions() ? stored.getSpec().getCompletions() : 1,
                    stored.getSpec().hasParallelism() ? stored.getSpec().getParallelism() : 1);
            return shown(new Entry<>(key, stored, revision, revision));
        });
    }

    @Override
    public void getJob(GetJobRequest request, StreamObserver<Job> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            return shown(store.get(Keys.job(ns, request.getName()), Job.parser())
                    .orElseThrow(() -> Calls.notFound(describe(ns, request.getName()))));
        });
    }

    @Override
    public void listJobs(ListJobsRequest request, StreamObserver<ListJobsResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String prefix = Listing.prefix(Keys.JOBS, request.getNamespace());
            Listing.Page<Job> page = Listing.list(store, limits, prefix, request.getPageSize(), request.getPageToken(),
                    request.getLabelSelector(), Job.parser(), j -> j.getMetadata().getLabelsMap());
            ListJobsResponse.Builder response = ListJobsResponse.newBuilder().setNextPageToken(page.nextPageToken());
            page.items().forEach(e -> response.addJobs(shown(e)));
            return response.build();
        });
    }

    /** An unconditional update (resource_version 0) races the controller's status writes: it is tried this often. */
    private static final int UNCONDITIONAL_ATTEMPTS = 5;

    @Override
    public void updateJob(UpdateJobRequest request, StreamObserver<Job> responseObserver) {
        Calls.unary(responseObserver, () -> {
            for (int attempt = 1; ; attempt++) {
                try {
                    return update(request);
                } catch (io.grpc.StatusRuntimeException e) {
                    if (request.getJob().getMetadata().getResourceVersion() != 0 || attempt == UNCONDITIONAL_ATTEMPTS
                            || e.getStatus().getCode() != io.grpc.Status.Code.ABORTED) {
                        throw e;
                    }
                }
            }
        });
    }

    private Job update(UpdateJobRequest request) {
        Job job = normalise(request.getJob());
        String ns = job.getMetadata().getNamespace();
        String name = job.getMetadata().getName();
        new Validation().dnsLabel("job.metadata.name", name).dnsLabel("job.metadata.namespace", ns).throwIfInvalid();
        String key = Keys.job(ns, name);
        Entry<Job> current = store.get(key, Job.parser()).orElseThrow(() -> Calls.notFound(describe(ns, name)));
        long given = job.getMetadata().getResourceVersion();
        if (given != 0 && given != current.modRevision()) {
            throw Calls.stale(describe(ns, name), given, current.modRevision());
        }
        JobSpec spec = job.getSpec().toBuilder().setEdgeNode(current.value().getSpec().getEdgeNode()).build();
        Job merged = job.toBuilder().setSpec(spec).build();
        validate(merged, limits).throwIfInvalid();
        immutable(current.value().getSpec(), spec).throwIfInvalid();
        boolean specChanged = !current.value().getSpec().equals(spec);
        ObjectMeta meta = current.value().getMetadata().toBuilder()
                .clearLabels().putAllLabels(job.getMetadata().getLabelsMap())
                .clearAnnotations().putAllAnnotations(job.getMetadata().getAnnotationsMap())
                .setGeneration(current.value().getMetadata().getGeneration() + (specChanged ? 1 : 0))
                .setResourceVersion(0).build();
        Job stored = current.value().toBuilder().setMetadata(meta).setSpec(spec).build(); // the status stays the controller's
        java.util.OptionalLong written = quotas.updateJob(key, stored, current);
        if (written.isEmpty()) {
            throw given != 0 ? Calls.stale(describe(ns, name), given, -1) : Calls.conflict(describe(ns, name));
        }
        long revision = written.getAsLong();
        return shown(new Entry<>(key, stored, revision, current.createRevision()));
    }

    @Override
    public void deleteJob(DeleteJobRequest request, StreamObserver<DeleteResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            String name = request.getName();
            new Validation().dnsLabel("name", name).dnsLabel("namespace", ns).throwIfInvalid();
            String key = Keys.job(ns, name);
            Entry<byte[]> current = store.get(key).orElseThrow(() -> Calls.notFound(describe(ns, name)));
            if (request.getResourceVersion() != 0 && request.getResourceVersion() != current.modRevision()) {
                throw Calls.stale(describe(ns, name), request.getResourceVersion(), current.modRevision());
            }
            TxnResponse response = store.await(store.client().getKVClient().txn()
                    .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(current.modRevision())))
                    .Then(Op.delete(EtcdStore.bytes(key), DeleteOption.DEFAULT)).commit(), "delete " + key);
            if (!response.isSucceeded()) {
                throw Calls.conflict(describe(ns, name));
            }
            LOG.infof("deleted %s (its pods leave their nodes)", describe(ns, name));
            return DeleteResponse.getDefaultInstance();
        });
    }
}
