package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.v1.DeleteNodeRequest;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.ListNodesResponse;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeServiceGrpc;
import dev.edgeplane.api.v1.UpdateNodeRequest;
import dev.edgeplane.controlplane.events.EventRecorder;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.nodes.NodeLiveness;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.time.Instant;
import java.util.OptionalLong;
import org.jboss.logging.Logger;

/** NodeService: Nodes are created by Join; the API reads them, edits labels/spec, and forgets them. */
@GrpcService
@Blocking
public class NodeApi extends NodeServiceGrpc.NodeServiceImplBase {
    private static final Logger LOG = Logger.getLogger(NodeApi.class);

    private final EtcdStore store;
    private final ApiLimits limits;
    private final NodeLiveness liveness;
    private final EventRecorder events;

    public NodeApi(EtcdStore store, dev.edgeplane.controlplane.ControlPlaneConfig config, NodeLiveness liveness, EventRecorder events) {
        this.events = events;
        this.store = store;
        this.limits = ApiLimits.of(config.limits());
        this.liveness = liveness;
    }

    /** What etcd holds, with this process's live values (last heartbeat, replica counts, applied revision) laid over it. */
    private Node live(Entry<Node> entry) {
        return withPool(liveness.overlay(withVersion(entry)));
    }

    /** status.pool: read from the node's label edgeplane.dev/pool (its join token's, an operator's or its pool's), never stored. */
    static Node withPool(Node node) {
        String pool = node.getMetadata().getLabelsOrDefault(Joiner.POOL_LABEL, "");
        return pool.isEmpty() ? node : node.toBuilder().setStatus(node.getStatus().toBuilder().setPool(pool)).build();
    }

    private static String describe(String name) {
        return "node \"" + name + "\"";
    }

    static Node withVersion(Entry<Node> entry) {
        return entry.value().toBuilder()
                .setMetadata(entry.value().getMetadata().toBuilder().setResourceVersion(entry.modRevision()))
                .build();
    }

    @Override
    public void getNode(GetNodeRequest request, StreamObserver<Node> responseObserver) {
        Calls.unary(responseObserver, () -> {
            new Validation().dnsLabel("name", request.getName()).throwIfInvalid();
            return live(store.get(Keys.node(request.getName()), Node.parser())
                    .orElseThrow(() -> Calls.notFound(describe(request.getName()))));
        });
    }

