package dev.edgeplane.controlplane.join;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.JoinRequest;
import dev.edgeplane.api.v1.JoinResponse;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenStatus;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeSpec;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.api.Validation;
import dev.edgeplane.controlplane.nodes.NodeStatuses;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.PutOption;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import jakarta.enterprise.context.ApplicationScoped;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.jboss.logging.Logger;

/**
 * Join: checks the bootstrap token, signs the node's CSR with the cluster CA and records the Node.
 * One of the token's use counters ({@link TokenUses}) and the Node are written in ONE etcd transaction
 * that compares their revisions (and the token's), so a token of N uses admits exactly N nodes,
 * however they race.
 *
 * <p>Re-join policy: Join never re-keys an existing node on the strength of a token alone (a token
 * holder could otherwise take over any node by repeating its name and hostname): a name that is taken
 * is refused with ALREADY_EXISTS unless an admin reset the node's identity (NodeService
 * ResetNodeIdentity, which already revoked its certificate); then the Node is kept (labels merged),
 * gets the new certificate, and the reset is used up in the same transaction.
 */
@ApplicationScoped
public class Joiner {
    /** Annotation on the Node: sha256 of the certificate Sync accepts for it. */
    public static final String CERT_HASH_ANNOTATION = "edgeplane.dev/certificate-sha256";
    /** Annotation on the Node: sha256 of the certificate the last renewal replaced, still accepted until it expires. */
    public static final String PREVIOUS_CERT_HASH_ANNOTATION = "edgeplane.dev/previous-certificate-sha256";
    /** Annotation on the Node: the hash of the CA that signed its current certificate. */
    public static final String CERT_ISSUER_ANNOTATION = "edgeplane.dev/certificate-issuer";
    /** Annotation on the Node: the CA bundle the agent was last given (see {@link ClusterCa#bundleHash}). */
    public static final String CA_BUNDLE_ANNOTATION = "edgeplane.dev/ca-bundle";
    /**
     * The certificate the agent said it has installed (Heartbeat.installed_certificate). Until it equals
     * {@link #CERT_HASH_ANNOTATION}, the CA bundle and issuer recorded with that certificate are what the
     * control plane SENT, not what the node holds: a CA rollover waits for it.
     */
    public static final String INSTALLED_CERT_ANNOTATION = "edgeplane.dev/installed-certificate-sha256";
    /** Annotation on the Node: set by ResetNodeIdentity, the next Join of its name may re-key it (and clears it). */
    public static final String IDENTITY_RESET_ANNOTATION = "edgeplane.dev/identity-reset";
    private static final Logger LOG = Logger.getLogger(Joiner.class);
    /** Attempts before ABORTED; with the uses sharded, a retry means two joins picked the same counter. */
    private static final int ATTEMPTS = 16;

    private final EtcdStore store;
    private final ClusterCa ca;
    private final String advertise;
    private final java.time.Duration certificateValidity;
    private final Clock clock = Clock.systemUTC();
    private final dev.edgeplane.controlplane.events.EventRecorder events;
    private final StateCaches caches;

    public Joiner(EtcdStore store, StateCaches caches, ClusterCa ca, ControlPlaneConfig config,
                  dev.edgeplane.controlplane.events.EventRecorder events) {
        this.store = store;
        this.caches = caches;
        this.events = events;
        this.ca = ca;
        this.advertise = config.agent().advertise();
        this.certificateValidity = config.node().certificateValidity();
    }

