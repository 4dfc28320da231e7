package dev.edgeplane.controlplane.api;

import com.google.protobuf.Duration;
import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.DeleteJoinTokenRequest;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.GetJoinTokenRequest;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenServiceGrpc;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.JoinTokenStatus;
import dev.edgeplane.api.v1.ListJoinTokensRequest;
import dev.edgeplane.api.v1.ListJoinTokensResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.join.ClusterCa;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.join.JoinTokens;
import dev.edgeplane.controlplane.join.TokenUses;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.PutOption;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.time.Instant;
import java.util.OptionalLong;
import java.util.UUID;
import org.jboss.logging.Logger;

/** JoinTokenService: bootstrap tokens; the secret is shown once, in the CreateJoinToken response. */
@GrpcService
@Blocking
public class JoinTokenApi extends JoinTokenServiceGrpc.JoinTokenServiceImplBase {
    private static final Logger LOG = Logger.getLogger(JoinTokenApi.class);
    private static final Duration DEFAULT_TTL = Duration.newBuilder().setSeconds(24 * 3600).build();

    private final EtcdStore store;
    private final ClusterCa ca;
    private final String advertise;
    private final JoinTokens tokens = new JoinTokens();
    private final ApiLimits limits;

    public JoinTokenApi(EtcdStore store, ClusterCa ca, ControlPlaneConfig config) {
        this.store = store;
        this.ca = ca;
        this.advertise = config.agent().advertise();
        this.limits = ApiLimits.of(config.limits());
    }

    private static String describe(String id) {
        return "join token \"" + id + "\"";
    }

    private static Op deleteUses(String id) {
        return Op.delete(EtcdStore.bytes(Keys.joinTokenUses(id)), DeleteOption.builder().isPrefix(true).build());
    }

    /** What the API shows: never the secret's hash; uses and joined nodes summed over the token's use counters. */
    private JoinToken shown(Entry<JoinToken> entry) {
        JoinToken token = entry.value();
        String id = Keys.suffix(entry.key(), Keys.JOIN_TOKENS);
        TokenUses uses = TokenUses.of(id, token.getSpec().getMaxUses(), token.getStatus(),
                store.listAll(Keys.joinTokenUses(id)).entries().stream()
                        .map(e -> new Entry<>(e.key(), EtcdStore.decode(JoinTokenStatus.parser(), e.value()), e.modRevision(), e.createRevision()))
                        .toList());
        return token.toBuilder().setMetadata(token.getMetadata().toBuilder()
                        .removeAnnotations(JoinTokens.SECRET_HASH_ANNOTATION)
                        .setResourceVersion(entry.modRevision()))
                .setStatus(token.getStatus().toBuilder().setUses(uses.total()).clearJoinedNodes().addAllJoinedNodes(uses.joinedNodes()))
                .build();
    }

    /** A bootstrap token lives at most this long (kubeadm's default is 24 h, which is ours too). */
    static final java.time.Duration MAX_TTL = java.time.Duration.ofDays(30);
    /** Uses of one token: enough to provision a fleet, not unbounded. */
    static final int MAX_USES = 100_000;

