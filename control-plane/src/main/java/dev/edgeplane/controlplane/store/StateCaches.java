package dev.edgeplane.controlplane.store;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppRevision;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ConfigMap;
import dev.edgeplane.api.v1.ImagePrefetch;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodePool;
import dev.edgeplane.api.v1.StorageClass;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.RoleBinding;
import dev.edgeplane.api.v1.RolloutStatus;
import dev.edgeplane.api.v1.SealedSecret;
import dev.edgeplane.api.v1.StoredApiToken;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.controlplane.concurrent.AllAtOnce;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;

/** The process's watched prefixes: one etcd watch each, shared by every reader in memory. */
@ApplicationScoped
public class StateCaches {
    private final ScheduledExecutorService retries;
    private final PrefixCache<App> apps;
    private final PrefixCache<Node> nodes;
    private final PrefixCache<Assignment> assignments;
    private final PrefixCache<ReplicaStatus> replicaStatuses;
    private final PrefixCache<Volume> volumes;
    /** Pod templates stored once per App generation, by content hash (Keys.TEMPLATES). */
    private final PrefixCache<PodTemplate> templates;
    private final PrefixCache<RolloutStatus> rollouts;
    private final PrefixCache<AppRevision> revisions;
    private final PrefixCache<ConfigMap> configMaps;
    /** Secrets as stored: sealed. */
    private final PrefixCache<SealedSecret> secrets;
    /** API tokens and role bindings: every call is authenticated and authorised against them, so no etcd read per call. */
    private final PrefixCache<StoredApiToken> apiTokens;
    private final PrefixCache<RoleBinding> roleBindings;
    /** Node pools: the NodePool controller and the pool API's overlap check read them. */
    private final PrefixCache<NodePool> nodePools;
    private final PrefixCache<ImagePrefetch> imagePrefetches;
    private final PrefixCache<dev.edgeplane.api.v1.VolumeSnapshotPolicy> snapshotPolicies;
    /** Autoscalers: the AutoscalerController evaluates them. */
    private final PrefixCache<dev.edgeplane.api.v1.Autoscaler> autoscalers;
    private final PrefixCache<dev.edgeplane.api.v1.Job> jobs;
    private final PrefixCache<dev.edgeplane.api.v1.CronJob> cronJobs;
    /** Storage classes: the scheduler resolves a Volume's class (CSI parameters, backend) for every placement. */
    private final PrefixCache<StorageClass> storageClasses;
    private final PrefixCache<JoinToken> joinTokens;

