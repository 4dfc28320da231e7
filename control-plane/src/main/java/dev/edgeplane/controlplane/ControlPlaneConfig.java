package dev.edgeplane.controlplane;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

/** Everything under {@code edgeplane.*}; each is also settable by env (EDGEPLANE_ETCD_ENDPOINTS, ...). */
@ConfigMapping(prefix = "edgeplane")
public interface ControlPlaneConfig {
    Etcd etcd();

    /** Where the admin token is written once, at first start (mode 0600). */
    @WithDefault("/var/lib/edgeplane/admin-token")
    String adminTokenFile();

    Agent agent();

    Node node();

    Event event();

    Limits limits();

    Scheduler scheduler();

    Job job();
    Autoscaler autoscaler();

    Fanout fanout();

    Audit audit();

    interface Audit {
        /** How long an audit record of a mutating API call is kept in etcd (EDGEPLANE_AUDIT_RETENTION). */
        @WithDefault("168h")
        Duration retention();

        /** Records waiting for their etcd write; past it a record is only logged (and counted). */
        @WithDefault("10000")
        int maxPending();
    }

    Secrets secrets();

    Oidc oidc();

    /**
     * OIDC bearer JWTs as a second way in (control-plane README "Identities and roles"); off while
     * issuer is unset. Only RS256/ES256 signatures from the issuer's keys are accepted.
     */
    interface Oidc {
        /** The exact "iss" expected; also where /.well-known/openid-configuration is read (EDGEPLANE_OIDC_ISSUER). */
        Optional<String> issuer();

        /** An "aud" the token must carry; required when issuer is set. */
        Optional<String> audience();

        /** A JWK set file to verify with instead of the issuer's jwks_uri (air-gapped sites). */
        Optional<String> jwksFile();

        @WithDefault("sub")
        String usernameClaim();

        @WithDefault("groups")
        String groupsClaim();

        /** How long fetched keys are used before they are fetched again (a token with an unknown kid refetches sooner, rate-limited). */
        @WithDefault("5m")
        Duration jwksRefresh();
    }

    interface Etcd {
        @WithDefault("http://127.0.0.1:2379")
        List<String> endpoints();

        // With https:// endpoints the client verifies etcd against ca-file and presents cert-file/key-file
        // (etcd's --client-cert-auth); store/EtcdTls checks the combination at startup (control-plane
        // README "etcd over TLS").

        /** PEM CA certificate(s) that signed etcd's server certificates; required with https (EDGEPLANE_ETCD_CA_FILE). */
        Optional<String> caFile();

        /** PEM client certificate (chain) presented to etcd (EDGEPLANE_ETCD_CERT_FILE); needs key-file. */
        Optional<String> certFile();

        /** PEM private key of cert-file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), unencrypted (EDGEPLANE_ETCD_KEY_FILE). */
        Optional<String> keyFile();
    }

    interface Agent {
        @WithDefault("7443")
        int port();

        @WithDefault("0.0.0.0")
        String host();

        /** host:port agents dial; its host goes into the server certificate's SANs. */
        @WithDefault("127.0.0.1:7443")
        String advertise();

        /** TLS handshakes in progress at once on the agent endpoint; further connections wait (unread) at accept. */
        @WithDefault("32")
        int maxConcurrentHandshakes();

        /** Connections waiting, unread, for a handshake slot; while it is full (or slow) the endpoint stops accepting. */
        @WithDefault("1000")
        int maxWaitingHandshakes();

        /** A connection that waited longer for its handshake slot is closed instead (its client would time out). */
        @WithDefault("5s")
        Duration maxHandshakeWait();

        /**
         * The listen backlog (capped by net.core.somaxconn): connections the kernel holds while accepting is
         * paused. Linux also answers SYNs with syncookies once this many are half-open, and a cookie's
         * connection that finds the accept queue full is dropped after the client believes it connected
         * (its TLS handshake then times out): in a pair of 19,000-agent resumes, 128 made 12,299 cookies
         * and 4,774 client handshake timeouts, 1,024 made 2,676 and 2,541 (control-plane/README.md,
         * "Syncookies"). About 2 s of handshakes at the rate a resume runs, so the queue and the
         * waiting room stay within the client's 10 s.
         */
        @WithDefault("1024")
        int acceptBacklog();

        /** Agent connections held at once; unset: the process's limit on open files less 512 for everything else. */
        OptionalInt maxConnections();

        /** The most Sync opens (admitted, Hello not yet served) in flight; the actual limit adapts below it. */
        @WithDefault("1024")
        int maxSyncOpensInFlight();

