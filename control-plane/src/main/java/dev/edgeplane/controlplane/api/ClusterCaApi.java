package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.v1.CancelCaRolloverRequest;
import dev.edgeplane.api.v1.ClusterCa;
import dev.edgeplane.api.v1.ClusterCaServiceGrpc;
import dev.edgeplane.api.v1.FinishCaRolloverRequest;
import dev.edgeplane.api.v1.GetClusterCaRequest;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.StartCaRolloverRequest;
import dev.edgeplane.api.v1.SwitchCaRolloverRequest;
import dev.edgeplane.controlplane.join.ClusterCa.ClusterCaPhase;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.StateCaches;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * ClusterCaService: the CA rollover, step by step. Each step is refused while a node would be cut
 * off by it (it has not received the new CA, or its certificate is still of the old one), naming the
 * nodes; {@code force} takes the step anyway (such nodes must then be reset and joined again).
 */
@GrpcService
@Blocking
public class ClusterCaApi extends ClusterCaServiceGrpc.ClusterCaServiceImplBase {
    private static final int NAMED_PENDING = 20;

    private final dev.edgeplane.controlplane.join.ClusterCa ca;
    private final StateCaches caches;

    public ClusterCaApi(dev.edgeplane.controlplane.join.ClusterCa ca, StateCaches caches) {
        this.ca = ca;
        this.caches = caches;
    }

    @Override
    public void getClusterCa(GetClusterCaRequest request, StreamObserver<ClusterCa> responseObserver) {
        Calls.unary(responseObserver, this::describe);
    }

    @Override
    public void startCaRollover(StartCaRolloverRequest request, StreamObserver<ClusterCa> responseObserver) {
        Calls.unary(responseObserver, () -> {
            ca.startRollover();
            return describe();
        });
    }

    @Override
    public void switchCaRollover(SwitchCaRolloverRequest request, StreamObserver<ClusterCa> responseObserver) {
        Calls.unary(responseObserver, () -> {
            ca.refresh();
            if (phase() == ClusterCaPhase.PREPARED && !request.getForce()) {
                refuseWhilePending(pending(), "have not installed the new CA yet (they renew and confirm it within a heartbeat while "
                        + "connected); switching now would cut them off");
            }
            ca.switchSigner();
            return describe();
        });
    }

    @Override
    public void finishCaRollover(FinishCaRolloverRequest request, StreamObserver<ClusterCa> responseObserver) {
        Calls.unary(responseObserver, () -> {
            ca.refresh();
            if (phase() == ClusterCaPhase.SWITCHED && !request.getForce()) {
                refuseWhilePending(pending(), "still hold a certificate of the old CA; finishing now would cut them off");
            }
            ca.endRollover(ClusterCaPhase.SWITCHED);
            return describe();
        });
    }

    @Override
    public void cancelCaRollover(CancelCaRolloverRequest request, StreamObserver<ClusterCa> responseObserver) {
        Calls.unary(responseObserver, () -> {
            ca.endRollover(ClusterCaPhase.PREPARED);
            return describe();
        });
    }

    private ClusterCaPhase phase() {
        return ca.rollover().map(dev.edgeplane.controlplane.join.ClusterCa.Rollover::phase).orElse(ClusterCaPhase.NONE);
    }

    private ClusterCa describe() {
        List<String> pending = pending();
        ClusterCa.Builder out = ClusterCa.newBuilder()
                .setPhase(ClusterCa.Phase.valueOf(phase().name()))
                .setSigningCaHash(ca.get().hash())
                .setBundlePem(ca.bundlePem())
                .addAllPendingNodes(pending.subList(0, Math.min(NAMED_PENDING, pending.size())))
                .setPendingNodeCount(pending.size());
        ca.rollover().ifPresent(r -> out.setRolloverCaHash(r.other().hash()));
        return out.build();
    }

    /** The nodes that block the next step: without the current bundle (PREPARED), or with an old-CA certificate (SWITCHED). */
    private List<String> pending() {
        ClusterCaPhase phase = phase();
        if (phase == ClusterCaPhase.NONE) {
            return List.of();
        }
        String bundle = ca.bundleHash();
        String signing = ca.get().hash();
        // What a renewal recorded was sent, not yet held: a node counts once it said it installed that certificate.
        Predicate<Map<String, String>> installed = a -> a.get(Joiner.CERT_HASH_ANNOTATION).equals(a.get(Joiner.INSTALLED_CERT_ANNOTATION));
        Predicate<Map<String, String>> blocks = phase == ClusterCaPhase.PREPARED
                ? a -> !bundle.equals(a.get(Joiner.CA_BUNDLE_ANNOTATION)) || !installed.test(a)
                : a -> !signing.equals(a.get(Joiner.CERT_ISSUER_ANNOTATION)) || !installed.test(a);
        return caches.nodes().all().stream()
                .map(Entry::value)
                .filter(n -> n.getMetadata().containsAnnotations(Joiner.CERT_HASH_ANNOTATION)) // reset nodes have none
                .filter(n -> blocks.test(n.getMetadata().getAnnotationsMap()))
                .map(n -> n.getMetadata().getName())
                .sorted()
                .toList();
    }

    private static void refuseWhilePending(List<String> pending, String why) {
        if (!pending.isEmpty()) {
            throw Status.FAILED_PRECONDITION.withDescription(pending.size() + " node(s) " + why + ": "
                    + String.join(", ", pending.subList(0, Math.min(NAMED_PENDING, pending.size())))
                    + (pending.size() > NAMED_PENDING ? ", ..." : "") + " (force to proceed anyway)").asRuntimeException();
        }
    }
}
