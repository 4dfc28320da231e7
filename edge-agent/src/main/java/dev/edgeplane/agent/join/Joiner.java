package dev.edgeplane.agent.join;

import dev.edgeplane.agent.host.HostInfo;
import dev.edgeplane.agent.identity.CaPin;
import dev.edgeplane.agent.identity.NodeKeys;
import dev.edgeplane.agent.identity.Pem;
import dev.edgeplane.agent.identity.StateDir;
import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.JoinRequest;
import dev.edgeplane.api.v1.JoinResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.ChannelOption;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.net.ssl.SSLException;

/**
 * Joins this host to a control plane: makes the node key, sends a CSR with the bootstrap token over
 * TLS that trusts only the pinned CA, checks what comes back, and writes the state dir.
 */
public final class Joiner {
    private static final Logger LOG = Logger.getLogger(Joiner.class.getName());
    private static final Pattern TOKEN = Pattern.compile("[a-z0-9]{1,64}\\.[A-Za-z0-9]{1,256}");
    private static final Pattern NODE_NAME = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");

    public record Request(String server, String token, CaPin pin, String nodeName, Map<String, String> labels,
                          StateDir stateDir, boolean force, Duration connectTimeout) {
        public Request {
            labels = Map.copyOf(labels);
        }
    }

    public record Result(String nodeName, String syncEndpoint, Path stateDir) {}

    /** Checks what can be checked before any network traffic; throws IllegalArgumentException (usage). */
    public static void validate(Request request) {
        if (request.server() == null || !request.server().matches("[^\\s/]+:\\d{1,5}")) {
            throw new IllegalArgumentException("--server must be HOST:PORT, got '" + request.server() + "'");
        }
        if (request.token() == null || !TOKEN.matcher(request.token()).matches()) {
            throw new IllegalArgumentException("--token must be ID.SECRET");
        }
        if (!NODE_NAME.matcher(request.nodeName()).matches()) {
            throw new IllegalArgumentException("--name must be a DNS-1123 label (lower-case letters, digits, '-', 1-63 chars), got '"
                    + request.nodeName() + "'");
        }
    }

    /** Joins refused with a "retry later" (RESOURCE_EXHAUSTED) are tried this often, each wait at most as long. */
    private static final int MAX_THROTTLED_ATTEMPTS = 10;
    private static final java.time.Duration MAX_THROTTLED_WAIT = java.time.Duration.ofSeconds(60);

