package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.v1.CreateNodePoolRequest;
import dev.edgeplane.api.v1.DeleteNodePoolRequest;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.GetNodePoolRequest;
import dev.edgeplane.api.v1.ListNodePoolsRequest;
import dev.edgeplane.api.v1.ListNodePoolsResponse;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodePool;
import dev.edgeplane.api.v1.NodePoolServiceGrpc;
import dev.edgeplane.api.v1.NodePoolSpec;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Taint;
import dev.edgeplane.api.v1.UpdateNodePoolRequest;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.pools.PoolIndex;
import dev.edgeplane.controlplane.pools.PoolMembership;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import java.util.UUID;
import org.jboss.logging.Logger;

/**
 * NodePoolService: node pools (sites) at /edgeplane/nodepools/&lt;name&gt;. The API stores the spec and
 * refuses a pool that would claim a node of another pool; the NodePool controller puts its labels and
 * taints on its members and writes its status.
 */
@GrpcService
@Blocking
public class NodePoolApi extends NodePoolServiceGrpc.NodePoolServiceImplBase {
    private static final Logger LOG = Logger.getLogger(NodePoolApi.class);
    static final int MAX_DESCRIPTION_BYTES = 256;
    static final int MAX_TAINTS = 32;
    static final int MAX_NODES = 10_000;
    /** An unconditional update retries this often while the controller's status writes touch the key. */
    private static final int UPDATE_ATTEMPTS = 10;

    private final EtcdStore store;
    private final StateCaches caches;
    private final ApiLimits limits;

    public NodePoolApi(EtcdStore store, StateCaches caches, ControlPlaneConfig config) {
        this.store = store;
        this.caches = caches;
        this.limits = ApiLimits.of(config.limits());
    }

    private static String describe(String name) {
        return "node pool \"" + name + "\"";
    }

    static Validation validate(NodePool pool, ApiLimits limits) {
        Validation v = new Validation();
        ObjectMeta meta = pool.getMetadata();
        NodePoolSpec spec = pool.getSpec();
        v.dnsLabel("node_pool.metadata.name", meta.getName());
        if (!meta.getNamespace().isEmpty()) {
            v.add("node_pool.metadata.namespace", "must be empty: node pools are cluster-scoped");
        }
        v.labels("node_pool.metadata.labels", meta.getLabelsMap(), limits.maxLabels());
        v.annotations("node_pool.metadata.annotations", meta.getAnnotationsMap(), limits.maxAnnotationsBytes());
        int description = spec.getDescription().getBytes(StandardCharsets.UTF_8).length;
        if (description > MAX_DESCRIPTION_BYTES) {
            v.add("node_pool.spec.description", "is " + description + " bytes, over the limit of " + MAX_DESCRIPTION_BYTES);
        }
        v.labels("node_pool.spec.node_selector", spec.getNodeSelectorMap(), limits.maxLabels());
        if (spec.containsNodeSelector(PoolMembership.POOL_LABEL)) {
            v.add("node_pool.spec.node_selector[" + PoolMembership.POOL_LABEL + "]",
                    "is not allowed: a node labelled " + PoolMembership.POOL_LABEL + "=<pool> is in that pool already");
        }
        v.labels("node_pool.spec.labels", spec.getLabelsMap(), limits.maxLabels());
        if (spec.containsLabels(PoolMembership.POOL_LABEL)) {
            v.add("node_pool.spec.labels[" + PoolMembership.POOL_LABEL + "]", "is not allowed: the pool puts it on its members itself");
        }
        if (spec.getNodesCount() > MAX_NODES) {
            v.add("node_pool.spec.nodes", "has " + spec.getNodesCount() + " entries, over the limit of " + MAX_NODES);
        } else {
            Set<String> seen = new HashSet<>();
            for (int i = 0; i < spec.getNodesCount(); i++) {
                String node = spec.getNodes(i);
                v.dnsLabel("node_pool.spec.nodes[" + i + "]", node);
                if (!seen.add(node)) {
                    v.add("node_pool.spec.nodes[" + i + "]", "\"" + node + "\" is listed twice");
                }
            }
        }
        if (spec.getTaintsCount() > MAX_TAINTS) {
            v.add("node_pool.spec.taints", "has " + spec.getTaintsCount() + " entries, over the limit of " + MAX_TAINTS);
        } else {
            Set<String> seen = new HashSet<>();
            for (int i = 0; i < spec.getTaintsCount(); i++) {
                Taint taint = spec.getTaints(i);
                String field = "node_pool.spec.taints[" + i + "]";
                v.taint(field, taint);
                if (!Validation.isLabelValue(taint.getValue())) {
                    v.add(field + ".value", "must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric");
                }
                if (!seen.add(taint.getKey() + ":" + taint.getEffect())) {
                    v.add(field, "a taint with key \"" + taint.getKey() + "\" and effect " + taint.getEffect() + " is given twice");
                }
            }
        }
        return v;
    }

    private static NodePool normalise(NodePool pool) {
        return pool.toBuilder().clearStatus().build();
    }

    static NodePool shown(Entry<NodePool> entry) {
        return entry.value().toBuilder()
                .setMetadata(entry.value().getMetadata().toBuilder().setResourceVersion(entry.modRevision())).build();
    }

