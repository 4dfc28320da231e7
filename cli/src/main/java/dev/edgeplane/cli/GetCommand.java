package dev.edgeplane.cli;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.GetJoinTokenRequest;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.ListAppsRequest;
import dev.edgeplane.api.v1.ListAppsResponse;
import dev.edgeplane.api.v1.ListJoinTokensRequest;
import dev.edgeplane.api.v1.ListJoinTokensResponse;
import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.ListNodesResponse;
import dev.edgeplane.api.v1.Node;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "get", description = "List resources, or show one: edgectl get apps|nodes|pools|tokens|volumes|volumesnapshots|volumesnapshotpolicies|storageclasses|quotas|configmaps|secrets|prefetches|jobs|cronjobs|autoscalers [NAME]; "
        + "edgectl get events [-n NS] [--for KIND/NAME] [--node N] [-w]")
final class GetCommand implements Callable<Integer> {
    @ParentCommand Edgectl root;
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "TYPE", completionCandidates = CompletionCommand.ResourceKinds.class, description = "apps, nodes, pools, tokens, events, volumes, volumesnapshots, volumesnapshotpolicies, storageclasses, quotas, configmaps, secrets, prefetches, jobs, cronjobs or autoscalers")
    String type;

    @Parameters(index = "1", arity = "0..1", paramLabel = "NAME")
    String name;

    @Option(names = {"-n", "--namespace"}, description = "Namespace of apps (default: all for a "
            + "list, \"default\" for one app).")
    String namespace;

    @Option(names = {"-l", "--selector"}, description = "Label selector, e.g. tier=web,!canary")
    String selector = "";

    @Option(names = {"-o", "--output"}, description = "table (default), wide (apps: UPDATED, AVAILABLE and POOLS too; nodes: HOSTNAME, KERNEL-VERSION, "
            + "CONTAINER-RUNTIME and LABELS too), json or yaml")
    Output.Format format = Output.Format.table;

    @Option(names = "--for", paramLabel = "KIND/NAME", description = "Events of one object: app/NAME (with its replicas), replica/NAME, node/NAME, volume/NAME.")
    String forObject;

    @Option(names = "--node", paramLabel = "NODE", description = "Events that happened on this node.")
    String node;

    @Option(names = {"-w", "--watch"}, description = "After the current state, print what changes: events and apps as "
            + "the control plane streams them, other kinds by asking every --watch-interval. Ctrl-C ends it.")
    boolean watch;

    @Option(names = "--watch-interval", paramLabel = "DURATION", description = "How often -w asks for kinds the API does "
            + "not stream (default 2s, 1s to 5m).")
    String watchInterval = "2s";

    @Override
    public Integer call() throws Exception {
        var out = spec.commandLine().getOut();
        Instant now = Instant.now();
        ResourceKind kind = ResourceKind.parse(type);
        if (kind != ResourceKind.EVENT && (forObject != null || node != null)) {
            throw new UsageException("--for and --node are for events");
        }
        try (ApiClient api = root.connect()) {
            if (watch && kind == ResourceKind.APP && selector.isEmpty()) {
                return WatchView.apps(api, out, namespace, name, format);
            }
            if (watch && kind != ResourceKind.EVENT) {
                return WatchView.poll(out, format, WatchView.interval(watchInterval), (o, t) -> print(api, kind, o, t));
            }
            print(api, kind, out, now);
        }
        return 0;
    }

    private void print(ApiClient api, ResourceKind kind, java.io.PrintWriter out, Instant now) {
        { // a block, so the per-kind switch keeps its indentation
            switch (kind) {
                case EVENT -> events(api, out, now);
                case VOLUME -> Volumes.printVolumes(api, out, format, namespace, name, selector, now);
                case VOLUMESNAPSHOT -> Volumes.printSnapshots(api, out, format, namespace, name, now);
                case VOLUMESNAPSHOTPOLICY -> SnapshotPolicies.print(api, out, format, namespace, name, selector, now);
                case CRONJOB -> CronJobs.print(api, out, format, namespace, name, selector, now);
                case QUOTA -> Quotas.print(api, out, format, namespace, name, selector);
                case POOL -> NodePools.print(api, out, format, name, selector, now);
                case STORAGECLASS -> StorageClasses.print(api, out, format, name, selector, now);
                case CONFIGMAP -> Configs.printConfigMaps(api, out, format, namespace, name, selector, now);
                case SECRET -> Configs.printSecrets(api, out, format, namespace, name, selector, now);
                case IMAGEPREFETCH -> Prefetches.print(api, out, format, namespace, name, selector, now);
                case JOB -> Jobs.print(api, out, format, namespace, name, selector, now);
                case AUTOSCALER -> Autoscalers.print(api, out, format, namespace, name, selector, now);
                case APP -> {
                    List<App> apps = apps(api);
                    boolean wide = format == Output.Format.wide;
                    Output.print(out, format, apps, AppRows.header(wide, apps), m -> AppRows.row((App) m, wide, apps, now));
                }
                case NODE -> Output.print(out, format, nodes(api), format == Output.Format.wide ? NODE_WIDE_HEADER : NODE_HEADER,
                        m -> format == Output.Format.wide ? nodeWideRow((Node) m, now) : nodeRow((Node) m, now));
                case TOKEN -> Output.print(out, format, tokens(api),
                        List.of("NAME", "USES", "EXPIRES", "DESCRIPTION"), m -> {
                            JoinToken t = (JoinToken) m;
                            return List.of(t.getMetadata().getName(),
                                    t.getStatus().getUses() + "/" + t.getSpec().getMaxUses(),
                                    Instant.ofEpochSecond(t.getStatus().getExpireTime().getSeconds()).toString(),
                                    t.getSpec().getDescription());
                        });
            }
        }
    }

    /** Newest first; --for app/NAME also takes the events of the app's replicas. */
    private void events(ApiClient api, java.io.PrintWriter out, Instant now) {
        if (name != null) {
            throw new UsageException("events have no names to ask for: use --for KIND/NAME or --node");
        }
        var filter = dev.edgeplane.api.v1.EventFilter.newBuilder().setNamespace(namespace == null ? "" : namespace)
                .setNode(node == null ? "" : node);
        java.util.function.Predicate<dev.edgeplane.api.v1.Event> keep = e -> true;
        if (forObject != null) {
            EventsView.ForObject target = EventsView.ForObject.parse(forObject);
            if (target.kind().equals("App")) {
                String ns = namespace == null ? "default" : namespace;
                App app = api.apps().getApp(GetAppRequest.newBuilder().setNamespace(ns).setName(target.name()).build());
                filter.setNamespace(ns);
                keep = EventsView.ofApp(target.name(), app.getStatus().getReplicasList().stream()
                        .map(r -> r.getName()).collect(java.util.stream.Collectors.toSet()));
            } else {
                filter.setKind(target.kind()).setName(target.name());
            }
        }
        if (watch) {
            EventsView.watch(api, filter.build(), keep, format, out);
            return;
        }
        List<dev.edgeplane.api.v1.Event> events = EventsView.list(api, filter.build(), keep);
        if (format.isTable()) {
            EventsView.table(out, events, now);
        } else {
            Output.print(out, format, events, EventsView.HEADER, m -> EventsView.row((dev.edgeplane.api.v1.Event) m, now));
        }
    }

    private List<App> apps(ApiClient api) {
        if (name != null) {
            String ns = namespace == null ? "default" : namespace;
            return List.of(api.apps().getApp(
                    GetAppRequest.newBuilder().setNamespace(ns).setName(name).build()));
        }
        List<App> all = new ArrayList<>();
        String page = "";
        do {
            ListAppsResponse r = api.apps().listApps(ListAppsRequest.newBuilder()
                    .setNamespace(namespace == null ? "" : namespace).setLabelSelector(selector)
                    .setPageToken(page).build());
            all.addAll(r.getAppsList());
            page = r.getNextPageToken();
        } while (!page.isEmpty());
        return all;
    }

    private List<Node> nodes(ApiClient api) {
        if (name != null) {
            return List.of(api.nodes().getNode(GetNodeRequest.newBuilder().setName(name).build()));
        }
        List<Node> all = new ArrayList<>();
        String page = "";
        do {
            ListNodesResponse r = api.nodes().listNodes(ListNodesRequest.newBuilder()
                    .setLabelSelector(selector).setPageToken(page).build());
            all.addAll(r.getNodesList());
            page = r.getNextPageToken();
        } while (!page.isEmpty());
        return all;
    }

    private List<JoinToken> tokens(ApiClient api) {
        if (name != null) {
            return List.of(api.tokens().getJoinToken(
                    GetJoinTokenRequest.newBuilder().setName(name).build()));
        }
        List<JoinToken> all = new ArrayList<>();
        String page = "";
        do {
            ListJoinTokensResponse r = api.tokens().listJoinTokens(ListJoinTokensRequest.newBuilder()
                    .setLabelSelector(selector).setPageToken(page).build());
            all.addAll(r.getTokensList());
            page = r.getNextPageToken();
        } while (!page.isEmpty());
        return all;
    }

    static final List<String> NODE_HEADER = List.of("NAME", "PHASE", "POOL", "REPLICAS", "VERSION", "OS/ARCH", "HEARTBEAT", "AGE");

    static final List<String> NODE_WIDE_HEADER = List.of("NAME", "PHASE", "POOL", "REPLICAS", "VERSION", "OS/ARCH", "HEARTBEAT", "AGE",
            "HOSTNAME", "KERNEL-VERSION", "CONTAINER-RUNTIME", "LABELS");

    /** -o wide: what kubectl's wide node columns have a counterpart for (the API has no node addresses), and the labels. */
    static List<String> nodeWideRow(Node n, Instant now) {
        var s = n.getStatus();
        List<String> row = new ArrayList<>(nodeRow(n, now));
        row.add(orDash(s.getHostname()));
        row.add(orDash(s.getKernelVersion()));
        row.add(orDash(s.getContainerRuntimeVersion()));
        row.add(orDash(NodePools.labels(n.getMetadata().getLabelsMap())));
        return row;
    }

    private static String orDash(String s) {
        return s.isEmpty() ? "-" : s;
    }

    static List<String> nodeRow(Node n, Instant now) {
        var s = n.getStatus();
        String phase = s.getPhase().name().replace("PHASE_UNSPECIFIED", "UNKNOWN")
                + (n.getSpec().getUnschedulable() ? ",SCHEDULING-DISABLED" : "");
        // status.pool from a control plane that fills it, else the label itself (an older one).
        String pool = !s.getPool().isEmpty() ? s.getPool() : n.getMetadata().getLabelsOrDefault(NodePools.POOL_LABEL, "");
        return List.of(n.getMetadata().getName(), phase, pool.isEmpty() ? "-" : pool,
                s.getRunningReplicas() + "/" + s.getDesiredReplicas(), s.getAgentVersion(),
                s.getOs() + "/" + s.getArch(), Durations.age(s.getLastHeartbeat(), now),
                Durations.age(n.getMetadata().getCreateTime(), now));
    }
}
