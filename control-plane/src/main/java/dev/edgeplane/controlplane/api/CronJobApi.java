package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.CronJobNames;
import dev.edgeplane.api.schedule.CronSchedule;
import dev.edgeplane.api.v1.CreateCronJobRequest;
import dev.edgeplane.api.v1.CronJob;
import dev.edgeplane.api.v1.CronJobServiceGrpc;
import dev.edgeplane.api.v1.CronJobSpec;
import dev.edgeplane.api.v1.DeleteCronJobRequest;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.GetCronJobRequest;
import dev.edgeplane.api.v1.Job;
import dev.edgeplane.api.v1.ListCronJobsRequest;
import dev.edgeplane.api.v1.ListCronJobsResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.TriggerCronJobRequest;
import dev.edgeplane.api.v1.UpdateCronJobRequest;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.controllers.cronjob.CronJobJobs;
import dev.edgeplane.controlplane.controllers.cronjob.EdgeCronJobTasks;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.PutOption;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.time.Instant;
import java.util.UUID;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * CronJobService: CronJobs at /edgeplane/cronjobs/&lt;ns&gt;/&lt;name&gt;. The spec is validated here (the
 * schedule with {@link CronSchedule}, naming the cron field at fault; job_template.spec as a Job's,
 * {@link JobSpecValidation}); a run_on_edge CronJob must select at least one node now and at most
 * edgeplane.cronjob.max-edge-nodes. The CronJobController makes its Jobs (or its nodes' entries) and
 * writes its status; edge_nodes is computed when read.
 */
@GrpcService
@Blocking
public class CronJobApi extends CronJobServiceGrpc.CronJobServiceImplBase {
    private static final Logger LOG = Logger.getLogger(CronJobApi.class);
    public static final int MAX_HISTORY_LIMIT = 100;
    public static final long MAX_STARTING_DEADLINE_SECONDS = 366L * 24 * 3600;

    private final EtcdStore store;
    private final StateCaches caches;
    private final ApiLimits limits;
    private final int maxEdgeNodes;

    public CronJobApi(EtcdStore store, StateCaches caches, ControlPlaneConfig config,
                      @ConfigProperty(name = "edgeplane.cronjob.max-edge-nodes", defaultValue = "1000") int maxEdgeNodes) {
        this.store = store;
        this.caches = caches;
        this.limits = ApiLimits.of(config.limits());
        this.maxEdgeNodes = maxEdgeNodes;
    }

    private static String describe(String namespace, String name) {
        return "cron job \"" + namespace + "/" + name + "\"";
    }

    static Validation validate(CronJob cronJob, ApiLimits limits) {
        Validation v = new Validation();
        v.dnsLabel("cron_job.metadata.name", cronJob.getMetadata().getName());
        // Its Jobs are "<name>-<10 or 8 digits>": Kubernetes limits a CronJob's name to 52 characters for that.
        if (cronJob.getMetadata().getName().length() > 52) {
            v.add("cron_job.metadata.name", "at most 52 characters (its Jobs' names add a time), got "
                    + cronJob.getMetadata().getName().length());
        }
        v.dnsLabel("cron_job.metadata.namespace", cronJob.getMetadata().getNamespace());
        v.labels("cron_job.metadata.labels", cronJob.getMetadata().getLabelsMap(), limits.maxLabels());
        v.annotations("cron_job.metadata.annotations", cronJob.getMetadata().getAnnotationsMap(), limits.maxAnnotationsBytes());
        CronJobSpec spec = cronJob.getSpec();
        if (spec.getSchedule().isEmpty()) {
            v.add("cron_job.spec.schedule", "required");
        } else {
            try {
                CronSchedule.parse(spec.getSchedule(), spec.getTimeZone());
            } catch (CronSchedule.InvalidCronException e) {
                v.add(e.field().equals("time_zone") ? "cron_job.spec.time_zone" : "cron_job.spec.schedule", e.getMessage());
            }
        }
        if (spec.hasStartingDeadlineSeconds() && (spec.getStartingDeadlineSeconds() < 1
                || spec.getStartingDeadlineSeconds() > MAX_STARTING_DEADLINE_SECONDS)) {
            v.add("cron_job.spec.starting_deadline_seconds", "must be 1 to " + MAX_STARTING_DEADLINE_SECONDS + " (1 year), got "
                    + spec.getStartingDeadlineSeconds());
        }
        if (spec.getConcurrencyPolicy() == CronJobSpec.ConcurrencyPolicy.UNRECOGNIZED) {
            v.add("cron_job.spec.concurrency_policy", "must be ALLOW, FORBID or REPLACE");
        }
        if (spec.hasSuccessfulJobsHistoryLimit() && (spec.getSuccessfulJobsHistoryLimit() < 0
                || spec.getSuccessfulJobsHistoryLimit() > MAX_HISTORY_LIMIT)) {
            v.add("cron_job.spec.successful_jobs_history_limit", "must be 0 to " + MAX_HISTORY_LIMIT + ", got "
                    + spec.getSuccessfulJobsHistoryLimit());
        }
        if (spec.hasFailedJobsHistoryLimit() && (spec.getFailedJobsHistoryLimit() < 0 || spec.getFailedJobsHistoryLimit() > MAX_HISTORY_LIMIT)) {
            v.add("cron_job.spec.failed_jobs_history_limit", "must be 0 to " + MAX_HISTORY_LIMIT + ", got " + spec.getFailedJobsHistoryLimit());
        }
        v.labels("cron_job.spec.job_template.labels", spec.getJobTemplate().getLabelsMap(), limits.maxLabels());
        v.annotations("cron_job.spec.job_template.annotations", spec.getJobTemplate().getAnnotationsMap(), limits.maxAnnotationsBytes());
        if (!spec.hasJobTemplate() || !spec.getJobTemplate().hasSpec()) {
            v.add("cron_job.spec.job_template.spec", "required");
        } else {
            JobSpecValidation.validate(v, "cron_job.spec.job_template.spec", spec.getJobTemplate().getSpec(), limits);
            // A node's entry carries the template inline, without the ConfigMaps and Secrets an App's assignment brings along.
            if (spec.getRunOnEdge() && !dev.edgeplane.api.ConfigRefs.of(spec.getJobTemplate().getSpec().getTemplate()).isEmpty()) {
                v.add("cron_job.spec.job_template.spec.template", "a run_on_edge CronJob's pods cannot use ConfigMaps or Secrets yet");
            }
        }
        return v;
    }

    /** run_on_edge: the nodes it selects now must be 1 to max-edge-nodes. */
    private void checkEdgeNodes(CronJob cronJob) {
        if (!cronJob.getSpec().getRunOnEdge()) {
            return;
        }
        int selected = EdgeCronJobTasks.selectedNodes(cronJob, caches.nodes().all().stream().map(Entry::value).toList()).size();
        if (selected == 0) {
            throw Status.FAILED_PRECONDITION.withDescription(describe(cronJob.getMetadata().getNamespace(), cronJob.getMetadata().getName())
                    + " runs on the edge, but cron_job.spec.job_template.spec.node_selector "
                    + cronJob.getSpec().getJobTemplate().getSpec().getNodeSelectorMap() + " selects no node").asRuntimeException();
        }
        if (selected > maxEdgeNodes) {
            throw Validation.exhausted("edgeplane.cronjob.max-edge-nodes", "cron_job.spec.job_template.spec.node_selector selects "
                    + selected + " nodes, over the limit of " + maxEdgeNodes);
        }
    }

    private static CronJob normalise(CronJob cronJob) {
        CronJobSpec.Builder spec = cronJob.getSpec().toBuilder();
        spec.getJobTemplateBuilder().getSpecBuilder().clearEdgeNode();
        return cronJob.toBuilder().setMetadata(cronJob.getMetadata().toBuilder()
                .setNamespace(Calls.orDefault(cronJob.getMetadata().getNamespace()))).setSpec(spec).clearStatus().build();
    }

    /** As stored, with its resource_version and the nodes holding its schedule now. */
    private CronJob shown(Entry<CronJob> entry) {
        CronJob cronJob = entry.value();
        var status = cronJob.getStatus().toBuilder().clearEdgeNodes();
        if (cronJob.getSpec().getRunOnEdge()) {
            caches.assignments().all().stream().map(Entry::value)
                    .filter(a -> a.hasCronJob() && a.getNamespace().equals(cronJob.getMetadata().getNamespace())
                            && a.getCronJob().getName().equals(cronJob.getMetadata().getName()))
                    .map(a -> a.getNode()).sorted().forEach(status::addEdgeNodes);
        }
        return cronJob.toBuilder().setMetadata(cronJob.getMetadata().toBuilder().setResourceVersion(entry.modRevision()))
                .setStatus(status).build();
    }

    @Override
    public void createCronJob(CreateCronJobRequest request, StreamObserver<CronJob> responseObserver) {
        Calls.unary(responseObserver, () -> {
            CronJob cronJob = normalise(request.getCronJob());
            validate(cronJob, limits).throwIfInvalid();
            checkEdgeNodes(cronJob);
            ObjectMeta meta = cronJob.getMetadata().toBuilder().setUid(UUID.randomUUID().toString())
                    .setCreateTime(Joiner.timestamp(Instant.now())).setGeneration(1).setResourceVersion(0).build();
            CronJob stored = cronJob.toBuilder().setMetadata(meta).build();
            String key = Keys.cronJob(meta.getNamespace(), meta.getName());
            TxnResponse response = store.await(store.client().getKVClient().txn()
                    .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.version(0)))
                    .Then(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(stored.toByteArray()), PutOption.DEFAULT)).commit(), "create " + key);
            if (!response.isSucceeded()) {
                throw Calls.exists(describe(meta.getNamespace(), meta.getName()));
            }
            long revision = response.getHeader().getRevision();
            LOG.infof("created %s (\"%s\" in %s%s)", describe(meta.getNamespace(), meta.getName()), stored.getSpec().getSchedule(),
                    CronSchedule.zone(stored.getSpec().getTimeZone()), stored.getSpec().getRunOnEdge() ? ", run on the edge" : "");
            return shown(new Entry<>(key, stored, revision, revision));
        });
    }

    @Override
    public void getCronJob(GetCronJobRequest request, StreamObserver<CronJob> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            Entry<CronJob> entry = store.get(Keys.cronJob(ns, request.getName()), CronJob.parser())
                    .orElseThrow(() -> Calls.notFound(describe(ns, request.getName())));
            return shown(entry);
        });
    }

    @Override
    public void listCronJobs(ListCronJobsRequest request, StreamObserver<ListCronJobsResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String prefix = Keys.CRON_JOBS;
            if (!request.getNamespace().isEmpty()) {
                new Validation().dnsLabel("namespace", request.getNamespace()).throwIfInvalid();
                prefix = Keys.CRON_JOBS + request.getNamespace() + "/";
            }
            Listing.Page<CronJob> page = Listing.list(store, limits, prefix, request.getPageSize(), request.getPageToken(),
                    request.getLabelSelector(), CronJob.parser(), c -> c.getMetadata().getLabelsMap());
            ListCronJobsResponse.Builder response = ListCronJobsResponse.newBuilder().setNextPageToken(page.nextPageToken());
            page.items().forEach(e -> response.addCronJobs(shown(e)));
            return response.build();
        });
    }

    @Override
    public void updateCronJob(UpdateCronJobRequest request, StreamObserver<CronJob> responseObserver) {
        Calls.unary(responseObserver, () -> {
            CronJob cronJob = normalise(request.getCronJob());
            validate(cronJob, limits).throwIfInvalid();
            checkEdgeNodes(cronJob);
            String ns = cronJob.getMetadata().getNamespace();
            String name = cronJob.getMetadata().getName();
            String key = Keys.cronJob(ns, name);
            Entry<CronJob> current = store.get(key, CronJob.parser()).orElseThrow(() -> Calls.notFound(describe(ns, name)));
            long given = cronJob.getMetadata().getResourceVersion();
            if (given != 0 && given != current.modRevision()) {
                throw Calls.stale(describe(ns, name), given, current.modRevision());
            }
            boolean specChanged = !current.value().getSpec().equals(cronJob.getSpec());
            ObjectMeta meta = current.value().getMetadata().toBuilder()
                    .clearLabels().putAllLabels(cronJob.getMetadata().getLabelsMap())
                    .clearAnnotations().putAllAnnotations(cronJob.getMetadata().getAnnotationsMap())
                    .setGeneration(current.value().getMetadata().getGeneration() + (specChanged ? 1 : 0))
                    .setResourceVersion(0).build();
            CronJob stored = current.value().toBuilder().setMetadata(meta).setSpec(cronJob.getSpec()).build(); // status kept: the controller's
            TxnResponse response = store.await(store.client().getKVClient().txn()
                    .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(current.modRevision())))
                    .Then(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(stored.toByteArray()), PutOption.DEFAULT)).commit(), "update " + key);
            if (!response.isSucceeded()) {
                throw given != 0 ? Calls.stale(describe(ns, name), given, -1) : Calls.conflict(describe(ns, name));
            }
            long revision = response.getHeader().getRevision();
            return shown(new Entry<>(key, stored, revision, current.createRevision()));
        });
    }

    @Override
    public void deleteCronJob(DeleteCronJobRequest request, StreamObserver<DeleteResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            String name = request.getName();
            new Validation().dnsLabel("name", name).dnsLabel("namespace", ns).throwIfInvalid();
            String key = Keys.cronJob(ns, name);
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
            LOG.infof("deleted %s (the controller deletes its Jobs and its nodes' entries)", describe(ns, name));
            return DeleteResponse.getDefaultInstance();
        });
    }

    @Override
    public void triggerCronJob(TriggerCronJobRequest request, StreamObserver<Job> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).dnsLabel("job_name", request.getJobName())
                    .throwIfInvalid();
            CronJob cronJob = store.get(Keys.cronJob(ns, request.getName()), CronJob.parser())
                    .orElseThrow(() -> Calls.notFound(describe(ns, request.getName()))).value();
            Instant now = Instant.now();
            Job made = CronJobJobs.fromTemplate(cronJob, request.getJobName(), null, now);
            Job job = made.toBuilder().setMetadata(made.getMetadata().toBuilder()
                    .putAnnotations(CronJobNames.CREATED_BY_ANNOTATION, "manual")).build();
            String key = Keys.job(ns, request.getJobName());
            TxnResponse response = store.await(store.client().getKVClient().txn()
                    .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.version(0)))
                    .Then(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(job.toByteArray()), PutOption.DEFAULT)).commit(), "create " + key);
            if (!response.isSucceeded()) {
                throw Calls.exists("job \"" + ns + "/" + request.getJobName() + "\"");
            }
            LOG.infof("job %s/%s made from %s by hand", ns, request.getJobName(), describe(ns, request.getName()));
            return job.toBuilder().setMetadata(job.getMetadata().toBuilder().setResourceVersion(response.getHeader().getRevision())).build();
        });
    }
}
