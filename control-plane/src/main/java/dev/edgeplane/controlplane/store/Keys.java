package dev.edgeplane.controlplane.store;

/** The etcd key layout: every resource is one key, {@code /edgeplane/<kind>/[<namespace>/]<name>}. */
public final class Keys {
    public static final String ROOT = "/edgeplane/";
    public static final String APPS = ROOT + "apps/";
    public static final String NODES = ROOT + "nodes/";
    public static final String JOIN_TOKENS = ROOT + "jointokens/";
    /** A join token's use counters (join.TokenUses), apart from the token: /edgeplane/jointoken-uses/&lt;id&gt;/&lt;shard&gt;. */
    public static final String JOIN_TOKEN_USES = ROOT + "jointoken-uses/";
    public static final String ASSIGNMENTS = ROOT + "assignments/";
    public static final String REPLICA_STATUS = ROOT + "replicastatus/";
    public static final String VOLUMES = ROOT + "volumes/";
    /** Pod templates stored once per App generation: /edgeplane/templates/&lt;namespace&gt;/&lt;app&gt;/&lt;hash&gt;. */
    public static final String TEMPLATES = ROOT + "templates/";
    /** The newest rollout of an App (RolloutStatus), kept by the App controller: /edgeplane/rollouts/&lt;namespace&gt;/&lt;app&gt;. */
    public static final String ROLLOUTS = ROOT + "rollouts/";
    /** An App's template revisions (AppRevision): /edgeplane/revisions/&lt;namespace&gt;/&lt;app&gt;/&lt;revision, 12 digits&gt;. */
    public static final String REVISIONS = ROOT + "revisions/";
    /** ConfigMaps: /edgeplane/configmaps/&lt;namespace&gt;/&lt;name&gt;. */
    public static final String CONFIG_MAPS = ROOT + "configmaps/";
    /** Secrets, sealed (SealedSecret): /edgeplane/secrets/&lt;namespace&gt;/&lt;name&gt;. */
    public static final String SECRETS = ROOT + "secrets/";
    public static final String VOLUME_SNAPSHOTS = ROOT + "volumesnapshots/";
    /** Volume snapshot policies: /edgeplane/volumesnapshotpolicies/&lt;namespace&gt;/&lt;name&gt;. */
    public static final String VOLUME_SNAPSHOT_POLICIES = ROOT + "volumesnapshotpolicies/";
    /** Image prefetches: /edgeplane/imageprefetches/&lt;namespace&gt;/&lt;name&gt;. */
    public static final String IMAGE_PREFETCHES = ROOT + "imageprefetches/";
    /** Autoscalers: /edgeplane/autoscalers/&lt;namespace&gt;/&lt;name&gt;. */
    public static final String AUTOSCALERS = ROOT + "autoscalers/";
    /**
     * Which Autoscaler targets an App (its name as the value): /edgeplane/autoscaler-targets/&lt;namespace&gt;/&lt;app&gt;,
     * written in the Autoscaler's own transaction, so two on one App cannot both be created.
     */
    public static final String AUTOSCALER_TARGETS = ROOT + "autoscaler-targets/";
    /** CronJobs: /edgeplane/cronjobs/&lt;namespace&gt;/&lt;name&gt;. */
    public static final String CRON_JOBS = "/edgeplane/cronjobs/";
    /** Namespace quotas: /edgeplane/quotas/&lt;namespace&gt;/&lt;name&gt;. */
    public static final String QUOTAS = ROOT + "quotas/";
    /** Events, each under a lease: /edgeplane/events/&lt;namespace, "-" for cluster-scoped objects&gt;/&lt;name&gt;. */
    public static final String EVENTS = ROOT + "events/";
    /** Audit records of mutating API calls, under a lease: /edgeplane/audit/&lt;epoch millis&gt;-&lt;random&gt;. */
    public static final String AUDIT = ROOT + "audit/";
    /** Named API tokens (StoredApiToken: metadata and the secret's sha256): /edgeplane/apitokens/&lt;name&gt;. */
    public static final String API_TOKENS = ROOT + "apitokens/";
    /** Role bindings (cluster-scoped objects): /edgeplane/rolebindings/&lt;name&gt;. */
    public static final String ROLE_BINDINGS = ROOT + "rolebindings/";
    /** Node pools (sites; cluster-scoped): /edgeplane/nodepools/&lt;name&gt;. */
    public static final String NODE_POOLS = ROOT + "nodepools/";
    public static final String STORAGE_CLASSES = ROOT + "storageclasses/";
    /** Jobs (issue 15): /edgeplane/jobs/&lt;namespace&gt;/&lt;name&gt;. Their pods are assignments with app "job.&lt;name&gt;". */
    public static final String JOBS = "/edgeplane/jobs/";
    public static final String CA = ROOT + "ca";
    /** The other CA of a CA rollover, with its phase (absent: no rollover). */
    public static final String CA_ROLLOVER = ROOT + "ca-rollover";
    /** The secret the agent endpoints derive their TLS session ticket keys from (32 bytes, made once). */
    public static final String SESSION_TICKET_SECRET = ROOT + "tls/session-ticket-secret";
    public static final String ADMIN_TOKEN_HASH = ROOT + "auth/admin-token-sha256";
    public static final String SCHEDULER_LEADER = ROOT + "leader/scheduler";

