package dev.edgeplane.controlplane.sync;

import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import io.grpc.netty.GrpcSslContexts;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * TLS handshakes per second on the agent endpoint, JDK provider against OpenSSL (BoringSSL, from
 * netty-tcnative): {@code HANDSHAKES} (default 3,000) full mutual-TLS handshakes (node certificate,
 * ALPN h2, like an agent's), {@code CONCURRENCY} (default 64) at a time, new connection each, the
 * client always on OpenSSL so that only the server's provider changes. Prints
 * {@code BENCH fleet handshakes_per_s_jdk=... handshakes_per_s_openssl=...}. Not in CI (*Bench):
 * {@code mvn -o -pl control-plane -am test -Dtest=HandshakeBench -Dsurefire.failIfNoSpecifiedTests=false}.
 */
@QuarkusTest
@QuarkusTestResource(EtcdTestResource.class)
class HandshakeBench {
    @Inject
    AgentEndpoint endpoint;

    @Test
    void handshakesPerSecond() throws Exception {
        int handshakes = Integer.getInteger("handshakes", 3000);
        int concurrency = Integer.getInteger("concurrency", 64);
        TestAgent agent = new TestAgent("handshake-bench");
        try (TestApi api = new TestApi(); agent) {
            JoinToken token = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder()
                    .setToken(JoinToken.newBuilder().setSpec(JoinTokenSpec.newBuilder().setMaxUses(1))).build());
            agent.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());
            SslContext client = GrpcSslContexts.configure(io.netty.handler.ssl.SslContextBuilder.forClient(),
                            OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK)
                    .keyManager(agent.key.getPrivate(), TestAgent.parse(agent.joined.getCertificatePem()))
                    .trustManager(TestAgent.parse(agent.joined.getCaBundlePem()))
                    .build();
            Map<SslProvider, Double> rates = new LinkedHashMap<>();
            EventLoopGroup group = new NioEventLoopGroup(2);
            try {
                for (SslProvider provider : new SslProvider[] {SslProvider.JDK, SslProvider.OPENSSL}) {
                    if (provider == SslProvider.OPENSSL && !OpenSsl.isAvailable()) {
                        System.out.println("OpenSSL not available: " + OpenSsl.unavailabilityCause());
                        continue;
                    }
                    endpoint.restart(provider);
                    run(group, client, handshakes / 10, concurrency); // warm-up
                    long start = System.nanoTime();
                    int ok = run(group, client, handshakes, concurrency);
                    double seconds = (System.nanoTime() - start) / 1e9;
                    rates.put(provider, ok / seconds);
                    System.out.printf("handshakes server=%s ok=%d of %d in %.1f s%n", provider, ok, handshakes, seconds);
                }
            } finally {
                group.shutdownGracefully().sync();
                endpoint.restart(AgentEndpoint.tlsProvider("auto"));
            }
            System.out.printf("BENCH fleet handshakes=%d concurrency=%d handshakes_per_s_jdk=%.0f handshakes_per_s_openssl=%.0f%n",
                    handshakes, concurrency, rates.getOrDefault(SslProvider.JDK, 0.0), rates.getOrDefault(SslProvider.OPENSSL, 0.0));
        }
    }

    /** {@code n} handshakes, {@code concurrency} at a time; the number that succeeded. */
    private static int run(EventLoopGroup group, SslContext client, int n, int concurrency) throws InterruptedException {
        Semaphore slots = new Semaphore(concurrency);
        CountDownLatch done = new CountDownLatch(n);
        AtomicInteger ok = new AtomicInteger();
        Bootstrap bootstrap = new Bootstrap().group(group).channel(NioSocketChannel.class).handler(new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(client.newHandler(ch.alloc(), "127.0.0.1", TestApi.agentPort()));
            }
        });
        for (int i = 0; i < n; i++) {
            slots.acquire();
            bootstrap.connect("127.0.0.1", TestApi.agentPort()).addListener(connected -> {
                Channel channel = ((io.netty.channel.ChannelFuture) connected).channel();
                if (!connected.isSuccess()) {
                    slots.release();
                    done.countDown();
                    return;
                }
                channel.pipeline().get(SslHandler.class).handshakeFuture().addListener(handshake -> {
                    if (handshake.isSuccess()) {
                        ok.incrementAndGet();
                    }
                    channel.close();
                    slots.release();
                    done.countDown();
                });
            });
        }
        done.await();
        return ok.get();
    }
}
