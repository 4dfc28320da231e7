package dev.edgeplane.controlplane;

import dev.edgeplane.controlplane.auth.AccessIndex;
import dev.edgeplane.controlplane.auth.AdminTokens;
import dev.edgeplane.controlplane.controllers.app.AppController;
import dev.edgeplane.controlplane.controllers.nodepool.NodePoolController;
import dev.edgeplane.controlplane.controllers.prefetch.ImagePrefetchController;
import dev.edgeplane.controlplane.events.EventStore;
import dev.edgeplane.controlplane.join.ClusterCa;
import dev.edgeplane.controlplane.nodes.NodeTracker;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.sync.AgentEndpoint;
import dev.edgeplane.controlplane.sync.AssignmentIndex;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/** Starts the parts in dependency order at startup and stops them in reverse at shutdown. */
@ApplicationScoped
public class ControlPlane {
    private static final Logger LOG = Logger.getLogger(ControlPlane.class);

    private final ControlPlaneConfig config;
    private final EtcdStore store;
    private final StateCaches caches;
    private final ClusterCa ca;
    private final AdminTokens adminTokens;
    private final AccessIndex access;
    private final AssignmentIndex index;
    private final NodeTracker tracker;
    private final AppController apps;
    private final NodePoolController pools;
    private final ImagePrefetchController prefetches;
    private final dev.edgeplane.controlplane.controllers.snapshotpolicy.SnapshotPolicyController snapshotPolicies;
    private final dev.edgeplane.controlplane.controllers.job.JobController jobs;
    private final dev.edgeplane.controlplane.controllers.autoscaler.AutoscalerController autoscalers;
    private final dev.edgeplane.controlplane.controllers.cronjob.CronJobController cronJobs;
    private final AgentEndpoint agentEndpoint;
    private final EventStore events;
    private final dev.edgeplane.controlplane.events.NodeObjects nodeObjects;
    private final int httpPort;
    private final dev.edgeplane.controlplane.volumes.StorageClasses storageClasses;

    public ControlPlane(ControlPlaneConfig config, EtcdStore store, StateCaches caches, ClusterCa ca,
                        AdminTokens adminTokens, AssignmentIndex index, NodeTracker tracker,
                        AppController apps, NodePoolController pools, AgentEndpoint agentEndpoint, EventStore events, AccessIndex access,
                        dev.edgeplane.controlplane.events.NodeObjects nodeObjects, ImagePrefetchController prefetches,
                        dev.edgeplane.controlplane.controllers.snapshotpolicy.SnapshotPolicyController snapshotPolicies,
                        dev.edgeplane.controlplane.volumes.StorageClasses storageClasses,
                        dev.edgeplane.controlplane.controllers.job.JobController jobs,
                        dev.edgeplane.controlplane.controllers.autoscaler.AutoscalerController autoscalers,
                        dev.edgeplane.controlplane.controllers.cronjob.CronJobController cronJobs,
                        @ConfigProperty(name = "quarkus.http.port", defaultValue = "8080") int httpPort) {
        this.storageClasses = storageClasses;
        this.config = config;
        this.store = store;
        this.caches = caches;
        this.ca = ca;
        this.adminTokens = adminTokens;
        this.access = access;
        this.index = index;
        this.tracker = tracker;
        this.apps = apps;
        this.pools = pools;
        this.agentEndpoint = agentEndpoint;
        this.events = events;
        this.nodeObjects = nodeObjects;
        this.prefetches = prefetches;
        this.snapshotPolicies = snapshotPolicies;
        this.jobs = jobs;
        this.autoscalers = autoscalers;
        this.cronJobs = cronJobs;
        this.httpPort = httpPort;
    }

    void onStart(@Observes StartupEvent event) {
        ca.load();
        ca.startFollowing();
        adminTokens.bootstrap();
        storageClasses.ensureBuiltIns(); // before the caches list them
        caches.start();
        access.start(); // API tokens and role bindings: until now only the admin token is accepted
        events.start();
        nodeObjects.start(); // before agents connect: what each node may report events about
        index.start();
        agentEndpoint.start();
        tracker.start();
        pools.start(); // before the App controller starts the leader lock: it listens for the first gain
        prefetches.start(); // like pools: before the App controller starts the leader lock
        snapshotPolicies.start(); // likewise
        jobs.start(); // likewise
        autoscalers.start(); // likewise
        cronJobs.start(); // likewise
        apps.start();
        LOG.infof("Edgeplane control plane started: API port %d (gRPC, plaintext), agent port %d (TLS), etcd %s, admin token file %s, CA %s",
                httpPort, agentEndpoint.port(), store.endpoints(), config.adminTokenFile(), ca.get().hash());
    }

    void onStop(@Observes ShutdownEvent event) {
        LOG.info("stopping the control plane");
        prefetches.stop();
        snapshotPolicies.stop();
        jobs.stop();
        autoscalers.stop();
        cronJobs.stop();
        apps.stop();
        pools.stop();
        agentEndpoint.stop();
        tracker.stop();
        events.stop(); // after everything that records events
        caches.close();
    }
}