        /** A Sync open served slower than this shrinks the admission limit; faster ones grow it. */
        @WithDefault("500ms")
        Duration syncOpenTargetLatency();

        /** The longest retry delay told to a refused agent (RetryInfo). */
        @WithDefault("30s")
        Duration maxRetryDelay();

        /** Threads running the agent endpoint's calls (they may wait on etcd). */
        @WithDefault("32")
        int callThreads();

        /** Tasks waiting for those threads past which new calls are refused with RESOURCE_EXHAUSTED. */
        @WithDefault("2000")
        int maxQueuedTasks();

        /** The largest message an agent may send (status reports, metrics and event batches are far below it). */
        @WithDefault("4194304")
        int maxInboundMessageBytes();

        /** Joins per second the agent endpoint serves in all (twice as many at once); past it a join is told when to retry. */
        @WithDefault("500")
        double joinRate();

        /**
         * Refused joins (bad token, name taken, invalid request) per second one address may make, 20 at
         * once; past it every join from that address waits. Token guessing and join floods stay cheap.
         */
        @WithDefault("1")
        double joinFailuresPerAddress();

        /** Sync streams one node may open per minute (10 at once); a node reconnecting in a loop is told when to retry. */
        @WithDefault("20")
        int syncOpensPerNodePerMinute();

        /** How long the agent endpoint's server certificate is valid; it is reissued (in place) at two thirds of it. */
        @WithDefault("365d")
        Duration serverCertificateValidity();

        /** TLS implementation of the agent endpoint: auto (OpenSSL/BoringSSL when available, else the JDK), openssl or jdk. */
        @WithDefault("auto")
        String tlsProvider();

        /**
         * How often the agent endpoint's TLS session ticket key changes (OpenSSL only). The keys derive
         * from a secret in etcd, so a restarted or other control-plane process resumes agents' sessions;
         * keys stay usable for the two days a ticket lives.
         */
        @WithDefault("24h")
        Duration sessionTicketRotation();

        /**
         * The agent endpoint pings a connection it has heard nothing on for this long (an unanswered ping
         * ends it 10 s later: a silently dead link, e.g. a host that lost power, frees its node's stream).
         * Past the agents' 60 s heartbeat, so a live idle agent is never pinged: idle traffic stays one
         * heartbeat a minute.
         */
        @WithDefault("90s")
        Duration keepaliveTime();

        /** How often the nodes' resume cursors are written to etcd (one write for all, only if changed); 0: never. */
        @WithDefault("30s")
        Duration cursorCheckpointInterval();
    }

    interface Node {
        /** How long a node certificate (from Join or a renewal) is valid; agents renew at 70-90% of it. */
        @WithDefault("365d")
        Duration certificateValidity();

        /**
         * How long after its certificate expired an agent that was offline may still renew it by proving
         * its key (no new join token needed). Past it the node must be reset and joined again.
         */
        @WithDefault("365d")
        Duration offlineGrace();

        /** A node whose Sync stream has been gone this long becomes UNREACHABLE. */
        @WithDefault("40s")
        Duration unreachableAfter();

        /**
         * Node and replica status changes wait this long at most before they are written, together, as
         * grouped transactions (heartbeats are never written: they stay in memory). A replica status
         * reaching an idle writer (nothing waiting, nothing in flight) is written at once.
         */
        @WithDefault("100ms")
        Duration statusFlushInterval();

        /** Status keys per transaction (each node's put also carries its mod_revision guard: etcd allows 128 ops). */
        @WithDefault("64")
        int statusWritesPerTxn();

        /** Status transactions in flight at once. */
        @WithDefault("4")
        int statusTxnsInFlight();

        /** Replica status changes waiting to be written (one per replica: later ones replace earlier ones). */
        @WithDefault("200000")
        int statusQueueCapacity();

        /** How long a report waits for room in a full status queue (backpressure) before its new entries are refused and counted. */
        @WithDefault("1s")
        Duration statusQueueWait();
    }

    interface Event {
        /** How long an event is kept after its last occurrence (etcd lease; EDGEPLANE_EVENT_TTL). */
        @WithDefault("1h")
        Duration ttl();

        /** Repeats of one event are coalesced in memory this long before one etcd write. */
        @WithDefault("1s")
        Duration writeInterval();

        /**
         * At most this many event records are written per interval (in transactions of 100, all in
         * flight together); the rest wait, still coalescing. A fleet-wide rollout makes a record per node.
         */
        @WithDefault("2000")
        int maxWritesPerInterval();

        /**
         * Records waiting for their write at most: past it, occurrences that would start new records are
         * refused (an agent's report with RESOURCE_EXHAUSTED, to be re-sent; the control plane's own are
         * dropped and counted in the log), while repeats of waiting records still fold.
         */
        @WithDefault("100000")
        int maxPending();
    }

