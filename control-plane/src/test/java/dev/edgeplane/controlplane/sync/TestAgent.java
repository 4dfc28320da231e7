package dev.edgeplane.controlplane.sync;

import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.JoinRequest;
import dev.edgeplane.api.v1.JoinResponse;
import dev.edgeplane.api.v1.NodeInfo;
import dev.edgeplane.api.v1.SyncRequest;
import dev.edgeplane.api.v1.SyncResponse;
import io.grpc.ManagedChannel;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.ByteArrayInputStream;
import java.io.StringWriter;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/** A minimal agent for tests: joins like the real one (pinning the CA hash), then opens Sync streams. */
public final class TestAgent implements AutoCloseable {
    final String name;
    public final KeyPair key;
    JoinResponse joined;
    private ManagedChannel syncChannel;
    private final List<ManagedChannel> channels = new ArrayList<>();

    public TestAgent(String name) throws Exception {
        this.name = name;
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp256r1"));
        this.key = generator.generateKeyPair();
    }

    public String csrPem() throws Exception {
        var csr = new JcaPKCS10CertificationRequestBuilder(new X500Name("CN=whatever-i-ask-for"), key.getPublic())
                .build(new JcaContentSignerBuilder("SHA256withECDSA").build(key.getPrivate()));
        StringWriter out = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(out)) {
            writer.writeObject(csr);
        }
        return out.toString();
    }

    /** Join over TLS trusting only a server whose chain ends in a CA with {@code caHash}. */
    public JoinResponse join(int port, String token, String caHash) throws Exception {
        AtomicReference<X509Certificate[]> presented = new AtomicReference<>();
        SslContext ssl = GrpcSslContexts.forClient().trustManager(new PinningTrustManager(caHash, presented)).build();
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", port).sslContext(ssl).build();
        channels.add(channel);
        JoinResponse response = AgentServiceGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS)
                .join(JoinRequest.newBuilder().setToken(token).setCsrPem(csrPem()).setNodeName(name)
                        .putLabels("agent.edgeplane.dev/from-agent", "yes")
                        .setInfo(NodeInfo.newBuilder().setHostname(name + ".example").setOs("linux").setArch("amd64").setAgentVersion("test"))
                        .build());
        if (presented.get() == null || presented.get().length != 2) {
            throw new AssertionError("the server must present [leaf, CA]");
        }
        joined = response;
        return response;
    }

    public static X509Certificate parse(String pem) throws Exception {
        return (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
    }

    /** A channel with mutual TLS using the certificate from Join (or none, if {@code withCertificate} is false). */
    public ManagedChannel syncChannel(int port, boolean withCertificate) throws Exception {
        X509Certificate ca = parse(joined.getCaBundlePem());
        SslContextBuilder builder = GrpcSslContexts.forClient().trustManager(ca);
        if (withCertificate) {
            builder.keyManager(key.getPrivate(), parse(joined.getCertificatePem()));
        }
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", port).sslContext(builder.build()).build();
        channels.add(channel);
        return channel;
    }

    /**
     * A mutual-TLS channel whose HTTP/2 flow-control window is the protocol's minimum (64 KiB, no
     * auto-tuning): a stream on it that reads nothing stops the server's writes soon.
     */
    public ManagedChannel smallWindowChannel(int port) throws Exception {
        SslContextBuilder builder = GrpcSslContexts.forClient().trustManager(parse(joined.getCaBundlePem()))
                .keyManager(key.getPrivate(), parse(joined.getCertificatePem()));
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", port).sslContext(builder.build())
                .flowControlWindow(65535).build();
        channels.add(channel);
        return channel;
    }

    public ManagedChannel syncChannel(int port) throws Exception {
        if (syncChannel == null) {
            syncChannel = syncChannel(port, true);
        }
        return syncChannel;
    }

    /** One Sync stream: what the server sends lands in a queue. */
    public static final class Stream implements AutoCloseable {
        final LinkedBlockingQueue<SyncResponse> received = new LinkedBlockingQueue<>();
        final AtomicReference<Throwable> error = new AtomicReference<>();
        final StreamObserver<SyncRequest> requests;
        private final io.grpc.Context.CancellableContext context = io.grpc.Context.current().withCancellation();

        public Stream(ManagedChannel channel) {
            var stub = AgentServiceGrpc.newStub(channel);
            AtomicReference<StreamObserver<SyncRequest>> out = new AtomicReference<>();
            context.run(() -> out.set(stub.sync(new StreamObserver<>() {
                public void onNext(SyncResponse value) {
                    received.add(value);
                }

                public void onError(Throwable t) {
                    error.set(t);
                }

                public void onCompleted() {}
            })));
            requests = out.get();
        }

        public synchronized void send(SyncRequest request) {
            requests.onNext(request);
        }

        /** The next Snapshot or Changes (heartbeat acks skipped). */
        public SyncResponse next(Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (true) {
                long left = deadline - System.nanoTime();
                SyncResponse r = left <= 0 ? null : received.poll(left, TimeUnit.NANOSECONDS);
                if (r == null) {
                    throw new AssertionError("nothing received within " + timeout + (error.get() == null ? "" : "; stream failed: " + error.get()));
                }
                if (!r.hasHeartbeatAck()) {
                    return r;
                }
            }
        }

        /** Waits until the stream has failed and returns the error. */
        public Throwable awaitError(Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (error.get() == null && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            return error.get();
        }

        @Override
        public void close() {
            context.cancel(null);
        }
    }

    @Override
    public void close() {
        for (ManagedChannel channel : channels) {
            channel.shutdownNow();
        }
        for (ManagedChannel channel : channels) {
            try {
                channel.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Trusts the server only if its chain's last certificate is the CA with the pinned hash (kubeadm-style). */
    private static final class PinningTrustManager extends X509ExtendedTrustManager {
        private final String caHash;
        private final AtomicReference<X509Certificate[]> presented;

        PinningTrustManager(String caHash, AtomicReference<X509Certificate[]> presented) {
            this.caHash = caHash;
            this.presented = presented;
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws java.security.cert.CertificateException {
            presented.set(chain);
            X509Certificate ca = chain[chain.length - 1];
            try {
                String hash = "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(ca.getEncoded()));
                if (!hash.equals(caHash)) {
                    throw new java.security.cert.CertificateException("CA hash mismatch: " + hash);
                }
                chain[0].verify(ca.getPublicKey());
            } catch (java.security.GeneralSecurityException e) {
                throw new java.security.cert.CertificateException(e);
            }
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws java.security.cert.CertificateException {
            checkServerTrusted(chain, authType);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws java.security.cert.CertificateException {
            checkServerTrusted(chain, authType);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {}

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) {}

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {}

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