    private Keys() {}

    public static String app(String namespace, String name) {
        return APPS + namespace + "/" + name;
    }

    public static String rollout(String namespace, String app) {
        return ROLLOUTS + namespace + "/" + app;
    }

    /** Zero-padded, so the keys of an App's revisions list in revision order. */
    public static String revision(String namespace, String app, long revision) {
        return revisionsOf(namespace, app) + String.format("%012d", revision);
    }

    public static String revisionsOf(String namespace, String app) {
        return REVISIONS + namespace + "/" + app + "/";
    }

    public static String autoscaler(String namespace, String name) {
        return AUTOSCALERS + namespace + "/" + name;
    }

    public static String autoscalerTarget(String namespace, String app) {
        return AUTOSCALER_TARGETS + namespace + "/" + app;
    }

    public static String volume(String namespace, String name) {
        return VOLUMES + namespace + "/" + name;
    }

    public static String configMap(String namespace, String name) {
        return CONFIG_MAPS + namespace + "/" + name;
    }

    public static String secret(String namespace, String name) {
        return SECRETS + namespace + "/" + name;
    }

    public static String quota(String namespace, String name) {
        return QUOTAS + namespace + "/" + name;
    }

    public static String volumeSnapshot(String namespace, String name) {
        return VOLUME_SNAPSHOTS + namespace + "/" + name;
    }

    public static String volumeSnapshotPolicy(String namespace, String name) {
        return VOLUME_SNAPSHOT_POLICIES + namespace + "/" + name;
    }

    public static String job(String namespace, String name) {
        return JOBS + namespace + "/" + name;
    }

    public static String imagePrefetch(String namespace, String name) {
        return IMAGE_PREFETCHES + namespace + "/" + name;
    }

    public static String cronJob(String namespace, String name) {
        return CRON_JOBS + namespace + "/" + name;
    }

    public static String event(String namespace, String name) {
        return EVENTS + (namespace.isEmpty() ? "-" : namespace) + "/" + name;
    }

    public static String apiToken(String name) {
        return API_TOKENS + name;
    }

    public static String roleBinding(String name) {
        return ROLE_BINDINGS + name;
    }

    public static String nodePool(String name) {
        return NODE_POOLS + name;
    }

    public static String storageClass(String name) {
        return STORAGE_CLASSES + name;
    }

    public static String node(String name) {
        return NODES + name;
    }

    public static String joinToken(String id) {
        return JOIN_TOKENS + id;
    }

    public static String joinTokenUses(String id) {
        return JOIN_TOKEN_USES + id + "/";
    }

    public static String assignment(String node, String namespace, String replica) {
        return ASSIGNMENTS + node + "/" + namespace + "/" + replica;
    }

    public static String assignmentsOf(String node) {
        return ASSIGNMENTS + node + "/";
    }

    /** A pod template by its content hash (TemplateHashes), value: the PodTemplate. */
    public static String template(String namespace, String app, String hash) {
        return TEMPLATES + namespace + "/" + app + "/" + hash;
    }

    public static String templatesOf(String namespace, String app) {
        return TEMPLATES + namespace + "/" + app + "/";
    }

    public static String replicaStatus(String namespace, String replica) {
        return REPLICA_STATUS + namespace + "/" + replica;
    }

    /** The key with {@code prefix} removed (the caller knows the key starts with it). */
    public static String suffix(String key, String prefix) {
        return key.substring(prefix.length());
    }
}