    public StateCaches(EtcdStore store) {
        this.retries = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "edgeplane-watch-retry");
            t.setDaemon(true);
            return t;
        });
        this.apps = new PrefixCache<>(store, Keys.APPS, b -> EtcdStore.decode(App.parser(), b), retries);
        this.nodes = new PrefixCache<>(store, Keys.NODES, b -> EtcdStore.decode(Node.parser(), b), retries);
        this.assignments = new PrefixCache<>(store, Keys.ASSIGNMENTS, b -> EtcdStore.decode(Assignment.parser(), b), retries);
        this.replicaStatuses = new PrefixCache<>(store, Keys.REPLICA_STATUS, b -> EtcdStore.decode(ReplicaStatus.parser(), b), retries);
        this.volumes = new PrefixCache<>(store, Keys.VOLUMES, b -> EtcdStore.decode(Volume.parser(), b), retries);
        this.templates = new PrefixCache<>(store, Keys.TEMPLATES, b -> EtcdStore.decode(PodTemplate.parser(), b), retries);
        this.rollouts = new PrefixCache<>(store, Keys.ROLLOUTS, b -> EtcdStore.decode(RolloutStatus.parser(), b), retries);
        this.revisions = new PrefixCache<>(store, Keys.REVISIONS, b -> EtcdStore.decode(AppRevision.parser(), b), retries);
        this.configMaps = new PrefixCache<>(store, Keys.CONFIG_MAPS, b -> EtcdStore.decode(ConfigMap.parser(), b), retries);
        this.secrets = new PrefixCache<>(store, Keys.SECRETS, b -> EtcdStore.decode(SealedSecret.parser(), b), retries);
        this.apiTokens = new PrefixCache<>(store, Keys.API_TOKENS, b -> EtcdStore.decode(StoredApiToken.parser(), b), retries);
        this.roleBindings = new PrefixCache<>(store, Keys.ROLE_BINDINGS, b -> EtcdStore.decode(RoleBinding.parser(), b), retries);
        this.nodePools = new PrefixCache<>(store, Keys.NODE_POOLS, b -> EtcdStore.decode(NodePool.parser(), b), retries);
        this.imagePrefetches = new PrefixCache<>(store, Keys.IMAGE_PREFETCHES, b -> EtcdStore.decode(ImagePrefetch.parser(), b), retries);
        this.snapshotPolicies = new PrefixCache<>(store, Keys.VOLUME_SNAPSHOT_POLICIES,
                b -> EtcdStore.decode(dev.edgeplane.api.v1.VolumeSnapshotPolicy.parser(), b), retries);
        this.autoscalers = new PrefixCache<>(store, Keys.AUTOSCALERS,
                b -> EtcdStore.decode(dev.edgeplane.api.v1.Autoscaler.parser(), b), retries);
        this.jobs = new PrefixCache<>(store, Keys.JOBS, b -> EtcdStore.decode(dev.edgeplane.api.v1.Job.parser(), b), retries);
        this.cronJobs = new PrefixCache<>(store, Keys.CRON_JOBS, b -> EtcdStore.decode(dev.edgeplane.api.v1.CronJob.parser(), b), retries);
        this.storageClasses = new PrefixCache<>(store, Keys.STORAGE_CLASSES, b -> EtcdStore.decode(StorageClass.parser(), b), retries);
        this.joinTokens = new PrefixCache<>(store, Keys.JOIN_TOKENS, b -> EtcdStore.decode(JoinToken.parser(), b), retries);
    }

    /**
     * Lists every prefix and starts its watch, all at once: each list is etcd round trips plus
     * decoding, and a restart over a fleet waits for the slowest, not for their sum.
     */
    public void start() {
        AllAtOnce.run("edgeplane-cache-list", all().stream().map(cache -> (Runnable) cache::start).toList());
    }

    public PrefixCache<App> apps() {
        return apps;
    }

    public PrefixCache<Node> nodes() {
        return nodes;
    }

    public PrefixCache<Assignment> assignments() {
        return assignments;
    }

    public PrefixCache<ReplicaStatus> replicaStatuses() {
        return replicaStatuses;
    }

    /** Volumes are few (one per stateful App): the App controller reads those an App names from here. */
    public PrefixCache<Volume> volumes() {
        return volumes;
    }

    public PrefixCache<PodTemplate> templates() {
        return templates;
    }

    /** Each App's newest rollout: the App controller resumes it from here, the API pauses and resumes it. */
    public PrefixCache<RolloutStatus> rollouts() {
        return rollouts;
    }

    /** Each App's template revisions (at most its revision_history_limit + 1). */
    public PrefixCache<AppRevision> revisions() {
        return revisions;
    }

    /** ConfigMaps: the App controller resolves the versions an App uses, the Sync stream their contents. */
    public PrefixCache<ConfigMap> configMaps() {
        return configMaps;
    }

    /** Secrets as etcd holds them (sealed); opened only where a value must leave the control plane. */
    public PrefixCache<SealedSecret> secrets() {
        return secrets;
    }

    public PrefixCache<StoredApiToken> apiTokens() {
        return apiTokens;
    }

    public PrefixCache<RoleBinding> roleBindings() {
        return roleBindings;
    }

    public PrefixCache<NodePool> nodePools() {
        return nodePools;
    }

    /** Image prefetches: the prefetch controller and the agents' progress reports read them here. */
    public PrefixCache<ImagePrefetch> imagePrefetches() {
        return imagePrefetches;
    }

    /** Volume snapshot policies: the SnapshotPolicyController hands them to the nodes. */
    public PrefixCache<dev.edgeplane.api.v1.VolumeSnapshotPolicy> snapshotPolicies() {
        return snapshotPolicies;
    }

    /** Autoscalers: the AutoscalerController evaluates each every sync period. */
    public PrefixCache<dev.edgeplane.api.v1.Autoscaler> autoscalers() {
        return autoscalers;
    }

    /** Jobs: the Job controller reconciles them (their pods are assignments like an App's replicas); the CronJob controller reads their status. */
    public PrefixCache<dev.edgeplane.api.v1.Job> jobs() {
        return jobs;
    }

    /** CronJobs: the CronJobController schedules them. */
    public PrefixCache<dev.edgeplane.api.v1.CronJob> cronJobs() {
        return cronJobs;
    }

    public PrefixCache<StorageClass> storageClasses() {
        return storageClasses;
    }

    /**
     * Join tokens (their use counters are not here: Join reads the one it increments). A join reads its
     * token here, not from etcd: the join's transaction compares the token's revision, so a token just
     * changed or deleted fails it and the retry reads etcd.
     */
    public PrefixCache<JoinToken> joinTokens() {
        return joinTokens;
    }

    private List<PrefixCache<?>> all() {
        return List.of(templates, rollouts, revisions, apps, nodes, assignments, replicaStatuses, volumes, configMaps, secrets, apiTokens,
                roleBindings, nodePools, imagePrefetches, snapshotPolicies, autoscalers, storageClasses, jobs, cronJobs, joinTokens);
    }

    public void close() {
        for (PrefixCache<?> cache : all()) {
            cache.close();
        }
        retries.shutdownNow();
    }
}
