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

    @Test
    void aDialRightAfterARefusalWouldBeRefused() {
        assertFalse(dials.wouldRefuse(), "nothing refused yet");
        dials.observe(Status.UNAVAILABLE.withCause(new ConnectException("finishConnect(..) failed: Connection refused")).asRuntimeException());
        assertTrue(dials.wouldRefuse());
        now.addAndGet(RefusedDials.WINDOW_NANOS - 1);
        assertTrue(dials.wouldRefuse());
    }

    @Test
    void theWindowPassesAndTheNextAgentDialsForReal() {
        dials.observe(new ConnectException("Connection refused"));
        now.addAndGet(RefusedDials.WINDOW_NANOS);
        assertFalse(dials.wouldRefuse());
    }

    @Test
    void otherFailuresAreNotRefusals() {
        dials.observe(Status.UNAVAILABLE.withCause(new ConnectException("connection timed out")).asRuntimeException());
        dials.observe(Status.UNAVAILABLE.withDescription("the control plane closed the stream").asRuntimeException());
        dials.observe(null);
        assertFalse(dials.wouldRefuse(), "a timeout or a closed stream says nothing of a dial now");
    }
}
