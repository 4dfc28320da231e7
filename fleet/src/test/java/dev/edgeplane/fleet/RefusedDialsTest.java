package dev.edgeplane.fleet;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.net.ConnectException;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class RefusedDialsTest {
    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    private final RefusedDials dials = new RefusedDials(now::get);
    private static final String CP = "127.0.0.1:7443";

    @Test
    void aDialRightAfterARefusalWouldBeRefused() {
        assertFalse(dials.wouldRefuse(CP), "nothing refused yet");
        dials.observe(CP, Status.UNAVAILABLE.withCause(new ConnectException("finishConnect(..) failed: Connection refused")).asRuntimeException());
        assertTrue(dials.wouldRefuse(CP));
        now.addAndGet(RefusedDials.WINDOW_NANOS - 1);
        assertTrue(dials.wouldRefuse(CP));
    }

    @Test
    void theWindowPassesAndTheNextAgentDialsForReal() {
        dials.observe(CP, new ConnectException("Connection refused"));
        now.addAndGet(RefusedDials.WINDOW_NANOS);
        assertFalse(dials.wouldRefuse(CP));
    }

    @Test
    void aRefusalSaysNothingOfAnotherEndpoint() {
        dials.observe(CP, new ConnectException("Connection refused"));
        assertFalse(dials.wouldRefuse("127.0.0.2:7443"));
    }

    @Test
    void otherFailuresAreNotRefusals() {
        dials.observe(CP, Status.UNAVAILABLE.withCause(new ConnectException("connection timed out")).asRuntimeException());
        dials.observe(CP, Status.UNAVAILABLE.withDescription("the control plane closed the stream").asRuntimeException());
        dials.observe(CP, null);
        assertFalse(dials.wouldRefuse(CP), "a timeout or a closed stream says nothing of a dial now");
    }
}