    /**
     * Admission: what one public API request may ask for (README "Limits and admission"). Over a
     * count or length: INVALID_ARGUMENT naming the field and the limit; over a size: RESOURCE_EXHAUSTED.
     */
    interface Limits {
        /** Replicas of one REPLICATED App. Each replica is an assignment and a status key in etcd and
         *  a placement in one reconcile: 10,000 is more than a site-sized fleet needs and keeps one App's
         *  writes to ~80 transactions; a bigger number is far more likely a typo than a plan. */
        @WithDefault("10000")
        int maxReplicas();

        /** The pod template's serialized size; it is stored once per App generation and sent to every node. */
        @WithDefault("262144")
        int maxTemplateBytes();

        /** Containers in one pod template. */
        @WithDefault("32")
        int maxContainers();

        /** Entries of any list in a request: env, command, args, ports, volumes, mounts, tolerations, taints. */
        @WithDefault("256")
        int maxListItems();

        /** Bytes of one free-form string: an env value, a command or args entry, an image, a working dir. */
        @WithDefault("16384")
        int maxStringBytes();

        /** Entries of one label map (labels, node_selector, template labels, node labels). */
        @WithDefault("64")
        int maxLabels();

        /** All annotations of one object, keys and values (Kubernetes allows 256 KiB; ours ride with the App). */
        @WithDefault("65536")
        int maxAnnotationsBytes();

        /** List page size when a request asks for none. */
        @WithDefault("100")
        int defaultPageSize();

        /** Largest list page; a bigger page_size is served this many (AIP-158 coerces, it does not refuse). */
        @WithDefault("1000")
        int maxPageSize();

        /** Length of a label_selector. */
        @WithDefault("4096")
        int maxLabelSelectorBytes();

        /** Public API unary calls in progress at once; over it: RESOURCE_EXHAUSTED with a retry hint. */
        @WithDefault("256")
        int maxConcurrentCalls();

        /** Public API streams open at once (WatchApps, WatchEvents, Logs, Exec, PortForward, Ssh): each holds
         *  a sender, a backlog and a socket while it lasts. Over it: RESOURCE_EXHAUSTED naming it. */
        @WithDefault("1024")
        int maxStreams();

        /** Of those, open at once by one caller (one bearer token), so one client cannot take them all. */
        @WithDefault("128")
        int maxStreamsPerCaller();

        /** Series names in one QueryMetrics/ListSeries request. */
        @WithDefault("64")
        int maxMetricsQueryNames();

        /** Label matchers in one QueryMetrics/ListSeries request. */
        @WithDefault("32")
        int maxMetricsQueryMatchers();

        /** Bytes of one matcher's regular expression (bounds its compile). */
        @WithDefault("1024")
        int maxMetricsRegexBytes();

        /** Characters all of one query's regexes may read while matching (java.util.regex backtracks:
         *  (.*a){12}b is exponential); past it: RESOURCE_EXHAUSTED naming this. */
        @WithDefault("50000000")
        long maxMetricsRegexSteps();

        /** Series one QueryMetrics may match (each is sorted and may be read); past it: RESOURCE_EXHAUSTED. */
        @WithDefault("100000")
        int maxMetricsQuerySeries();

        /** Points one QueryMetrics may return (~20 bytes each on the wire); past it: RESOURCE_EXHAUSTED. */
        @WithDefault("1000000")
        int maxMetricsQueryPoints();
    }

    /** Autoscalers (docs/autoscaling.md): edgeplane.autoscaler.*. */
    interface Autoscaler {
        /** Each Autoscaler is evaluated this often (the HPA's --horizontal-pod-autoscaler-sync-period). */
        @WithDefault("15s")
        Duration syncPeriod();

        /** A usage this close to the target (as a ratio) changes nothing (HPA's tolerance). */
        @WithDefault("0.1")
        double tolerance();

        /**
         * A replica's metrics count only when the newest point of each of its containers is at most this
         * old; older is no metrics. Above the agents' upload period (--metrics-flush, 60 s by default) plus
         * their sampling interval (10 s), or metrics would look missing just before every upload.
         */
        @WithDefault("2m")
        Duration metricsMaxAge();
    }

    /** The App controller (placement): edgeplane.scheduler.*. */
    /** The Job controller: edgeplane.job.*. */
    interface Job {
        /** Back-off before a failed pod's replacement: this, doubled per failure, at most {@link #backoffMax} (Kubernetes: 10 s to 6 min). */
        @WithDefault("10s")
        Duration backoffBase();

