package dev.edgeplane.cli;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.Node;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** A readable account of one app (with its replicas) or one node: what an operator checks first. */
@Command(name = "describe", description = "Show one app, node, pool, storage class, configmap, secret, volume, volume snapshot policy, image prefetch, job, cron job or autoscaler in detail: edgectl describe app|node|pool|storageclass|configmap|secret|volume|volumesnapshotpolicy|prefetch|job|cronjob|autoscaler NAME")
final class DescribeCommand implements Callable<Integer> {
    @ParentCommand Edgectl root;
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "TYPE", completionCandidates = CompletionCommand.ResourceKinds.class, description = "app, node, pool, storageclass (with the nodes that serve it), configmap, secret (its values are not shown), volume (sizes and resize state), volumesnapshotpolicy (its next slots), prefetch (per-node progress), job (conditions, pods, events) or autoscaler (conditions, scaling history, events)")
    String type;

    @Parameters(index = "1", paramLabel = "NAME")
    String name;

    @Option(names = {"-n", "--namespace"}, defaultValue = "default")
    String namespace;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Instant now = Instant.now();
        try (ApiClient api = root.connect()) {
            switch (ResourceKind.parse(type)) {
                case APP -> {
                    App app = api.apps().getApp(GetAppRequest.newBuilder().setNamespace(namespace).setName(name).build());
                    describe(out, app, now);
                    events(out, api, dev.edgeplane.api.v1.EventFilter.newBuilder().setNamespace(namespace).build(),
                            EventsView.ofApp(name, app.getStatus().getReplicasList().stream().map(r -> r.getName())
                                    .collect(java.util.stream.Collectors.toSet())), now);
                }
                case NODE -> {
                    describe(out, api.nodes().getNode(GetNodeRequest.newBuilder().setName(name).build()), now);
                    // Everything that happened on the node: its own events and its replicas'.
                    events(out, api, dev.edgeplane.api.v1.EventFilter.newBuilder().setNode(name).build(), e -> true, now);
                }
                case POOL -> NodePools.describe(api, out, name, now);
                case STORAGECLASS -> StorageClasses.describe(api, out, name, now);
                case CONFIGMAP -> Configs.describe(out, api.configMaps().getConfigMap(dev.edgeplane.api.v1.GetConfigMapRequest.newBuilder()
                        .setNamespace(namespace).setName(name).build()), now);
                case SECRET -> Configs.describe(out, api.secrets().getSecret(dev.edgeplane.api.v1.GetSecretRequest.newBuilder()
                        .setNamespace(namespace).setName(name).build()), now);
                case IMAGEPREFETCH -> Prefetches.describe(out, Prefetches.get(api, namespace, name), now);
                case VOLUME -> {
                    Volumes.describe(out, api.volumes().getVolume(dev.edgeplane.api.v1.GetVolumeRequest.newBuilder()
                            .setNamespace(namespace).setName(name).build()), now);
                    events(out, api, dev.edgeplane.api.v1.EventFilter.newBuilder().setNamespace(namespace).build(),
                            e -> e.getInvolvedObject().getKind().equals("Volume") && e.getInvolvedObject().getName().equals(name), now);
                }
                case VOLUMESNAPSHOTPOLICY -> SnapshotPolicies.describe(out, SnapshotPolicies.get(api, namespace, name), now);
                case CRONJOB -> {
                    CronJobs.describe(out, CronJobs.get(api, namespace, name), now);
                    events(out, api, dev.edgeplane.api.v1.EventFilter.newBuilder().setNamespace(namespace).build(),
                            e -> e.getInvolvedObject().getKind().equals("CronJob") && e.getInvolvedObject().getName().equals(name), now);
                }
                case JOB -> {
                    dev.edgeplane.api.v1.Job job = Jobs.get(api, namespace, name);
                    Jobs.describe(out, job, now);
                    java.util.Set<String> pods = job.getStatus().getPodsList().stream().map(p -> p.getName())
                            .collect(java.util.stream.Collectors.toSet());
                    events(out, api, dev.edgeplane.api.v1.EventFilter.newBuilder().setNamespace(namespace).build(),
                            e -> e.getInvolvedObject().getKind().equals("Job") && e.getInvolvedObject().getName().equals(name)
                                    || e.getInvolvedObject().getKind().equals("Replica") && pods.contains(e.getInvolvedObject().getName()), now);
                }
                case AUTOSCALER -> {
                    Autoscalers.describe(out, Autoscalers.get(api, namespace, name), now);
                    events(out, api, dev.edgeplane.api.v1.EventFilter.newBuilder().setNamespace(namespace).build(),
                            e -> e.getInvolvedObject().getKind().equals("Autoscaler") && e.getInvolvedObject().getName().equals(name), now);
                }
                case TOKEN, EVENT, VOLUMESNAPSHOT, QUOTA -> throw new UsageException("describe supports apps, nodes, pools, storageclasses, configmaps, secrets, "
                        + "volumes, prefetches, volumesnapshotpolicies, jobs and autoscalers (use: edgectl get token|volumesnapshot|quota NAME -o yaml, edgectl get events)");
            }
        }
        out.flush();
        return 0;
    }

    private static void describe(PrintWriter out, App app, Instant now) {
        var m = app.getMetadata();
        var s = app.getStatus();
        out.println("Name:        " + m.getName());
        out.println("Namespace:   " + m.getNamespace());
        out.println("Labels:      " + m.getLabelsMap());
        out.println("Created:     " + Durations.age(m.getCreateTime(), now) + " ago (generation "
                + m.getGeneration() + ", observed " + s.getObservedGeneration() + ")");
        out.println("Mode:        " + app.getSpec().getMode().name().replace("MODE_UNSPECIFIED", "REPLICATED"));
        out.println("Replicas:    " + s.getDesiredReplicas() + " desired, " + s.getReadyReplicas() + " ready, "
                + s.getAvailableReplicas() + " available");
        if (!s.getMessage().isEmpty()) {
            out.println("Scheduling:  " + s.getMessage());
        }
        if (app.getSpec().getPoolsCount() > 0) {
            out.println("Pools:" + (app.getSpec().getStrategy().getPoolByPool() ? "       (rolled out pool by pool, in this order)" : ""));
            Output.table(out, List.of("  POOL", "DESIRED", "READY", "UPDATED", "AVAILABLE"), s.getPoolsList().stream()
                    .map(p -> List.of("  " + p.getName(), Integer.toString(p.getDesiredReplicas()), Integer.toString(p.getReadyReplicas()),
                            Integer.toString(p.getUpdatedReplicas()), Integer.toString(p.getAvailableReplicas()))).toList());
        }
        for (var c : app.getSpec().getTemplate().getContainersList()) {
            out.println("Container:   " + c.getName() + "  " + c.getImage() + "  "
                    + String.join(" ", c.getCommandList()) + " " + String.join(" ", c.getArgsList()));
            probe(out, "Liveness", c.hasLivenessProbe(), c.getLivenessProbe());
            probe(out, "Readiness", c.hasReadinessProbe(), c.getReadinessProbe());
            probe(out, "Startup", c.hasStartupProbe(), c.getStartupProbe());
        }
        out.println();
        Output.table(out, List.of("REPLICA", "NODE", "PHASE", "READY", "RESTARTS", "LAST-EXIT", "UPDATED", "MESSAGE"),
                s.getReplicasList().stream().map(r -> List.of(r.getName(), r.getNode(),
                        r.getPhase().name(), ready(r, now), Integer.toString(r.getRestartCount()),
                        Integer.toString(r.getLastExitCode()), Durations.age(r.getUpdateTime(), now),
                        message(r))).toList());
    }

    /** "true (2m)": the Ready condition and how long it has held. */
    private static String ready(dev.edgeplane.api.v1.ReplicaStatus r, Instant now) {
        return r.getReady() + (r.hasReadyTransitionTime() ? " (" + Durations.age(r.getReadyTransitionTime(), now) + ")" : "");
    }

    /** The replica's message, else its containers' failing probes. */
    private static String message(dev.edgeplane.api.v1.ReplicaStatus r) {
        if (!r.getMessage().isEmpty()) {
            return r.getMessage();
        }
        return String.join("; ", r.getContainersList().stream().filter(c -> !c.getProbeFailure().isEmpty())
                .map(c -> c.getName() + ": " + c.getProbeFailure()).toList());
    }

    /** One line per probe, as kubectl describe prints them: "Liveness: http-get :8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3". */
    private static void probe(PrintWriter out, String kind, boolean set, dev.edgeplane.api.v1.Probe p) {
        if (!set) {
            return;
        }
        String handler = switch (p.getHandlerCase()) {
            case HTTP_GET -> "http-get " + (p.getHttpGet().getScheme() == dev.edgeplane.api.v1.HTTPGetAction.Scheme.HTTPS ? "https" : "http")
                    + "://" + (p.getHttpGet().getHost().isEmpty() ? "" : p.getHttpGet().getHost()) + ":" + p.getHttpGet().getPort()
                    + (p.getHttpGet().getPath().isEmpty() ? "/" : p.getHttpGet().getPath());
            case TCP_SOCKET -> "tcp-socket :" + p.getTcpSocket().getPort();
            case EXEC -> "exec " + p.getExec().getCommandList();
            case GRPC -> "grpc :" + p.getGrpc().getPort() + (p.getGrpc().getService().isEmpty() ? "" : " " + p.getGrpc().getService());
            case HANDLER_NOT_SET -> "(no handler)";
        };
        out.println("  " + kind + ": " + handler + " delay=" + p.getInitialDelaySeconds() + "s timeout="
                + orDefault(p.getTimeoutSeconds(), 1) + "s period=" + orDefault(p.getPeriodSeconds(), 10) + "s #success="
                + orDefault(p.getSuccessThreshold(), 1) + " #failure=" + orDefault(p.getFailureThreshold(), 3));
    }

    private static int orDefault(int value, int fallback) {
        return value <= 0 ? fallback : value;
    }

    /** The most recent events, newest first; a failing event call must not hide the rest of describe. */
    private static void events(PrintWriter out, ApiClient api, dev.edgeplane.api.v1.EventFilter filter,
                               java.util.function.Predicate<dev.edgeplane.api.v1.Event> keep, Instant now) {
        out.println();
        List<dev.edgeplane.api.v1.Event> events;
        try {
            events = EventsView.list(api, filter, keep);
        } catch (io.grpc.StatusRuntimeException e) {
            out.println("Events:      (unavailable: " + e.getStatus().getCode() + ")");
            return;
        }
        if (events.isEmpty()) {
            out.println("Events:      <none>");
            return;
        }
        out.println("Events:");
        EventsView.table(out, events.subList(0, Math.min(events.size(), RECENT_EVENTS)), now);
    }

    private static final int RECENT_EVENTS = 20;

    private static void describe(PrintWriter out, Node node, Instant now) {
        var s = node.getStatus();
        out.println("Name:        " + node.getMetadata().getName());
        out.println("Labels:      " + node.getMetadata().getLabelsMap());
        out.println("Pool:        " + (node.getStatus().getPool().isEmpty()
                ? node.getMetadata().getLabelsOrDefault(NodePools.POOL_LABEL, "<none>") : node.getStatus().getPool()));
        out.println("Phase:       " + s.getPhase() + (s.getMessage().isEmpty() ? "" : " (" + s.getMessage() + ")"));
        out.println("Heartbeat:   " + Durations.age(s.getLastHeartbeat(), now) + " ago");
        out.println("Conditions:  " + (s.getConditionsCount() == 0 ? "<none>" : String.join("; ", s.getConditionsList().stream()
                .map(c -> c.getType() + " (" + Durations.age(c.getLastTransitionTime(), now) + "): " + c.getMessage()).toList())));
        out.println("Replicas:    " + s.getRunningReplicas() + " running of " + s.getDesiredReplicas());
        out.println("Applied:     revision " + s.getAppliedRevision());
        out.println("Host:        " + s.getHostname() + "  " + s.getOs() + "/" + s.getArch() + "  kernel "
                + s.getKernelVersion());
        out.println("Capacity:    " + s.getCapacity().getCpuMillis() + "m cpu, "
                + s.getCapacity().getMemoryBytes() / (1 << 20) + " MiB memory");
        out.println("Agent:       " + s.getAgentVersion() + ", runtime " + s.getContainerRuntimeVersion());
        out.println("Storage:     " + (!s.hasStorage() ? "<not reported>" : s.getStorage().getBackendsCount() == 0 ? "<none>"
                : String.join("; ", s.getStorage().getBackendsList().stream().map(b -> b.getName() + " (" + String.join(",", b.getFsTypesList())
                        + "): " + (b.getFreeBytes() >> 20) + " MiB free of " + (b.getTotalBytes() >> 20)).toList())));
        out.println("Scheduling:  " + (node.getSpec().getDrained() ? "drained"
                : node.getSpec().getUnschedulable() ? "cordoned" : "enabled")
                + (node.getSpec().getAutonomyDisabled() ? ", autonomy off" : ", autonomy on"));
        out.println("Taints:      " + node.getSpec().getTaintsList().stream()
                .map(t -> t.getKey() + "=" + t.getValue() + ":" + t.getEffect()).toList());
    }

}