    @Override
    public void listNodes(ListNodesRequest request, StreamObserver<ListNodesResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Listing.Page<Node> page = Listing.list(store, limits, Keys.NODES, request.getPageSize(), request.getPageToken(),
                    request.getLabelSelector(), Node.parser(), n -> n.getMetadata().getLabelsMap());
            ListNodesResponse.Builder response = ListNodesResponse.newBuilder().setNextPageToken(page.nextPageToken());
            page.items().forEach(e -> response.addNodes(live(e)));
            return response.build();
        });
    }

    @Override
    public void updateNode(UpdateNodeRequest request, StreamObserver<Node> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Node node = request.getNode();
            String name = node.getMetadata().getName();
            Validation v = new Validation().dnsLabel("node.metadata.name", name)
                    .labels("node.metadata.labels", node.getMetadata().getLabelsMap(), limits.maxLabels())
                    .annotations("node.metadata.annotations", node.getMetadata().getAnnotationsMap(), limits.maxAnnotationsBytes())
                    .atMost("node.spec.taints", node.getSpec().getTaintsCount(), limits.maxListItems(), "max-list-items");
            for (int i = 0; i < Math.min(node.getSpec().getTaintsCount(), limits.maxListItems()); i++) {
                v.taint("node.spec.taints[" + i + "]", node.getSpec().getTaints(i));
            }
            v.throwIfInvalid();
            String key = Keys.node(name);
            long given = node.getMetadata().getResourceVersion();
            // Unconditional updates retry: the agent's status writes touch the same key all the time.
            for (int attempt = 0; attempt < 5; attempt++) {
                Entry<Node> current = store.get(key, Node.parser()).orElseThrow(() -> Calls.notFound(describe(name)));
                if (given != 0 && given != current.modRevision()) {
                    throw Calls.stale(describe(name), given, current.modRevision());
                }
                boolean specChanged = !current.value().getSpec().equals(node.getSpec());
                var meta = current.value().getMetadata().toBuilder()
                        .clearLabels().putAllLabels(node.getMetadata().getLabelsMap())
                        .setGeneration(current.value().getMetadata().getGeneration() + (specChanged ? 1 : 0));
                // Keep system annotations (certificate hash); take the caller's others.
                node.getMetadata().getAnnotationsMap().forEach((k, val) -> {
                    if (!k.startsWith("edgeplane.dev/")) {
                        meta.putAnnotations(k, val);
                    }
                });
                // Status belongs to the agent: keep what is stored.
                Node stored = current.value().toBuilder().setMetadata(meta.setResourceVersion(0)).setSpec(node.getSpec()).build();
                OptionalLong revision = store.update(key, stored.toByteArray(), current.modRevision());
                if (revision.isPresent()) {
                    return live(new Entry<>(key, stored, revision.getAsLong(), current.createRevision()));
                }
                if (given != 0) {
                    throw Calls.stale(describe(name), given, -1);
                }
            }
            throw Calls.conflict(describe(name));
        });
    }

    @Override
    public void cordonNode(dev.edgeplane.api.v1.CordonNodeRequest request, StreamObserver<Node> responseObserver) {
        Calls.unary(responseObserver, () -> changeSpec(request.getName(), spec -> spec.setUnschedulable(true)));
    }

    @Override
    public void uncordonNode(dev.edgeplane.api.v1.UncordonNodeRequest request, StreamObserver<Node> responseObserver) {
        Calls.unary(responseObserver, () -> changeSpec(request.getName(), spec -> spec.setUnschedulable(false).setDrained(false)));
    }

    /** The scheduler does the moving (Placement: a drained node keeps no REPLICATED replica). */
    @Override
    public void drainNode(dev.edgeplane.api.v1.DrainNodeRequest request, StreamObserver<Node> responseObserver) {
        Calls.unary(responseObserver, () -> changeSpec(request.getName(), spec -> spec.setUnschedulable(true).setDrained(true)));
    }

    /**
     * The node's certificate is no longer accepted (its streams end: AgentApi watches the recorded hash)
     * and the next Join of this name may give it a new key (Joiner).
     */
    @Override
    public void resetNodeIdentity(dev.edgeplane.api.v1.ResetNodeIdentityRequest request, StreamObserver<Node> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Node node = changeNode(request.getName(), n -> {
                n.getMetadataBuilder().removeAnnotations(Joiner.CERT_HASH_ANNOTATION).removeAnnotations(Joiner.PREVIOUS_CERT_HASH_ANNOTATION)
                        .putAnnotations(Joiner.IDENTITY_RESET_ANNOTATION, Instant.now().toString());
                return n;
            });
            LOG.infof("reset the identity of %s: its certificate is no longer accepted; the next join of this name re-keys it",
                    describe(request.getName()));
            events.warning(EventRecorder.node(request.getName()), "NodeIdentityReset",
                    "certificate revoked; the next join of this name with a valid token gives it a new key", request.getName());
            return node;
        });
    }

    /** Read-modify-write of the node's spec, retried while status writes race with it. */
    private Node changeSpec(String name, java.util.function.UnaryOperator<dev.edgeplane.api.v1.NodeSpec.Builder> change) {
        return changeNode(name, n -> {
            var spec = change.apply(n.getSpec().toBuilder()).build();
            if (!spec.equals(n.getSpec())) {
                n.setSpec(spec).getMetadataBuilder().setGeneration(n.getMetadata().getGeneration() + 1);
            }
            return n;
        });
    }

    /** Read-modify-write of the node, retried while status writes race with it; no write when nothing changes. */
    private Node changeNode(String name, java.util.function.UnaryOperator<Node.Builder> change) {
        new Validation().dnsLabel("name", name).throwIfInvalid();
        String key = Keys.node(name);
        for (int attempt = 0; attempt < 5; attempt++) {
            Entry<Node> current = store.get(key, Node.parser()).orElseThrow(() -> Calls.notFound(describe(name)));
            Node changed = change.apply(current.value().toBuilder()).build();
            if (changed.equals(current.value())) {
                return live(current);
            }
            Node stored = changed.toBuilder().setMetadata(changed.getMetadata().toBuilder().setResourceVersion(0)).build();
            OptionalLong revision = store.update(key, stored.toByteArray(), current.modRevision());
            if (revision.isPresent()) {
                return live(new Entry<>(key, stored, revision.getAsLong(), current.createRevision()));
            }
        }
        throw Calls.conflict(describe(name));
    }

    @Override
    public void deleteNode(DeleteNodeRequest request, StreamObserver<DeleteResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            new Validation().dnsLabel("name", request.getName()).throwIfInvalid();
            Calls.delete(store, Keys.node(request.getName()), request.getResourceVersion(), describe(request.getName()));
            LOG.infof("deleted %s: its certificate is no longer accepted", describe(request.getName()));
            return DeleteResponse.getDefaultInstance();
        });
    }
}