    /** FAILED_PRECONDITION when the pool would claim a node another pool holds (from the watched nodes and pools). */
    private void checkOverlap(NodePool pool) {
        String name = pool.getMetadata().getName();
        List<NodePool> others = caches.nodePools().all().stream().map(Entry::value)
                .filter(p -> !p.getMetadata().getName().equals(name)).toList();
        List<Node> nodes = caches.nodes().all().stream().map(Entry::value).toList();
        PoolMembership.conflict(pool, nodes, PoolIndex.of(others)).ifPresent(why -> {
            throw Status.FAILED_PRECONDITION.withDescription(describe(name) + ": " + why).asRuntimeException();
        });
    }

    @Override
    public void createNodePool(CreateNodePoolRequest request, StreamObserver<NodePool> responseObserver) {
        Calls.unary(responseObserver, () -> {
            NodePool pool = normalise(request.getNodePool());
            validate(pool, limits).throwIfInvalid();
            checkOverlap(pool);
            ObjectMeta meta = pool.getMetadata().toBuilder().setUid(UUID.randomUUID().toString())
                    .setCreateTime(Joiner.timestamp(Instant.now())).setGeneration(1).setResourceVersion(0).build();
            NodePool stored = pool.toBuilder().setMetadata(meta).build();
            String key = Keys.nodePool(meta.getName());
            OptionalLong revision = store.create(key, stored.toByteArray());
            if (revision.isEmpty()) {
                throw Calls.exists(describe(meta.getName()));
            }
            LOG.infof("created %s", describe(meta.getName()));
            return shown(new Entry<>(key, stored, revision.getAsLong(), revision.getAsLong()));
        });
    }

    @Override
    public void getNodePool(GetNodePoolRequest request, StreamObserver<NodePool> responseObserver) {
        Calls.unary(responseObserver, () -> {
            new Validation().dnsLabel("name", request.getName()).throwIfInvalid();
            return shown(store.get(Keys.nodePool(request.getName()), NodePool.parser())
                    .orElseThrow(() -> Calls.notFound(describe(request.getName()))));
        });
    }

    @Override
    public void listNodePools(ListNodePoolsRequest request, StreamObserver<ListNodePoolsResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Listing.Page<NodePool> page = Listing.list(store, limits, Keys.NODE_POOLS, request.getPageSize(), request.getPageToken(),
                    request.getLabelSelector(), NodePool.parser(), p -> p.getMetadata().getLabelsMap());
            ListNodePoolsResponse.Builder response = ListNodePoolsResponse.newBuilder().setNextPageToken(page.nextPageToken());
            page.items().forEach(e -> response.addNodePools(shown(e)));
            return response.build();
        });
    }

    @Override
    public void updateNodePool(UpdateNodePoolRequest request, StreamObserver<NodePool> responseObserver) {
        Calls.unary(responseObserver, () -> {
            NodePool pool = normalise(request.getNodePool());
            validate(pool, limits).throwIfInvalid();
            String name = pool.getMetadata().getName();
            String key = Keys.nodePool(name);
            long given = pool.getMetadata().getResourceVersion();
            for (int attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
                Entry<NodePool> current = store.get(key, NodePool.parser()).orElseThrow(() -> Calls.notFound(describe(name)));
                if (given != 0 && given != current.modRevision()) {
                    throw Calls.stale(describe(name), given, current.modRevision());
                }
                boolean specChanged = !current.value().getSpec().equals(pool.getSpec());
                if (specChanged) {
                    checkOverlap(pool);
                }
                ObjectMeta old = current.value().getMetadata();
                ObjectMeta meta = old.toBuilder()
                        .clearLabels().putAllLabels(pool.getMetadata().getLabelsMap())
                        .clearAnnotations().putAllAnnotations(pool.getMetadata().getAnnotationsMap())
                        .setGeneration(old.getGeneration() + (specChanged ? 1 : 0)).setResourceVersion(0).build();
                // The status belongs to the controller: keep what is stored.
                NodePool stored = current.value().toBuilder().setMetadata(meta).setSpec(pool.getSpec()).build();
                OptionalLong revision = store.update(key, stored.toByteArray(), current.modRevision());
                if (revision.isPresent()) {
                    LOG.infof("updated %s", describe(name));
                    return shown(new Entry<>(key, stored, revision.getAsLong(), current.createRevision()));
                }
                if (given != 0) {
                    throw Calls.stale(describe(name), given, -1);
                }
            }
            throw Calls.conflict(describe(name));
        });
    }

    /** Kubernetes-like: the pool goes at once; the controller then takes back what it put on its members. */
    @Override
    public void deleteNodePool(DeleteNodePoolRequest request, StreamObserver<DeleteResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            new Validation().dnsLabel("name", request.getName()).throwIfInvalid();
            Calls.delete(store, Keys.nodePool(request.getName()), request.getResourceVersion(), describe(request.getName()));
            LOG.infof("deleted %s: its members lose what it put on them", describe(request.getName()));
            return DeleteResponse.getDefaultInstance();
        });
    }
}
