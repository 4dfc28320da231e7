package dev.edgeplane.controlplane;

import dev.edgeplane.controlplane.auth.AccessIndex;
import dev.edgeplane.controlplane.concurrent.AllAtOnce;
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
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
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
        // Each step timed: a restart under a fleet is judged by how soon the agent endpoint listens.
        StartupSteps steps = new StartupSteps();
        steps.run("admin-token", adminTokens::bootstrap);
        steps.run("storage-classes", storageClasses::ensureBuiltIns); // before the caches list them
        // Independent, and each mostly waits on etcd or runs cold code: together, they cost the longest.
        steps.together(List.of(
                new Step("ca", () -> {
                    ca.load();
                    ca.startFollowing();
                }),
                new Step("informers", caches::start)));
        // Reads the event records in the background (the longest listing after a restart under a fleet:
        // 6.8 s of a 19,000-node restart's 9.4 s to the agent endpoint); only reads of events wait for it.
        steps.run("events", events::start);
        steps.run("access", access::start); // API tokens and role bindings: until now only the admin token is accepted
        steps.run("node-objects", nodeObjects::start); // before agents connect: what each node may report events about
        steps.run("assignment-index", index::start);
        steps.run("agent-endpoint", agentEndpoint::start);
        steps.run("tracker", tracker::start);
        steps.run("controllers", () -> {
            pools.start(); // before the App controller starts the leader lock: it listens for the first gain
            prefetches.start(); // like pools: before the App controller starts the leader lock
            snapshotPolicies.start(); // likewise
            jobs.start(); // likewise
            autoscalers.start(); // likewise
            cronJobs.start(); // likewise
            apps.start();
        });
        LOG.infof("Edgeplane control plane started: API port %d (gRPC, plaintext), agent port %d (TLS), etcd %s, admin token file %s, CA %s",
                httpPort, agentEndpoint.port(), store.endpoints(), config.adminTokenFile(), ca.get().hash());
        LOG.infof("start-up steps (ms): %s", steps);
    }

    private record Step(String name, Runnable action) {}

    /** Runs the start-up steps and keeps their durations, in order. */
    private static final class StartupSteps {
        private final StringBuilder done = new StringBuilder();

        void run(String name, Runnable step) {
            long start = System.nanoTime();
            step.run();
            record(name, start);
        }

        /** Runs {@code steps} at once, each on its own thread; the first failure is thrown once all ended. */
        void together(List<Step> steps) {
            long start = System.nanoTime();
            String[] durations = new String[steps.size()];
            AllAtOnce.run("edgeplane-startup", IntStream.range(0, steps.size()).mapToObj(i -> (Runnable) () -> {
                long begun = System.nanoTime();
                steps.get(i).action().run();
                durations[i] = steps.get(i).name() + " " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - begun);
            }).toList());
            record("(" + String.join(" | ", durations) + ")", start);
        }

        private void record(String name, long startNanos) {
            done.append(done.length() == 0 ? "" : ", ").append(name).append(' ')
                    .append(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos));
        }

        @Override
        public String toString() {
            return done.toString();
        }
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