    public Result join(Request request) throws JoinFailure {
        validate(request);
        StateDir state = request.stateDir();
        if (state.joined() && !request.force()) {
            String name;
            try {
                name = state.readNode().name();
            } catch (IOException e) {
                name = "?";
            }
            throw new JoinFailure(JoinFailure.Reason.OTHER, "already joined as node '" + name + "' (state dir "
                    + state.path() + "); use --force to join again");
        }

        KeyPair keys = NodeKeys.generate();
        JoinRequest call = JoinRequest.newBuilder()
                .setToken(request.token())
                .setCsrPem(NodeKeys.csrPem(keys, request.nodeName()))
                .setNodeName(request.nodeName())
                .putAllLabels(request.labels())
                .setInfo(HostInfo.describe(""))
                .build();

        CaPin.PinningTrustManager trust = request.pin().trustManager(hostOf(request.server()));
        ManagedChannel channel;
        try {
            channel = NettyChannelBuilder.forTarget(request.server())
                    .sslContext(GrpcSslContexts.forClient().trustManager(trust).build())
                    .withOption(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) request.connectTimeout().toMillis())
                    .build();
        } catch (SSLException e) {
            throw new JoinFailure(JoinFailure.Reason.OTHER, "cannot set up TLS: " + e.getMessage(), e);
        }
        JoinResponse response;
        try {
            response = call(channel, call, trust, request);
        } finally {
            channel.shutdownNow();
            try {
                channel.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        String nodeName = response.getNodeName().isEmpty() ? request.nodeName() : response.getNodeName();
        checkResponse(response, keys, request.pin());
        try {
            if (request.force()) {
                // A new identity starts from nothing: the old journal belongs to the old node.
                deleteTree(state.journalDir());
            }
            // Only the pinned CA becomes a trust anchor, whatever else the bundle held.
            state.writeIdentity(Pem.pkcs8(keys.getPrivate()), response.getCertificatePem(), pinnedCaPem(response, request.pin()),
                    new StateDir.NodeRecord(nodeName, request.server(), response.getSyncEndpoint()));
        } catch (IOException e) {
            throw new JoinFailure(JoinFailure.Reason.OTHER, "joined, but cannot write the state dir " + state.path() + ": " + e.getMessage(), e);
        }
        LOG.info(() -> "joined as " + nodeName + ", sync endpoint " + response.getSyncEndpoint());
        return new Result(nodeName, response.getSyncEndpoint(), state.path());
    }

    /** The Join call; a control plane under a join storm says when to come back: wait as told, a few times. */
    private static JoinResponse call(ManagedChannel channel, JoinRequest call, CaPin.PinningTrustManager trust, Request request)
            throws JoinFailure {
        for (int attempt = 1; ; attempt++) {
            try {
                return AgentServiceGrpc.newBlockingStub(channel)
                        .withDeadlineAfter(request.connectTimeout().toMillis() + 10_000, TimeUnit.MILLISECONDS)
                        .join(call);
            } catch (StatusRuntimeException e) {
                java.util.Optional<java.time.Duration> retry = dev.edgeplane.agent.sync.SyncClient.retryDelay(e, e.getStatus());
                if (retry.isEmpty() || attempt >= MAX_THROTTLED_ATTEMPTS || retry.get().compareTo(MAX_THROTTLED_WAIT) > 0) {
                    throw classify(e, trust, request.server());
                }
                LOG.info(() -> "join: " + e.getStatus().getDescription() + "; waiting " + retry.get().toMillis() + " ms");
                try {
                    Thread.sleep(retry.get().toMillis());
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw new JoinFailure(JoinFailure.Reason.OTHER, "interrupted while waiting to join", interrupted);
                }
            }
        }
    }

    private static JoinFailure classify(StatusRuntimeException e, CaPin.PinningTrustManager trust, String server) {
        Status status = e.getStatus();
        CertificateException refusal = trust.refusal();
        if (refusal != null) {
            return new JoinFailure(JoinFailure.Reason.CA_MISMATCH, "refusing " + server + ": " + refusal.getMessage(), e);
        }
        String detail = status.getDescription() == null ? status.getCode().toString() : status.getDescription();
        return switch (status.getCode()) {
            case UNAUTHENTICATED, PERMISSION_DENIED ->
                    new JoinFailure(JoinFailure.Reason.TOKEN_REFUSED, "join refused by " + server + ": " + detail, e);
            case UNAVAILABLE, DEADLINE_EXCEEDED ->
                    new JoinFailure(JoinFailure.Reason.UNREACHABLE, "cannot reach " + server + ": " + reachDetail(e), e);
            default -> new JoinFailure(JoinFailure.Reason.OTHER, "join failed (" + status.getCode() + "): " + detail, e);
        };
    }

    private static String reachDetail(StatusRuntimeException e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root.getMessage() != null ? root.getMessage() : e.getStatus().getDescription();
        return message == null ? e.getStatus().getCode().toString() : message;
    }

    private static void checkResponse(JoinResponse response, KeyPair keys, CaPin pin) throws JoinFailure {
        try {
            List<X509Certificate> certificates = Pem.certificates(response.getCertificatePem());
            if (!certificates.get(0).getPublicKey().equals(keys.getPublic())) {
                throw new JoinFailure(JoinFailure.Reason.OTHER, "the server returned a certificate for another key");
            }
            X509Certificate ca = pin.find(Pem.certificates(response.getCaBundlePem())).orElseThrow(() -> new JoinFailure(
                    JoinFailure.Reason.CA_MISMATCH, "the CA bundle from the server does not contain the pinned CA " + pin.hash()));
            try {
                certificates.get(0).verify(ca.getPublicKey());
            } catch (java.security.GeneralSecurityException e) {
                throw new JoinFailure(JoinFailure.Reason.CA_MISMATCH, "the certificate the server returned is not signed by the pinned CA", e);
            }
        } catch (CertificateException e) {
            throw new JoinFailure(JoinFailure.Reason.OTHER, "the server returned unreadable certificates: " + e.getMessage(), e);
        }
        if (response.getSyncEndpoint().isEmpty()) {
            throw new JoinFailure(JoinFailure.Reason.OTHER, "the server returned no sync endpoint");
        }
    }

    private static String pinnedCaPem(JoinResponse response, CaPin pin) throws JoinFailure {
        try {
            return Pem.encode(pin.find(Pem.certificates(response.getCaBundlePem())).orElseThrow());
        } catch (CertificateException e) {
            throw new JoinFailure(JoinFailure.Reason.OTHER, "the server returned unreadable certificates: " + e.getMessage(), e);
        }
    }

    /** The host of "host:port" or "[v6]:port" (a target without a port is all host). */
    static String hostOf(String server) {
        if (server.startsWith("[")) {
            int end = server.indexOf(']');
            return end > 0 ? server.substring(1, end) : server;
        }
        int colon = server.lastIndexOf(':');
        return colon > 0 && server.indexOf(':') == colon ? server.substring(0, colon) : server;
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }
}