    public JoinResponse join(JoinRequest request) {
        JoinTokens.Token token = JoinTokens.parse(request.getToken())
                .orElseThrow(() -> unauthenticated("unknown token (malformed; expected <id>.<secret>)"));
        String nodeName = request.getNodeName().isEmpty()
                ? Validation.toDnsLabel(request.getInfo().getHostname())
                : request.getNodeName();
        Validation validation = new Validation().dnsLabel("node_name", nodeName).labels("labels", request.getLabelsMap());
        for (String key : request.getLabelsMap().keySet()) {
            // The node restriction: what a host says about itself must not steer workloads (or their secrets) to it.
            if (!key.startsWith(AGENT_LABEL_PREFIX)) {
                validation.add("labels[" + key + "]", "an agent may set only labels under " + AGENT_LABEL_PREFIX
                        + "; labels that place workloads come from the join token (node_labels) or UpdateNode");
            }
        }
        validation.throwIfInvalid();

        X509Certificate certificate = null;
        String certHash = null;
        CertificateAuthority signer = ca.get();

        String tokenKey = Keys.joinToken(token.id());
        String nodeKey = Keys.node(nodeName);
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            // The first attempt reads the token and the node from the informers, the next ones from etcd:
            // the transaction below compares both revisions, so a cache behind etcd only costs a retry.
            boolean fromCache = attempt == 0;
            Optional<Entry<JoinToken>> cached = fromCache ? Optional.ofNullable(caches.joinTokens().get(tokenKey)) : Optional.empty();
            Entry<JoinToken> stored = cached.or(() -> store.get(tokenKey, JoinToken.parser()))
                    .orElseThrow(() -> unauthenticated("unknown token"));
            JoinToken joinToken = stored.value();
            Instant now = clock.instant();
            Optional<StatusRuntimeException> refused = refusal(token, joinToken, nodeName, now);
            if (refused.isPresent()) {
                if (fromCache) {
                    continue; // refused on etcd's word only, not on a cache that may be behind it
                }
                throw refused.get();
            }
            int maxUses = joinToken.getSpec().getMaxUses() <= 0 ? 1 : joinToken.getSpec().getMaxUses();
            TokenUses.Pick pick = pickUse(token.id(), maxUses, joinToken.getStatus());

            if (certificate == null) {
                // Only once the token is known good: nothing is signed for an unauthenticated caller (a token
                // deleted a moment ago that the cache still shows fails the transaction: the certificate never leaves).
                try {
                    certificate = signer.signNodeCsr(request.getCsrPem(), nodeName, now, certificateValidity);
                } catch (CertificateAuthority.InvalidCsrException e) {
                    throw Validation.invalid("csr_pem", e.getMessage());
                }
                certHash = CertificateAuthority.hashOf(certificate);
            }
            // A node the cache shows is read from etcd (it may have been deleted since); one it does not is
            // created only if etcd agrees (version 0).
            Optional<Entry<Node>> existing = fromCache && caches.nodes().get(nodeKey) == null
                    ? Optional.empty() : store.get(nodeKey, Node.parser());
            String hostname = request.getInfo().getHostname();
            if (existing.isPresent() && !existing.get().value().getMetadata().containsAnnotations(IDENTITY_RESET_ANNOTATION)) {
                throw Status.ALREADY_EXISTS.withDescription("node \"" + nodeName + "\" already exists (joined from host \""
                        + existing.get().value().getStatus().getHostname() + "\"); choose another name (--name), or, if this "
                        + "is that node coming back without its key, reset its identity first (edgectl node reset-identity "
                        + nodeName + ")").asRuntimeException();
            }
            Node node = buildNode(nodeName, request, joinToken, existing.map(Entry::value), certHash, signer.hash(), now);
            // The token unchanged (not deleted), the chosen use counter unchanged, the node as read:
            // the counter's increment and the Node are written together or not at all.
            Cmp tokenCmp = new Cmp(EtcdStore.bytes(tokenKey), Cmp.Op.EQUAL, CmpTarget.modRevision(stored.modRevision()));
            Cmp shardCmp = new Cmp(EtcdStore.bytes(pick.key()), Cmp.Op.EQUAL, CmpTarget.modRevision(pick.current().modRevision()));
            Cmp nodeCmp = existing.isPresent()
                    ? new Cmp(EtcdStore.bytes(nodeKey), Cmp.Op.EQUAL, CmpTarget.modRevision(existing.get().modRevision()))
                    : new Cmp(EtcdStore.bytes(nodeKey), Cmp.Op.EQUAL, CmpTarget.version(0));
            TxnResponse response = store.await(store.client().getKVClient().txn()
                    .If(tokenCmp, shardCmp, nodeCmp)
                    .Then(Op.put(EtcdStore.bytes(pick.key()), EtcdStore.bytes(TokenUses.used(pick, nodeName).toByteArray()), PutOption.DEFAULT),
                            Op.put(EtcdStore.bytes(nodeKey), EtcdStore.bytes(node.toByteArray()), PutOption.DEFAULT))
                    .commit(), "join " + nodeName);
            if (response.isSucceeded()) {
                LOG.infof("node %s joined with token %s%s", nodeName, token.id(), existing.isPresent() ? " (re-keyed after an identity reset)" : "");
                events.info(dev.edgeplane.controlplane.events.EventRecorder.node(nodeName), "NodeJoined",
                        "joined with token " + token.id() + (existing.isPresent() ? " (re-keyed after an identity reset, from host " + hostname + ")" : "")
                                + "; waiting for the agent to connect", nodeName);
                return JoinResponse.newBuilder()
                        .setNodeName(nodeName)
                        .setCertificatePem(CertificateAuthority.pem(certificate))
                        .setCaBundlePem(ca.bundlePem())
                        .setSyncEndpoint(advertise)
                        .build();
            }
            // Another join took the same counter, or the token or the node changed: look again.
        }
        throw Status.ABORTED.withDescription("join of " + nodeName + " kept conflicting with concurrent joins; retry").asRuntimeException();
    }

    /** Why {@code joinToken} does not admit {@code nodeName} now, if it does not. */
    private static Optional<StatusRuntimeException> refusal(JoinTokens.Token token, JoinToken joinToken, String nodeName, Instant now) {
        String secretHash = joinToken.getMetadata().getAnnotationsOrDefault(JoinTokens.SECRET_HASH_ANNOTATION, "");
        if (secretHash.isEmpty() || !JoinTokens.matches(token.secret(), secretHash)) {
            return Optional.of(unauthenticated("unknown token"));
        }
        if (!joinToken.getSpec().getNodeName().isEmpty() && !joinToken.getSpec().getNodeName().equals(nodeName)) {
            return Optional.of(Status.PERMISSION_DENIED.withDescription("token " + token.id() + " is for node \""
                    + joinToken.getSpec().getNodeName() + "\" only").asRuntimeException());
        }
        if (joinToken.getStatus().hasExpireTime() && !now.isBefore(toInstant(joinToken.getStatus().getExpireTime()))) {
            return Optional.of(unauthenticated("token expired at " + toInstant(joinToken.getStatus().getExpireTime())));
        }
        return Optional.empty();
    }

    private static Node buildNode(String name, JoinRequest request, JoinToken token, Optional<Node> existing,
                                  String certHash, String issuerHash, Instant now) {
        Map<String, String> labels = new HashMap<>();
        existing.ifPresent(n -> labels.putAll(n.getMetadata().getLabelsMap()));
        labels.putAll(request.getLabelsMap());
        labels.putAll(token.getSpec().getNodeLabelsMap()); // the admin's labels win over the host's
        if (!token.getSpec().getPool().isEmpty()) {
            labels.put(POOL_LABEL, token.getSpec().getPool()); // the token's pool, whatever else said
        }
        labels.putAll(wellKnownLabels(request.getInfo())); // facts the host reports, as the kubelet sets kubernetes.io/*
        ObjectMeta.Builder meta = existing.map(n -> n.getMetadata().toBuilder())
                .orElseGet(() -> ObjectMeta.newBuilder()
                        .setName(name)
                        .setUid(UUID.randomUUID().toString())
                        .setCreateTime(timestamp(now))
                        .setGeneration(1));
        meta.clearLabels().putAllLabels(labels).setResourceVersion(0)
                .removeAnnotations(IDENTITY_RESET_ANNOTATION)
                .removeAnnotations(PREVIOUS_CERT_HASH_ANNOTATION)
                .putAnnotations(CERT_HASH_ANNOTATION, certHash)
                .putAnnotations(CERT_ISSUER_ANNOTATION, issuerHash)
                // The agent keeps only the CA it pinned (the signing one): during a rollover it is given the rest.
                .putAnnotations(CA_BUNDLE_ANNOTATION, issuerHash)
                .putAnnotations("edgeplane.dev/join-token", token.getMetadata().getName());
        NodeSpec spec = existing.map(Node::getSpec)
                .orElseGet(() -> NodeSpec.newBuilder().addAllTaints(token.getSpec().getNodeTaintsList()).build());
        NodeStatus.Builder status = NodeStatuses.withInfo(NodeStatus.newBuilder(), request.getInfo())
                .setPhase(NodeStatus.Phase.NOT_READY)
                .setMessage("joined; waiting for the agent to connect")
                .setJoinTime(timestamp(now));
        return Node.newBuilder().setMetadata(meta).setSpec(spec).setStatus(status).build();
    }

    /** Labels every node gets, so selectors can target them: edgeplane.dev/os, /arch and /hostname. */
    static Map<String, String> wellKnownLabels(dev.edgeplane.api.v1.NodeInfo info) {
        Map<String, String> labels = new HashMap<>();
        for (Map.Entry<String, String> fact : Map.of(OS_LABEL, info.getOs(), ARCH_LABEL, info.getArch(),
                HOSTNAME_LABEL, Validation.toDnsLabel(info.getHostname())).entrySet()) {
            if (!fact.getValue().isEmpty() && Validation.isLabelValue(fact.getValue())) {
                labels.put(fact.getKey(), fact.getValue());
            }
        }
        return labels;
    }

    /** The only labels an agent may ask for at join (Kubernetes' NodeRestriction keeps kubelets to theirs the same way). */
    /**
     * A use counter with room for this join. One shard at random, read alone: a join of a fleet-wide token
     * costs one small read, not all the token's counters with every name joined so far (which grew with the
     * fleet: O(N) a join, O(N^2) for the fleet). All shards only when that one is full, near the token's end.
     */
    private TokenUses.Pick pickUse(String tokenId, int maxUses, JoinTokenStatus onToken) {
        java.util.random.RandomGenerator random = java.util.concurrent.ThreadLocalRandom.current();
        int guess = random.nextInt(TokenUses.of(tokenId, maxUses, onToken, List.of()).shardCount());
        String guessKey = TokenUses.key(tokenId, guess);
        Optional<TokenUses.Pick> room = TokenUses.of(tokenId, maxUses, onToken,
                store.get(guessKey, JoinTokenStatus.parser()).map(List::of).orElse(List.of())).room(guess);
        if (room.isPresent()) {
            return room.get();
        }
        TokenUses all = TokenUses.of(tokenId, maxUses, onToken, store.listAll(Keys.joinTokenUses(tokenId)).entries().stream()
                .map(e -> new Entry<>(e.key(), EtcdStore.decode(JoinTokenStatus.parser(), e.value()), e.modRevision(), e.createRevision()))
                .toList());
        return all.pick(random).orElseThrow(() -> unauthenticated("token used up (" + all.total() + " of " + maxUses + " uses)"));
    }

    public static final String AGENT_LABEL_PREFIX = "agent.edgeplane.dev/";
    /** The pool (site) a node belongs to: set by its join token's pool, changed only by UpdateNode. */
    public static final String POOL_LABEL = dev.edgeplane.api.AppPools.POOL_LABEL;
    public static final String OS_LABEL = "edgeplane.dev/os";
    public static final String ARCH_LABEL = "edgeplane.dev/arch";
    public static final String HOSTNAME_LABEL = "edgeplane.dev/hostname";

    static StatusRuntimeException unauthenticated(String message) {
        return Status.UNAUTHENTICATED.withDescription(message).asRuntimeException();
    }

    public static Timestamp timestamp(Instant instant) {
        return Timestamp.newBuilder().setSeconds(instant.getEpochSecond()).setNanos(instant.getNano()).build();
    }

    public static Instant toInstant(Timestamp t) {
        return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
    }

    /**
     * Whether the agent endpoint accepts the certificate with sha256 {@code hash} for {@code node}: the
     * one Join or the last renewal issued, or the one that renewal replaced (an agent that crashed
     * before storing its renewed certificate, or a stream opened before it, goes on with it until it
     * expires; the next renewal drops it).
     */
    public static boolean acceptsCertificate(Node node, String hash) {
        var annotations = node.getMetadata().getAnnotationsMap();
        return hash != null && (hash.equals(annotations.get(CERT_HASH_ANNOTATION))
                || hash.equals(annotations.get(PREVIOUS_CERT_HASH_ANNOTATION)));
    }

    /** The sha256 ("sha256:hex") of the certificate Join issued to this node, or null if none is recorded. */
    public static String recordedCertificateHash(Node node) {
        return node.getMetadata().getAnnotationsOrDefault(CERT_HASH_ANNOTATION, null);
    }
}
