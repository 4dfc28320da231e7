package dev.edgeplane.agent.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.Heartbeat;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class ReplaceableChannelTest {
    /**
     * A control plane that closes every connection before HTTP/2 starts (as one shedding a reconnect
     * storm does): after the failed call and replace(), nothing dials until the next call. With
     * enterIdle() instead, gRPC's subchannel dials again on its own about a second later.
     */
    @Test
    void afterReplaceOnlyTheNextCallDials() throws Exception {
        AtomicInteger accepted = new AtomicInteger();
        try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread acceptor = new Thread(() -> {
                while (!server.isClosed()) {
                    try (Socket socket = server.accept()) {
                        accepted.incrementAndGet();
                    } catch (IOException e) {
                        return; // closed
                    }
                }
            }, "closing-acceptor");
            acceptor.start();
            AtomicInteger built = new AtomicInteger();
            ReplaceableChannel channel = new ReplaceableChannel(() -> {
                built.incrementAndGet();
                return NettyChannelBuilder.forAddress(server.getInetAddress().getHostAddress(), server.getLocalPort()).usePlaintext().build();
            });
            try {
                StatusRuntimeException failed = assertThrows(StatusRuntimeException.class,
                        () -> AgentServiceGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS).heartbeat(Heartbeat.getDefaultInstance()));
                assertEquals(Status.Code.UNAVAILABLE, failed.getStatus().getCode());
                assertEquals(1, accepted.get());

                channel.replace();
                Thread.sleep(3_500); // past gRPC's own reconnects of a failed subchannel (1 s, then 1.6 s more, +-20 %)
                assertEquals(1, accepted.get(), "dials made while the agent waits");
                assertEquals(1, built.get(), "the new channel is built by the next call, not before");

                assertThrows(StatusRuntimeException.class,
                        () -> AgentServiceGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS).heartbeat(Heartbeat.getDefaultInstance()));
                assertEquals(2, accepted.get(), "the next call dials on the new channel");
                assertEquals(2, built.get());
            } finally {
                channel.shutdownNow();
                channel.awaitTermination(5, TimeUnit.SECONDS);
                server.close();
                acceptor.join(5_000);
            }
        }
    }
}
