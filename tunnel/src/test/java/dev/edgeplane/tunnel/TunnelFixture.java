package dev.edgeplane.tunnel;

import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.OpenTunnel;
import dev.edgeplane.api.v1.OpsServiceGrpc;
import dev.edgeplane.api.v1.TunnelFrame;
import dev.edgeplane.tunnel.audit.AuditLog;
import dev.edgeplane.tunnel.edge.CriContainers;
import dev.edgeplane.tunnel.edge.TunnelAgent;
import dev.edgeplane.tunnel.grant.GrantSigner;
import dev.edgeplane.tunnel.grant.GrantVerifier;
import dev.edgeplane.tunnel.hub.HubSettings;
import dev.edgeplane.tunnel.hub.OpsServer;
import dev.edgeplane.tunnel.hub.TunnelHub;
import dev.edgeplane.tunnel.policy.Allowlist;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.security.KeyPair;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import dev.edgeplane.testkit.TestPki;
import java.util.function.Consumer;

/**
 * Both ends of the tunnel over real loopback HTTP/2: one server carries the Ops API and the agent's
 * Tunnel RPC (as the control plane does), the agent end dials it on a channel of its own, and the
 * operator calls through a third. Sync's delivery of OpenTunnel is a direct call here.
 */
final class TunnelFixture implements AutoCloseable {
    static final String NODE = "edge-1";

    final KeyPair caKey;
    final AuditLog hubAudit = AuditLog.inMemory();
    final AuditLog agentAudit = AuditLog.inMemory();
    final TunnelHub hub;
    final TunnelAgent agent;
    final Server server;
    final ManagedChannel agentChannel;
    final ManagedChannel operatorChannel;
    volatile boolean online = true;
    /** Lets a test tamper with what the agent receives. */
    volatile java.util.function.UnaryOperator<OpenTunnel> deliver = o -> o;

    TunnelFixture(Allowlist allowlist, HubSettings settings, Optional<CriContainers> containers, Map<String, String> replicas) throws Exception {
        TestPki pki = TestPki.create("tunnel-test-ca");
        caKey = new KeyPair(pki.certificate().getPublicKey(), pki.authority().key());
        // The hub signs with a grant signer's key, certified by the CA for that only, as the control plane does.
        TestPki.Issued signer = pki.withUsages("grant-signer", dev.edgeplane.tunnel.grant.GrantSigning.OID);
        Clock clock = Clock.systemUTC();
        TunnelAgent[] agentRef = new TunnelAgent[1];
        hub = new TunnelHub((node, open) -> {
            if (!online || !node.equals(NODE)) {
                return false;
            }
            agentRef[0].open(deliver.apply(open));
            return true;
        }, new GrantSigner(() -> new dev.edgeplane.api.SwappableKeyManager.Identity(signer.key(),
                new java.security.cert.X509Certificate[] {signer.certificate()}), settings.grantLifetime(), clock), settings, hubAudit, clock);
        AgentServiceGrpc.AgentServiceImplBase agentService = new AgentServiceGrpc.AgentServiceImplBase() {
            @Override
            public StreamObserver<TunnelFrame> tunnel(StreamObserver<TunnelFrame> responses) {
                return hub.agentTunnel(NODE, responses);
            }
        };
        OpsServer ops = new OpsServer(hub, (namespace, replica) -> Optional.ofNullable(replicas.get(namespace + "/" + replica)));
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(agentService)
                .addService(ServerInterceptors.intercept(ops, OpsServer.subjectFrom(h -> "tester")))
                .build().start();
        agentChannel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        operatorChannel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        agent = new TunnelAgent(agentChannel, new GrantVerifier(List.of(caKey.getPublic()), NODE, clock),
                new TunnelAgent.Settings(allowlist, 64, java.time.Duration.ofSeconds(3)), containers, agentAudit, clock);
        agentRef[0] = agent;
    }

    OpsServiceGrpc.OpsServiceStub ops() {
        return OpsServiceGrpc.newStub(operatorChannel);
    }

    OpsServiceGrpc.OpsServiceBlockingStub opsBlocking() {
        return OpsServiceGrpc.newBlockingStub(operatorChannel);
    }

    @Override
    public void close() throws InterruptedException {
        agent.close();
        operatorChannel.shutdownNow();
        agentChannel.shutdownNow();
        hub.close();
        server.shutdownNow();
        server.awaitTermination(5, TimeUnit.SECONDS);
        operatorChannel.awaitTermination(5, TimeUnit.SECONDS);
        agentChannel.awaitTermination(5, TimeUnit.SECONDS);
    }

    static void quietly(Consumer<Void> c) {
        c.accept(null);
    }
}
