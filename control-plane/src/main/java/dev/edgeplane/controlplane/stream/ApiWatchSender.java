package dev.edgeplane.controlplane.stream;

import dev.edgeplane.controlplane.ControlPlaneConfig;
import io.grpc.stub.ServerCallStreamObserver;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.function.BinaryOperator;

/**
 * The threads that write the public API's watch streams (WatchApps, WatchEvents), apart from the
 * agents' Sync streams and from the etcd client's event loop, and the bound of each watch's backlog.
 */
@ApplicationScoped
public class ApiWatchSender {
    static final String BACKLOG_LIMIT = "edgeplane.fanout.watch-backlog";

    private final SendExecutor sender;
    private final int backlog;

    public ApiWatchSender(ControlPlaneConfig config) {
        this.sender = new SendExecutor("edgeplane-watch-send", config.fanout().sendThreads());
        this.backlog = config.fanout().watchBacklog();
    }

    /** A flow-controlled watch on {@code call}; create it during the call's first invocation. */
    public <K, M> FlowControlledWatch<K, M> watch(ServerCallStreamObserver<M> call, BinaryOperator<M> merge, Runnable onEnd) {
        return new FlowControlledWatch<>(call, sender, backlog, BACKLOG_LIMIT, merge, onEnd);
    }

    @PreDestroy
    void close() {
        sender.close();
    }
}
