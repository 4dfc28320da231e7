package dev.edgeplane.agent.run;

import dev.edgeplane.agent.identity.CertificateRotation;
import dev.edgeplane.api.SwappableKeyManager;
import dev.edgeplane.api.TlsSessionCaches;
import dev.edgeplane.api.SwappableTrustManager;
import dev.edgeplane.agent.events.EventRecorder;
import dev.edgeplane.agent.events.EventSettings;
import dev.edgeplane.agent.events.EventSpool;
import dev.edgeplane.agent.events.EventUploader;
import dev.edgeplane.agent.host.HostInfo;
import dev.edgeplane.agent.host.NodeConditions;
import dev.edgeplane.agent.images.ImageGc;
import dev.edgeplane.agent.images.ImagePrefetcher;
import dev.edgeplane.agent.loop.PassLoop;
import dev.edgeplane.agent.identity.CaPin;
import dev.edgeplane.agent.identity.Pem;
import dev.edgeplane.agent.identity.StateDir;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.journal.JournalStore;
import dev.edgeplane.agent.metrics.AgentStats;
import dev.edgeplane.agent.metrics.MetricsAgent;
import dev.edgeplane.agent.metrics.MetricsSettings;
import dev.edgeplane.agent.pods.Reconciler;
import dev.edgeplane.agent.volumes.PodVolumes;
import dev.edgeplane.agent.volumes.VolumeSnapshotPolicies;
import dev.edgeplane.agent.cronjobs.EdgeCronJobs;
import dev.edgeplane.agent.volumes.StorageProbe;
import dev.edgeplane.agent.volumes.VolumeSnapshots;
import dev.edgeplane.agent.volumes.VolumeTasks;
import dev.edgeplane.agent.volumes.VolumeSettings;
import dev.edgeplane.agent.pods.ReconcilerSettings;
import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.agent.status.StatusManager;
import dev.edgeplane.agent.sync.SyncClient;
import dev.edgeplane.cri.v1.VersionResponse;
import dev.edgeplane.tunnel.audit.AuditLog;
import dev.edgeplane.tunnel.edge.CriContainers;
import dev.edgeplane.tunnel.edge.TunnelAgent;
import dev.edgeplane.tunnel.grant.GrantVerifier;
import dev.edgeplane.tunnel.policy.Allowlist;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.handler.ssl.SslContext;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Logger;
import javax.net.ssl.TrustManagerFactory;

/**
 * `edge-agent run`: boots from the local journal FIRST (the reconciler starts the last desired state
 * before any contact with the cloud), then keeps a Sync stream to the control plane over mutual TLS.
 * {@link #close()} stops the agent; containers keep running, they belong to the node.
 */
