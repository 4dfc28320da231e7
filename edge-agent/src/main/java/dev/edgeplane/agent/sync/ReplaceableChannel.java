package dev.edgeplane.agent.sync;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The agent's channel to the control plane, which {@link #replace} swaps for a new one after a
 * transport failure, so that the agent's own back-off is the only thing that dials.
 *
 * <p>Why not {@link ManagedChannel#enterIdle}: gRPC shuts the subchannel it gives up on down 5 s
 * later (ManagedChannelImpl's SUBCHANNEL_SHUTDOWN_DELAY_SECONDS), and until then that subchannel
 * reconnects on its own, 1 s and 2.6 s after the failure. Each such dial to a control plane that is
 * up again is a TLS handshake it makes for a connection nobody uses, in the middle of the reconnect
 * storm it is working through. A channel shut down now takes its transports and their reconnects
 * with it. Calls started on the old channel fail UNAVAILABLE; new calls go to the new one.
 */
public final class ReplaceableChannel extends Channel {
    private final Supplier<ManagedChannel> factory;
    private final String authority;
    private ManagedChannel current;
    /** {@link #current} was shut down by {@link #replace}: the next call builds a new one. */
    private boolean replaced;

    public ReplaceableChannel(Supplier<ManagedChannel> factory) {
        this.factory = factory;
        this.current = factory.get();
        this.authority = current.authority();
    }

    @Override
    public <Q, R> ClientCall<Q, R> newCall(MethodDescriptor<Q, R> method, CallOptions options) {
        return current().newCall(method, options);
    }

    @Override
    public String authority() {
        return authority;
    }

    /** Our own back-off decides when to dial: a call now dials now, whatever the channel's back-off says. */
    public synchronized void resetConnectBackoff() {
        if (!replaced) {
            current.resetConnectBackoff();
        }
    }

    /**
     * Shuts the current channel and its transports down at once; the next call dials on a new channel,
     * built then (a fleet of simulated agents losing their control plane together builds none until
     * each one's back-off is over).
     */
    public synchronized void replace() {
        if (replaced || current.isShutdown()) {
            return; // already replaced, or shut down for good
        }
        current.shutdownNow();
        replaced = true;
    }

    private synchronized ManagedChannel current() {
        if (replaced) {
            current = factory.get();
            replaced = false;
        }
        return current;
    }

    public synchronized void shutdownNow() {
        replaced = false; // for good: calls from now on fail
        current.shutdownNow();
    }

    public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
        ManagedChannel channel;
        synchronized (this) {
            channel = current;
        }
        return channel.awaitTermination(timeout, unit);
    }
}