        @WithDefault("6m")
        Duration backoffMax();

        /** Pods counted, given up, created or removed in one reconcile (one guarded transaction: etcd takes 128 operations). */
        @WithDefault("50")
        int maxPodChangesPerReconcile();
    }

    interface Scheduler {
        /** Workers reconciling Apps in parallel (never two on one App). */
        @WithDefault("3")
        int workers();

        /** Apps waiting in the queue at most (keys are de-duplicated; past it a wake is dropped and counted). */
        @WithDefault("100000")
        int queueCapacity();

        /** Replicas newly placed (or moved) per App per reconcile; the rest after the other Apps waiting. */
        @WithDefault("1000")
        int maxPlacementsPerReconcile();

        /**
         * Assignment writes per App per reconcile while other Apps wait for a worker; also the size of the
         * chunks a larger plan is committed in, so another App's writes wait behind one chunk at most.
         */
        @WithDefault("2000")
        int maxWritesPerReconcile();

        /**
         * Assignment writes per App per reconcile when no other App waits for a worker: an image change of
         * a 10,000-node EVERY_NODE App is planned once and written in one go (in chunks of
         * {@link #maxWritesPerReconcile}), instead of re-planned O(replicas) per 2,000 writes, each time
         * after waiting to see its own writes. Never less than {@link #maxWritesPerReconcile}.
         */
        @WithDefault("20000")
        int maxWritesPerReconcileAlone();

        /** etcd transactions in flight per plan being written. */
        @WithDefault("4")
        int writesInFlight();

        /**
         * Node changes wake the Apps they concern at most once per this window: a fleet reconnecting
         * after a restart turns thousands of phase changes into one plan a window for each EVERY_NODE
         * App (each plan costs O(nodes)), not one per node. App and assignment changes are not delayed.
         */
        @WithDefault("1s")
        Duration nodeChangeBatch();

        /**
         * Node changes, and replica status changes of an App whose rollout is under way, wake the App at
         * most once per this many times its last plan took (at least {@link #nodeChangeBatch}, at most
         * {@link #maxWakeBatch}): each plan costs O(the App's replicas), so a 10,000-replica App whose
         * agents report in (or reconnect) does not keep a worker busy re-planning it; such wakes cost
         * at most about 1/(1 + this) of one worker per App. 0: every node-change-batch.
         */
        @WithDefault("4")
        int wakeBatchCostMultiple();

        /** The longest a node or replica status change waits to wake its App (see {@link #wakeBatchCostMultiple}). */
        @WithDefault("5s")
        Duration maxWakeBatch();

        /**
         * Also copy the pod template into every assignment, for agents older than templates by hash. Off:
         * agents resolve Assignment.template_hash from the templates their Sync stream carries.
         */
        @WithDefault("false")
        boolean inlineTemplates();
    }

    /** Writing to agents' Sync streams and API watches: flow-controlled, bounded per stream. */
    interface Fanout {
        /** Threads that write Sync streams (and, apart, as many for API watches); never the etcd client's. */
        @WithDefault("2")
        int sendThreads();

        /** Changed keys a Sync stream that is not ready may hold (latest per key); past it the agent gets one Snapshot. */
        @WithDefault("1000")
        int syncBacklogKeys();

        /** Bytes of changes a Sync stream that is not ready may hold; past it the agent gets one Snapshot. */
        @WithDefault("4194304")
        long syncBacklogBytes();

        /** Changed objects a WatchApps/WatchEvents stream that is not ready may hold; past it the watch ends (RESOURCE_EXHAUSTED). */
        @WithDefault("1000")
        int watchBacklog();

        /** A Sync stream must send its Hello within this; else it is closed (DEADLINE_EXCEEDED) and its admission slot freed. */
        @WithDefault("10s")
        Duration helloTimeout();

        /** A template the informer has not seen yet is read from etcd within this. */
        @WithDefault("2s")
        Duration templateReadTimeout();
    }

    /**
     * Secret encryption at rest (control-plane README "Secrets and key rotation"): key-encryption keys,
     * one per line {@code <id>:<base64 of 32 bytes>}, the first the primary. Neither set: Secret calls
     * fail with FAILED_PRECONDITION, everything else works.
     */
    interface Secrets {
        /** A file of key lines (mode 0600); EDGEPLANE_SECRETS_KEY_FILE. */
        Optional<String> keyFile();

        /** The same lines inline, separated by ';' or newlines (for tests and containers); EDGEPLANE_SECRETS_KEYS. */
        Optional<String> keys();

        /** Secrets re-sealed per second at most after a rotation (each is one etcd write). */
        @WithDefault("50")
        int resealPerSecond();
    }
}
