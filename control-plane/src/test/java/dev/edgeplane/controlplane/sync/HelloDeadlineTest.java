package dev.edgeplane.controlplane.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.Hello;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.JoinTokenSpec;
import dev.edgeplane.api.v1.SyncRequest;
import dev.edgeplane.controlplane.EtcdTestResource;
import dev.edgeplane.controlplane.TestApi;
import io.grpc.Status;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** A Sync stream that never says Hello is closed after edgeplane.fanout.hello-timeout (3 s in this profile). */
@QuarkusTest
@TestProfile(UnreachableNodeTest.ShortUnreachable.class) // shares its Quarkus start
@QuarkusTestResource(EtcdTestResource.class)
class HelloDeadlineTest {
    private static final Duration WAIT = Duration.ofSeconds(20);

    @Inject
    AgentEndpoint endpoint;

    @Test
    void aSyncStreamWithoutHelloIsClosedAtTheDeadlineAndItsAdmissionSlotFreed() throws Exception {
        try (TestApi api = new TestApi(); TestAgent agent = new TestAgent("edge-mute")) {
            JoinToken token = api.tokens().createJoinToken(CreateJoinTokenRequest.newBuilder().setToken(JoinToken.newBuilder()
                    .setSpec(JoinTokenSpec.newBuilder().putNodeLabels("pool", "mute"))).build());
            agent.join(TestApi.agentPort(), token.getStatus().getToken(), token.getStatus().getCaHash());

            try (TestAgent.Stream mute = new TestAgent.Stream(agent.syncChannel(TestApi.agentPort()))) {
                // Opened and admitted: it holds a slot of the connect limiter until its Hello is served.
                TestApi.await("the stream admitted", WAIT, () -> endpoint.syncOpensInFlight() == 1);
                Throwable error = mute.awaitError(WAIT);
                assertNotNull(error, "the server closes a stream that never says Hello");
                Status status = Status.fromThrowable(error);
                assertEquals(Status.Code.DEADLINE_EXCEEDED, status.getCode());
                assertTrue(status.getDescription().contains("edgeplane.fanout.hello-timeout"), status.getDescription());
                assertEquals(0, endpoint.syncOpensInFlight(), "its admission slot is free again");
            }

            // The same agent, saying Hello at once, is served as usual.
            try (TestAgent.Stream stream = new TestAgent.Stream(agent.syncChannel(TestApi.agentPort()))) {
                stream.send(SyncRequest.newBuilder().setHello(Hello.newBuilder()).build());
                assertTrue(stream.next(WAIT).hasSnapshot());
                TestApi.await("the slot freed after the Hello", WAIT, () -> endpoint.syncOpensInFlight() == 0);
            }
        }
    }
}
