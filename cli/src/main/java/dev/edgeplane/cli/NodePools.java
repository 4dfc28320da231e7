package dev.edgeplane.cli;

import dev.edgeplane.api.v1.CreateNodePoolRequest;
import dev.edgeplane.api.v1.DeleteNodePoolRequest;
import dev.edgeplane.api.v1.GetNodePoolRequest;
import dev.edgeplane.api.v1.ListNodePoolsRequest;
import dev.edgeplane.api.v1.ListNodePoolsResponse;
import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.ListNodesResponse;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodePool;
import dev.edgeplane.api.v1.Taint;
import dev.edgeplane.api.v1.UpdateNodePoolRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** edgectl's NodePool view: get (members, labels and taints it puts), describe (its members' state), apply, delete. */
final class NodePools {
    static final List<String> HEADER = List.of("NAME", "NODES", "READY", "LABELS", "TAINTS", "AGE");
    /** The label a pool puts on its members (and a join token with --pool). */
    static final String POOL_LABEL = "edgeplane.dev/pool";
    private static final int SUMMARY_CHARS = 48;

    private NodePools() {}

    static void print(ApiClient api, PrintWriter out, Output.Format format, String name, String selector, Instant now) {
        List<NodePool> items = new ArrayList<>();
        if (name != null) {
            items.add(api.nodePools().getNodePool(GetNodePoolRequest.newBuilder().setName(name).build()));
        } else {
            String page = "";
            do {
                ListNodePoolsResponse r = api.nodePools().listNodePools(ListNodePoolsRequest.newBuilder()
                        .setLabelSelector(selector).setPageToken(page).build());
                items.addAll(r.getNodePoolsList());
                page = r.getNextPageToken();
            } while (!page.isEmpty());
        }
        Output.print(out, format, items, HEADER, m -> row((NodePool) m, now));
    }

    static List<String> row(NodePool pool, Instant now) {
        return List.of(pool.getMetadata().getName(), Integer.toString(pool.getStatus().getNodeCount()),
                Integer.toString(pool.getStatus().getReadyNodes()), summary(labels(pool.getSpec().getLabelsMap())),
                summary(taints(pool.getSpec().getTaintsList())), Durations.age(pool.getMetadata().getCreateTime(), now));
    }

    static String labels(Map<String, String> labels) {
        List<String> parts = new ArrayList<>();
        new TreeMap<>(labels).forEach((k, v) -> parts.add(k + "=" + v));
        return String.join(",", parts);
    }

    /** kubectl's form: key=value:Effect. */
    static String taints(List<Taint> taints) {
        return String.join(",", taints.stream().map(t -> t.getKey() + (t.getValue().isEmpty() ? "" : "=" + t.getValue()) + ":" + effect(t.getEffect())).toList());
    }

    /** Kubernetes' spelling of an effect. */
    static String effect(Taint.Effect effect) {
        return switch (effect) {
            case NO_SCHEDULE -> "NoSchedule";
            case PREFER_NO_SCHEDULE -> "PreferNoSchedule";
            case NO_EXECUTE -> "NoExecute";
            default -> effect.name();
        };
    }

    private static String summary(String text) {
        if (text.isEmpty()) {
            return "-";
        }
        return text.length() <= SUMMARY_CHARS ? text : text.substring(0, SUMMARY_CHARS - 3) + "...";
    }

    /** The pool, then its members as the nodes list shows them (found by the label the pool puts on them). */
    static void describe(ApiClient api, PrintWriter out, String name, Instant now) {
        NodePool pool = api.nodePools().getNodePool(GetNodePoolRequest.newBuilder().setName(name).build());
        var spec = pool.getSpec();
        out.println("Name:          " + pool.getMetadata().getName());
        out.println("Description:   " + (spec.getDescription().isEmpty() ? "<none>" : spec.getDescription()));
        out.println("Created:       " + Durations.age(pool.getMetadata().getCreateTime(), now) + " ago (generation "
                + pool.getMetadata().getGeneration() + ")");
        out.println("Node selector: " + (spec.getNodeSelectorCount() == 0 ? "<none>" : labels(spec.getNodeSelectorMap())));
        out.println("Listed nodes:  " + (spec.getNodesCount() == 0 ? "<none>" : String.join(",", spec.getNodesList())));
        out.println("Puts labels:   " + labels(withPoolLabel(spec.getLabelsMap(), name)));
        out.println("Puts taints:   " + (spec.getTaintsCount() == 0 ? "<none>" : taints(spec.getTaintsList())));
        out.println("Members:       " + pool.getStatus().getNodeCount() + " (" + pool.getStatus().getReadyNodes() + " ready)");
        out.println();
        List<Node> members = new ArrayList<>();
        String page = "";
        do {
            ListNodesResponse r = api.nodes().listNodes(ListNodesRequest.newBuilder()
                    .setLabelSelector(POOL_LABEL + "=" + name).setPageToken(page).build());
            members.addAll(r.getNodesList());
            page = r.getNextPageToken();
        } while (!page.isEmpty());
        if (members.isEmpty()) {
            out.println("Nodes:         <none>");
        } else {
            Output.table(out, List.of("NODE", "PHASE", "REPLICAS", "HEARTBEAT"), members.stream().map(n -> List.of(
                    n.getMetadata().getName(), n.getStatus().getPhase().name().replace("PHASE_UNSPECIFIED", "UNKNOWN"),
                    n.getStatus().getRunningReplicas() + "/" + n.getStatus().getDesiredReplicas(),
                    Durations.age(n.getStatus().getLastHeartbeat(), now))).toList());
        }
        out.flush();
    }

    private static Map<String, String> withPoolLabel(Map<String, String> labels, String pool) {
        Map<String, String> all = new TreeMap<>(labels);
        all.put(POOL_LABEL, pool);
        return all;
    }

    /** Create if absent, else update labels and spec from the current resource_version. */
    static String apply(ApiClient api, NodePool pool) {
        String id = "pool/" + pool.getMetadata().getName();
        NodePool current;
        try {
            current = api.nodePools().getNodePool(GetNodePoolRequest.newBuilder().setName(pool.getMetadata().getName()).build());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
            api.nodePools().createNodePool(CreateNodePoolRequest.newBuilder().setNodePool(pool).build());
            return id + " created";
        }
        if (current.getSpec().equals(pool.getSpec()) && current.getMetadata().getLabelsMap().equals(pool.getMetadata().getLabelsMap())) {
            return id + " unchanged";
        }
        api.nodePools().updateNodePool(UpdateNodePoolRequest.newBuilder().setNodePool(pool.toBuilder().setMetadata(pool.getMetadata().toBuilder()
                .setResourceVersion(current.getMetadata().getResourceVersion()))).build());
        return id + " configured";
    }

    static void delete(ApiClient api, String name) {
        api.nodePools().deleteNodePool(DeleteNodePoolRequest.newBuilder().setName(name).build());
    }
}