    @Override
    public void createJoinToken(CreateJoinTokenRequest request, StreamObserver<JoinToken> responseObserver) {
        Calls.unary(responseObserver, () -> {
            JoinToken given = request.getToken();
            JoinTokenSpec spec = given.getSpec();
            Validation v = new Validation();
            if (spec.hasTtl() && (spec.getTtl().getSeconds() < 0 || spec.getTtl().getNanos() < 0)) {
                v.add("token.spec.ttl", "must not be negative");
            } else if (spec.hasTtl() && spec.getTtl().getSeconds() > MAX_TTL.getSeconds()) {
                v.add("token.spec.ttl", "must be at most " + MAX_TTL.toDays() + " days: a bootstrap token is short-lived");
            }
            if (spec.getMaxUses() < 0 || spec.getMaxUses() > MAX_USES) {
                v.add("token.spec.max_uses", "must be 0 (default 1) to " + MAX_USES);
            }
            if (!spec.getNodeName().isEmpty()) {
                v.dnsLabel("token.spec.node_name", spec.getNodeName());
            }
            if (!spec.getPool().isEmpty()) {
                v.dnsLabel("token.spec.pool", spec.getPool());
                String labelled = spec.getNodeLabelsMap().get(Joiner.POOL_LABEL);
                if (labelled != null && !labelled.equals(spec.getPool())) {
                    v.add("token.spec.node_labels[" + Joiner.POOL_LABEL + "]", "contradicts token.spec.pool \"" + spec.getPool() + "\"");
                }
            }
            v.labels("token.metadata.labels", given.getMetadata().getLabelsMap(), limits.maxLabels());
            v.labels("token.spec.node_labels", spec.getNodeLabelsMap(), limits.maxLabels());
            v.atMost("token.spec.node_taints", spec.getNodeTaintsCount(), limits.maxListItems(), "max-list-items");
            for (int i = 0; i < Math.min(spec.getNodeTaintsCount(), limits.maxListItems()); i++) {
                v.taint("token.spec.node_taints[" + i + "]", spec.getNodeTaints(i));
            }
            if (spec.getDescription().length() > 1024) {
                v.add("token.spec.description", "must be at most 1024 characters");
            }
            v.throwIfInvalid();

            JoinTokenSpec.Builder normal = spec.toBuilder();
            if (!spec.hasTtl() || (spec.getTtl().getSeconds() == 0 && spec.getTtl().getNanos() == 0)) {
                normal.setTtl(DEFAULT_TTL);
            }
            if (spec.getMaxUses() == 0) {
                normal.setMaxUses(1);
            }
            Instant now = Instant.now();
            Instant expires = now.plusSeconds(normal.getTtl().getSeconds()).plusNanos(normal.getTtl().getNanos());
            for (int attempt = 0; attempt < 5; attempt++) {
                JoinTokens.Token token = tokens.generate();
                JoinToken stored = JoinToken.newBuilder()
                        .setMetadata(ObjectMeta.newBuilder()
                                .setName(token.id())
                                .putAllLabels(given.getMetadata().getLabelsMap())
                                .putAnnotations(JoinTokens.SECRET_HASH_ANNOTATION, JoinTokens.hash(token.secret()))
                                .setUid(UUID.randomUUID().toString())
                                .setCreateTime(Joiner.timestamp(now))
                                .setGeneration(1))
                        .setSpec(normal)
                        .setStatus(JoinTokenStatus.newBuilder().setExpireTime(Joiner.timestamp(expires)))
                        .build();
                String key = Keys.joinToken(token.id());
                TxnResponse created = store.await(store.client().getKVClient().txn()
                        .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.EQUAL, CmpTarget.version(0)))
                        .Then(Op.put(EtcdStore.bytes(key), EtcdStore.bytes(stored.toByteArray()), PutOption.DEFAULT),
                                deleteUses(token.id()))
                        .commit(), "create " + key);
                if (!created.isSucceeded()) {
                    continue; // id collision: draw another
                }
                OptionalLong revision = OptionalLong.of(created.getHeader().getRevision());
                String caHash = ca.get().hash();
                LOG.infof("created %s (expires %s, max uses %d)", describe(token.id()), expires, normal.getMaxUses());
                JoinToken shown = shown(new Entry<>(key, stored, revision.getAsLong(), revision.getAsLong()));
                return shown.toBuilder().setStatus(shown.getStatus().toBuilder()
                                .setToken(token.toString())
                                .setCaHash(caHash)
                                .setJoinCommand("edge-agent join --server " + advertise + " --token " + token + " --ca-hash " + caHash))
                        .build();
            }
            throw Status.INTERNAL.withDescription("could not draw an unused token id").asRuntimeException();
        });
    }

    @Override
    public void getJoinToken(GetJoinTokenRequest request, StreamObserver<JoinToken> responseObserver) {
        Calls.unary(responseObserver, () -> {
            requireName(request.getName());
            return shown(store.get(Keys.joinToken(request.getName()), JoinToken.parser())
                    .orElseThrow(() -> Calls.notFound(describe(request.getName()))));
        });
    }

    @Override
    public void listJoinTokens(ListJoinTokensRequest request, StreamObserver<ListJoinTokensResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Listing.Page<JoinToken> page = Listing.list(store, limits, Keys.JOIN_TOKENS, request.getPageSize(), request.getPageToken(),
                    request.getLabelSelector(), JoinToken.parser(), t -> t.getMetadata().getLabelsMap());
            ListJoinTokensResponse.Builder response = ListJoinTokensResponse.newBuilder().setNextPageToken(page.nextPageToken());
            page.items().forEach(e -> response.addTokens(shown(e)));
            return response.build();
        });
    }

    @Override
    public void deleteJoinToken(DeleteJoinTokenRequest request, StreamObserver<DeleteResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            requireName(request.getName());
            String key = Keys.joinToken(request.getName());
            // Its use counters go with it (and a new token drawing the same id starts from none; see create).
            TxnResponse deleted = store.await(store.client().getKVClient().txn()
                    .If(new Cmp(EtcdStore.bytes(key), Cmp.Op.GREATER, CmpTarget.version(0)))
                    .Then(Op.delete(EtcdStore.bytes(key), DeleteOption.DEFAULT), deleteUses(request.getName()))
                    .commit(), "delete " + key);
            if (!deleted.isSucceeded()) {
                throw Calls.notFound(describe(request.getName()));
            }
            return DeleteResponse.getDefaultInstance();
        });
    }

    private static void requireName(String name) {
        if (name.isEmpty()) {
            throw Validation.invalid("name", "must not be empty");
        }
        if (name.length() > 253) {
            throw Validation.invalid("name", "must be at most 253 characters");
        }
    }
}
