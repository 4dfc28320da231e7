package dev.edgeplane.e2e;

import dev.edgeplane.api.v1.Ack;
import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.Hello;
import dev.edgeplane.api.v1.JoinRequest;
import dev.edgeplane.api.v1.JoinResponse;
import dev.edgeplane.api.v1.NodeInfo;
import dev.edgeplane.api.v1.SyncRequest;
import dev.edgeplane.api.v1.SyncResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import java.io.ByteArrayInputStream;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/**
 * Many agents in one JVM speaking the real Sync protocol over mutual TLS, each on its own
 * connection: Hello with the acked revision, cumulative Acks, full-jitter reconnects (first under
 * 1 s, cap 30 s) that honour RESOURCE_EXHAUSTED. No containers: they only track desired state.
 */
final class SimulatedAgents implements AutoCloseable {
    private final EpollEventLoopGroup group = new EpollEventLoopGroup(2);
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "sim-agents-reconnect");
        t.setDaemon(true);
        return t;
    });
    private final List<Agent> agents = new ArrayList<>();
    final AtomicInteger snapshots = new AtomicInteger();
    final AtomicInteger changes = new AtomicInteger();
    final AtomicLong bytesReceived = new AtomicLong();
    final AtomicInteger refusedBusy = new AtomicInteger();
    private volatile boolean closed;

    /** Joins {@code n} agents named prefix-i with one multi-use token and opens their Sync streams. */
    void joinAndConnect(String joinAddress, String token, String prefix, int n) throws Exception {
        // The join's TLS trust is the CA pin in the real agent; here the answer's CA bundle is used
        // for Sync (mutual TLS), which is the part measured.
        var joinSsl = GrpcSslContexts.forClient().trustManager(InsecureTrustManagerFactory.INSTANCE).build();
        ManagedChannel joinChannel = channel(joinAddress, joinSsl);
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"));
            for (int i = 0; i < n; i++) {
                String name = prefix + "-" + i;
                KeyPair key = generator.generateKeyPair();
                JoinResponse joined = AgentServiceGrpc.newBlockingStub(joinChannel).withDeadlineAfter(20, TimeUnit.SECONDS)
                        .join(JoinRequest.newBuilder().setToken(token).setCsrPem(csr(key, name)).setNodeName(name)
                                .setInfo(NodeInfo.newBuilder().setHostname(name).setOs("linux").setArch("amd64")
                                        .setAgentVersion("simulated"))
                                .build());
                var syncSsl = GrpcSslContexts.forClient().trustManager(parse(joined.getCaBundlePem()))
                        .keyManager(key.getPrivate(), parse(joined.getCertificatePem())).build();
                Agent agent = new Agent(name, channel(joined.getSyncEndpoint(), syncSsl));
                agents.add(agent);
                agent.connect();
            }
        } finally {
            joinChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /** Agents whose current stream got its first Snapshot/Changes at or after {@code since} (nanoTime) and acked it. */
    int resumedSince(long since) {
        return (int) agents.stream().filter(a -> a.lastResumeNanos.get() >= since).count();
    }

    int size() {
        return agents.size();
    }

    private ManagedChannel channel(String hostPort, io.netty.handler.ssl.SslContext ssl) {
        int colon = hostPort.lastIndexOf(':');
        return NettyChannelBuilder.forAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)))
                .eventLoopGroup(group).channelType(EpollSocketChannel.class).sslContext(ssl)
                .keepAliveTime(20, TimeUnit.SECONDS).keepAliveTimeout(10, TimeUnit.SECONDS)
                .build();
    }

    private static String csr(KeyPair key, String name) throws Exception {
        var csr = new JcaPKCS10CertificationRequestBuilder(new X500Name("CN=" + name), key.getPublic())
                .build(new JcaContentSignerBuilder("SHA256withECDSA").build(key.getPrivate()));
        StringWriter out = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(out)) {
            writer.writeObject(csr);
        }
        return out.toString();
    }

    private static X509Certificate parse(String pem) throws Exception {
        return (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
    }

    private final class Agent {
        final String name;
        final ManagedChannel channel;
        final AtomicLong applied = new AtomicLong();
        final AtomicLong lastResumeNanos = new AtomicLong(-1);
        int failures;

        Agent(String name, ManagedChannel channel) {
            this.name = name;
            this.channel = channel;
        }

        void connect() {
            if (closed) {
                return;
            }
            var first = new java.util.concurrent.atomic.AtomicBoolean(true);
            var out = new java.util.concurrent.atomic.AtomicReference<StreamObserver<SyncRequest>>();
            StreamObserver<SyncRequest> requests = AgentServiceGrpc.newStub(channel).sync(new StreamObserver<>() {
                @Override
                public void onNext(SyncResponse r) {
                    long revision;
                    if (r.hasSnapshot()) {
                        snapshots.incrementAndGet();
                        revision = r.getSnapshot().getRevision();
                    } else if (r.hasChanges()) {
                        changes.incrementAndGet();
                        revision = r.getChanges().getRevision();
                    } else {
                        return;
                    }
                    bytesReceived.addAndGet(r.getSerializedSize());
                    applied.accumulateAndGet(revision, Math::max);
                    synchronized (out) {
                        out.get().onNext(SyncRequest.newBuilder().setAck(Ack.newBuilder().setRevision(revision)).build());
                    }
                    if (first.getAndSet(false)) {
                        failures = 0;
                        lastResumeNanos.set(System.nanoTime());
                    }
                }

                @Override
                public void onError(Throwable t) {
                    retry(Status.fromThrowable(t));
                }

                @Override
                public void onCompleted() {
                    retry(Status.UNAVAILABLE);
                }
            });
            out.set(requests);
            synchronized (out) {
                requests.onNext(SyncRequest.newBuilder().setHello(Hello.newBuilder()
                        .setLastAppliedRevision(applied.get())
                        .setInfo(NodeInfo.newBuilder().setHostname(name).setAgentVersion("simulated"))).build());
            }
        }

        void retry(Status status) {
            if (closed) {
                return;
            }
            long delayMs;
            if (status.getCode() == Status.Code.RESOURCE_EXHAUSTED) {
                refusedBusy.incrementAndGet();
                delayMs = 1000; // the server's RetryInfo is about a second; keep it simple here
            } else {
                long cap = Math.min(30_000, 800L << Math.min(failures, 6));
                delayMs = ThreadLocalRandom.current().nextLong(cap + 1);
                failures++;
            }
            timer.schedule(this::connect, delayMs, TimeUnit.MILLISECONDS);
        }
    }

    @Override
    public void close() throws InterruptedException {
        closed = true;
        timer.shutdownNow();
        for (Agent a : agents) {
            a.channel.shutdownNow();
        }
        for (Agent a : agents) {
            a.channel.awaitTermination(5, TimeUnit.SECONDS);
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS);
    }

    static Duration since(long nanos) {
        return Duration.ofNanos(System.nanoTime() - nanos);
    }
}