public final class Agent implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Agent.class.getName());

    /** Everything `run` can be told. */
    public record Settings(Path stateDir, String criEndpoint, Path logDir, ReconcilerSettings reconciler,
                           Duration heartbeat, Optional<String> syncEndpointOverride, NodeConditions.Thresholds conditions,
                           ImageGc.Settings imageGc, CertificateRotation.Settings certificateRotation, int prefetchPulls) {}

    /** How often image garbage collection looks at the disk (the kubelet's period). */
    static final Duration IMAGE_GC_PERIOD = Duration.ofMinutes(5);

    private final CriRuntime cri;
    private final Reconciler reconciler;
    private final SyncClient sync;
    private TunnelAgent tunnel;
    private PodVolumes volumes;
    private StorageProbe storageProbe;
    private VolumeSnapshots snapshots;
    private VolumeSnapshotPolicies snapshotPolicies;
    private EdgeCronJobs cronJobs;
    private VolumeTasks volumeTasks;
    private ImagePrefetcher prefetcher;
    private EventSpool events;
    private EventUploader eventUploader;
    private MetricsAgent metrics;
    private PassLoop imageGc;
    private CertificateRotation rotation;

    /**
     * The ops tunnel's edge end: what this host allows (the cloud cannot widen it) and where the
     * per-session audit records go besides the log.
     */
    public record TunnelSettings(Allowlist allowlist, int maxSessions, Optional<Path> auditLog) {
        public static TunnelSettings defaults() {
            return new TunnelSettings(Allowlist.logsOnly(), 64, Optional.empty());
        }
    }

    private Agent(CriRuntime cri, Reconciler reconciler, SyncClient sync) {
        this.cri = cri;
        this.reconciler = reconciler;
        this.sync = sync;
    }

    public static Agent start(Settings settings) throws IOException, GeneralSecurityException {
        return start(settings, TunnelSettings.defaults());
    }

    public static Agent start(Settings settings, TunnelSettings tunnelSettings) throws IOException, GeneralSecurityException {
        return start(settings, tunnelSettings, VolumeSettings.defaults(settings.stateDir()));
    }

    public static Agent start(Settings settings, TunnelSettings tunnelSettings, VolumeSettings volumeSettings)
            throws IOException, GeneralSecurityException {
        return start(settings, tunnelSettings, volumeSettings, EventSettings.defaults(settings.stateDir()));
    }

    public static Agent start(Settings settings, TunnelSettings tunnelSettings, VolumeSettings volumeSettings,
                              EventSettings eventSettings) throws IOException, GeneralSecurityException {
        return start(settings, tunnelSettings, volumeSettings, eventSettings, MetricsSettings.defaults(settings.stateDir()));
    }

    public static Agent start(Settings settings, TunnelSettings tunnelSettings, VolumeSettings volumeSettings,
                              EventSettings eventSettings, MetricsSettings metricsSettings) throws IOException, GeneralSecurityException {
        StateDir state = new StateDir(settings.stateDir());
        state.createDir();
        if (state.completeRenewal()) {
            LOG.info("installed the renewed node certificate a restart interrupted");
        }
        Optional<StateDir.NodeRecord> node = state.joined() ? Optional.of(state.readNode()) : Optional.empty();
        if (node.isEmpty()) {
            LOG.warning("not joined (no identity in " + state.path() + "): running the journal only, no sync; run `edge-agent join` first");
        }
        String nodeName = node.map(StateDir.NodeRecord::name).orElse(HostInfo.defaultNodeName());

        // 1. The journal, before anything else.
        DesiredStateStore desired = DesiredStateStore.open(new JournalStore(state.journalDir()));
        StatusManager status = new StatusManager(Clock.systemUTC());
        status.seed(desired.lastKnownPods());
        // Events are spooled on disk from the start: what happens offline is uploaded later.
        EventSpool events = EventSpool.open(eventSettings.spoolDir(), eventSettings.capacity(), Clock.systemUTC());
        desired.loadProblem().ifPresent(problem -> events.warning(EventRecorder.node(nodeName), "JournalCorrupt",
                "the journal could not be read (" + problem + "); resyncing from the control plane"));

        // 2. Workloads from the journal, independent of the cloud.
        CriRuntime cri = CriRuntime.connect(settings.criEndpoint());
        ReconcilerSettings reconcilerSettings = settings.reconciler().withNodeName(nodeName);
        PodVolumes volumes = volumeSettings.open(nodeName);
        volumes.onVolumeReport(status::updateVolume);
        // What storage the driver can serve, for the heartbeats (placement of unbound volumes reads it).
        StorageProbe storageProbe = new StorageProbe(volumes);
        storageProbe.start();
        Reconciler reconciler = new Reconciler(cri, desired, status, reconcilerSettings, Clock.systemUTC(), volumes, events);
        // What the agent's own parts tell its metrics (agent_* series).
        AgentStats agentStats = AgentStats.system();
        reconciler.addReconcileListener(agentStats::reconciled);
        agentStats.queue("status", status::pending);
        agentStats.queue("events", events::size);
        agentStats.droppedObserved("events", events::droppedNotReported);
        // run_on_edge CronJobs fire here from the journal, connected or not; their runs are local pods of the reconciler.
        EdgeCronJobs cronJobs = new EdgeCronJobs(desired, status::updateCronJobRun,
                r -> status.forgetCronJobRun(r.getNamespace(), r.getReplica()), reconciler::trigger, nodeName,
                state.path().resolve("cronjobs"), Clock.systemUTC());
        reconciler.setLocalPods(cronJobs);
        reconciler.start();
        cronJobs.start();
        ImageGc imageGc = new ImageGc(cri, () -> imagesOf(desired), settings.imageGc(), Clock.systemUTC());
        PassLoop imageGcLoop = new PassLoop("image-gc", IMAGE_GC_PERIOD, imageGc::collectOnce);
        imageGcLoop.start();
        // Snapshot tasks of the desired state are taken (and deleted) through the same CSI driver.
        VolumeSnapshots snapshots = new VolumeSnapshots(volumes, desired, status::updateSnapshot, status::forgetSnapshot,
                volumeSettings.volumesDir(), settings.reconciler().syncPeriod());
        snapshots.start();
        // Snapshot policies fire on this node from its journal, connected or not; what they take is reported when connected.
        VolumeSnapshotPolicies snapshotPolicies = new VolumeSnapshotPolicies(volumes, desired, status::updateSnapshot,
                volumeSettings.volumesDir(), Clock.systemUTC());
        snapshotPolicies.start();
        // The control plane's orders about volumes (delete): the only way a volume's data goes.
        VolumeTasks volumeTasks = new VolumeTasks(volumes, desired, status::forgetVolume, settings.reconciler().syncPeriod());
        volumeTasks.start();
        // Images pulled ahead of need (ImagePrefetch), reported like the rest of the node's status.
        ImagePrefetcher prefetcher = new ImagePrefetcher(cri, desired, status::updateImagePull, status::forgetImagePull,
                settings.prefetchPulls(), settings.reconciler().syncPeriod());
        prefetcher.start();
        LOG.info(() -> "agent " + HostInfo.agentVersion() + " for node " + nodeName + ": " + desired.current().assignments().size()
                + " assignments from the journal at revision " + desired.current().revision() + ", CRI " + settings.criEndpoint());

        // 3. Then the cloud.
        SyncClient sync = null;
        SwappableKeyManager identity = null;
        SwappableTrustManager trust = null;
        CertificateRotation rotation = null;
        // The CA keys ops-tunnel grants are verified with: the CA bundle's, reloaded when a renewal changes it.
        AtomicReference<List<java.security.PublicKey>> grantKeys = new AtomicReference<>(List.of());
        if (node.isPresent()) {
            String endpoint = settings.syncEndpointOverride().filter(s -> !s.isBlank())
                    .orElse(node.get().syncEndpoint().isBlank() ? node.get().server() : node.get().syncEndpoint());
            try {
                AtomicReference<String> runtimeVersion = new AtomicReference<>("");
                NodeConditions conditions = new NodeConditions(settings.conditions(), reconciler::runtimeAnswers);
                identity = nodeIdentity(state);
                trust = new SwappableTrustManager(caBundleTrust(state));
                SslContext syncTls = mutualTls(identity, trust);
                sync = new SyncClient(SyncClient.Settings.defaults(endpoint).withHeartbeat(settings.heartbeat()), syncTls,
                        desired, status,
                        () -> HostInfo.describe(runtimeVersion.updateAndGet(v -> v.isEmpty() ? runtimeVersion(cri) : v)).toBuilder()
                                .addAllConditions(conditions.current()).setWorkloadPolicy(reconcilerSettings.policy().toProto()).build(),
                        reconciler::desiredCount, Clock.systemUTC());
                sync.reportStorage(storageProbe::latest);
                SwappableKeyManager presented = identity;
                sync.reportInstalledCertificate(() -> CaPin.hashOf(presented.get().certificate()));
                sync.start();
                LOG.info(() -> "syncing with " + endpoint);
                SwappableTrustManager anchors = trust;
                rotation = new CertificateRotation(state, nodeName, identity, sync.channel(),
                        () -> NettyChannelBuilder.forTarget(endpoint).sslContext(serverAuthenticatedTls(state)).build(),
                        () -> {
                            reloadTrust(state, anchors, grantKeys);
                            // A resumed session would present the old certificate again (see mutualTls).
                            TlsSessionCaches.forget(syncTls.sessionContext());
                        }, settings.certificateRotation(), Clock.systemUTC(),
                        java.util.random.RandomGenerator.getDefault());
                sync.onRenewRequested(rotation::renewSoon);
                rotation.start();
            } catch (IOException | GeneralSecurityException | RuntimeException e) {
                // The workloads from the journal keep running: a broken identity must not stop them.
                LOG.severe("cannot set up sync with " + endpoint + " from the identity in " + state.path() + " (" + e
                        + "); running from the journal only. Join again with `edge-agent join --force`.");
            }
        }
        Agent agent = new Agent(cri, reconciler, sync);
        agent.rotation = rotation;
        agent.imageGc = imageGcLoop;
        agent.volumes = volumes;
        agent.storageProbe = storageProbe;
        agent.snapshots = snapshots;
        agent.snapshotPolicies = snapshotPolicies;
        agent.cronJobs = cronJobs;
        agent.volumeTasks = volumeTasks;
        agent.prefetcher = prefetcher;
        agent.events = events;
        if (sync != null) {
            agent.tunnel = tunnel(state, nodeName, sync, cri, tunnelSettings, grantKeys);
            agent.eventUploader = new EventUploader(sync.channel(), sync::connected, events, eventSettings.uploadInterval());
            agent.eventUploader.start();
            if (metricsSettings.enabled()) {
                sync.onRevisions(agentStats::toldRevision, agentStats::appliedRevision);
                try {
                    agent.metrics = MetricsAgent.start(metricsSettings, state.path(), cri, agentStats, sync.channel(),
                            sync::connected, Clock.systemUTC(), sync::heardFromControlPlane);
                } catch (IOException | RuntimeException e) {
                    // Metrics are not worth stopping workloads or sync for.
                    LOG.severe("metrics disabled: cannot open the metrics ring in " + metricsSettings.ringDir() + " (" + e + ")");
                }
            }
        }
        return agent;
    }

    /** Serves the control plane's OpenTunnel requests, verifying grants with the CA pinned at join. */
    private static TunnelAgent tunnel(StateDir state, String nodeName, SyncClient sync, CriRuntime cri, TunnelSettings settings,
                                      AtomicReference<List<java.security.PublicKey>> grantKeys) {
        try {
            grantKeys.set(caKeys(state));
            TunnelAgent tunnel = new TunnelAgent(sync.channel(), new GrantVerifier(grantKeys::get, nodeName, Clock.systemUTC()),
                    new TunnelAgent.Settings(settings.allowlist(), settings.maxSessions(), Duration.ofSeconds(5)),
                    Optional.of(new CriContainers(cri.channel())), new AuditLog(settings.auditLog()), Clock.systemUTC());
            sync.onOpenTunnel(tunnel::open);
            LOG.info(() -> "ops tunnel: " + settings.allowlist());
            return tunnel;
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            LOG.severe("ops tunnel disabled: cannot read the CA bundle in " + state.path() + " (" + e + ")");
            return null;
        }
    }

    private static String runtimeVersion(CriRuntime cri) {
        try {
            VersionResponse version = cri.version();
            return version.getRuntimeName() + "://" + version.getRuntimeVersion();
        } catch (RuntimeException e) {
            return "";
        }
    }

    /** The node key and certificate; trust = the CA bundle from join, nothing else. */
    public static SslContext mutualTls(StateDir state) throws IOException, GeneralSecurityException {
        return mutualTls(nodeIdentity(state), new SwappableTrustManager(caBundleTrust(state)));
    }

    /**
     * Presents whatever {@code identity} holds and trusts whatever {@code trust} holds at each handshake
     * (both renewed in place). Reconnects resume the TLS session from the control plane's ticket (no
     * signatures on either side), for as long as the ticket lives (two days); a resumed session carries
     * the certificate of the handshake that made it, so a renewal must forget the sessions
     * ({@link TlsSessionCaches#forget}).
     */
    static SslContext mutualTls(SwappableKeyManager identity, SwappableTrustManager trust) throws IOException {
        return GrpcSslContexts.forClient()
                .keyManager(identity.asFactory())
                .trustManager(trust)
                .sessionTimeout(TLS_SESSION_LIFETIME.toSeconds())
                .build();
    }

    /** How long the control plane's TLS tickets live (BoringSSL's TLS 1.3 default); the JDK would forget sessions after one day. */
    public static final java.time.Duration TLS_SESSION_LIFETIME = java.time.Duration.ofDays(2);

    /** After a renewal: the CA bundle it stored becomes the trust anchors of new connections and of ops grants. */
    private static void reloadTrust(StateDir state, SwappableTrustManager trust, AtomicReference<List<java.security.PublicKey>> grantKeys) {
        try {
            trust.set(caBundleTrust(state));
            grantKeys.set(caKeys(state));
        } catch (IOException | GeneralSecurityException e) {
            LOG.severe("cannot reload the CA bundle in " + state.path() + " (" + e + "); keeping the previous one");
        }
    }

    private static List<java.security.PublicKey> caKeys(StateDir state) throws IOException, GeneralSecurityException {
        return Pem.certificates(Files.readString(state.caBundle(), StandardCharsets.US_ASCII)).stream()
                .map(X509Certificate::getPublicKey).toList();
    }

    /** Trust = the CA bundle, no client certificate: for renewing a certificate that expired while offline. */
    static SslContext serverAuthenticatedTls(StateDir state) {
        try {
            return GrpcSslContexts.forClient().trustManager(caBundleTrust(state)).build();
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException("cannot read the CA bundle in " + state.path(), e);
        }
    }

    public static SwappableKeyManager nodeIdentity(StateDir state) throws IOException, GeneralSecurityException {
        PrivateKey key = Pem.privateKey(Files.readString(state.nodeKey(), StandardCharsets.US_ASCII));
        List<X509Certificate> chain = Pem.certificates(Files.readString(state.nodeCertificate(), StandardCharsets.US_ASCII));
        return new SwappableKeyManager(new SwappableKeyManager.Identity(key, chain.toArray(X509Certificate[]::new)));
    }

    private static javax.net.ssl.X509ExtendedTrustManager caBundleTrust(StateDir state) throws IOException, GeneralSecurityException {
        List<X509Certificate> bundle = Pem.certificates(Files.readString(state.caBundle(), StandardCharsets.US_ASCII));
        KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
        trust.load(null, null);
        for (int i = 0; i < bundle.size(); i++) {
            trust.setCertificateEntry("ca-" + i, bundle.get(i));
        }
        TrustManagerFactory trustManagers = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trustManagers.init(trust);
        for (javax.net.ssl.TrustManager manager : trustManagers.getTrustManagers()) {
            if (manager instanceof javax.net.ssl.X509ExtendedTrustManager x509) {
                return x509;
            }
        }
        throw new GeneralSecurityException("the JDK offers no X.509 trust manager");
    }

    /** The images the desired state names (its containers and init containers, its image pull entries): image GC keeps them. */
    static java.util.Set<String> imagesOf(DesiredStateStore desired) {
        java.util.Set<String> images = new java.util.HashSet<>(ImagePrefetcher.images(desired.current()));
        for (dev.edgeplane.api.v1.Assignment a : desired.current().assignments().values()) {
            a.getTemplate().getContainersList().forEach(c -> images.add(c.getImage()));
            a.getTemplate().getInitContainersList().forEach(c -> images.add(c.getImage()));
        }
        // A run_on_edge CronJob's images stay between its runs: the next may fire offline.
        for (dev.edgeplane.api.v1.Assignment a : desired.current().cronJobs().values()) {
            a.getCronJob().getTemplate().getContainersList().forEach(c -> images.add(c.getImage()));
            a.getCronJob().getTemplate().getInitContainersList().forEach(c -> images.add(c.getImage()));
        }
        return images;
    }

    public boolean connected() {
        return sync != null && sync.connected();
    }

    @Override
    public void close() {
        if (metrics != null) {
            metrics.close(); // first: unacked frames go to the ring, the channel is still there to cancel on
        }
        if (tunnel != null) {
            tunnel.close();
        }
        if (eventUploader != null) {
            eventUploader.close();
        }
        if (rotation != null) {
            rotation.close();
        }
        if (sync != null) {
            sync.close();
        }
        if (imageGc != null) {
            imageGc.close(Duration.ofSeconds(5));
        }
        if (cronJobs != null) {
            cronJobs.close(); // before the reconciler: no run starts while it stops
        }
        reconciler.close();
        if (storageProbe != null) {
            storageProbe.close();
        }
        if (snapshots != null) {
            snapshots.close();
        }
        if (snapshotPolicies != null) {
            snapshotPolicies.close();
        }
        if (volumeTasks != null) {
            volumeTasks.close();
        }
        if (prefetcher != null) {
            prefetcher.close();
        }
        if (volumes != null) {
            volumes.close();
        }
        if (events != null) {
            events.close(); // after the reconciler: its last events are written too
        }
        cri.close();
        LOG.info("agent stopped; containers keep running");
    }
}
