package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.MetricsAck;
import dev.edgeplane.api.v1.MetricsBatch;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/** One ReportMetrics stream of a test agent: acks land in a queue. */
final class MetricsReporter implements AutoCloseable {
    final LinkedBlockingQueue<MetricsAck> acks = new LinkedBlockingQueue<>();
    final AtomicReference<Throwable> error = new AtomicReference<>();
    /** Every ack received, in order (the queue is drained by the waits). */
    final java.util.List<MetricsAck> received = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final StreamObserver<MetricsBatch> batches;
    private final Context.CancellableContext context = Context.current().withCancellation();

    MetricsReporter(ManagedChannel channel) {
        AtomicReference<StreamObserver<MetricsBatch>> out = new AtomicReference<>();
        context.run(() -> out.set(AgentServiceGrpc.newStub(channel).reportMetrics(new StreamObserver<>() {
            @Override
            public void onNext(MetricsAck ack) {
                received.add(ack);
                acks.add(ack);
            }

            @Override
            public void onError(Throwable t) {
                error.set(t);
            }

            @Override
            public void onCompleted() {}
        })));
        batches = out.get();
    }

    synchronized void send(MetricsBatch batch) {
        batches.onNext(batch);
    }

    /** Sends and waits for the ack that covers it. */
    void sendAndAwaitAck(MetricsBatch batch, Duration timeout) throws InterruptedException {
        send(batch);
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            MetricsAck ack = acks.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (ack == null) {
                throw new AssertionError("no ack for batch " + batch.getSequence() + " within " + timeout
                        + (error.get() == null ? "" : "; stream failed: " + error.get()));
            }
            if (ack.getSequence() >= batch.getSequence()) {
                return;
            }
        }
    }

    Throwable awaitError(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (error.get() == null && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        return error.get();
    }

    void complete() {
        batches.onCompleted();
    }

    @Override
    public void close() {
        context.cancel(null);
    }
}
