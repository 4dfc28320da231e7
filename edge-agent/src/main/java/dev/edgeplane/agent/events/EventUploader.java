package dev.edgeplane.agent.events;

import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.EventReport;
import dev.edgeplane.api.v1.EventReportAck;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.logging.Logger;

/**
 * Uploads the {@link EventSpool} on AgentService.ReportEvents: its own HTTP/2 stream on the Sync
 * channel, opened only while Sync is up (control traffic first) and there is something to report,
 * kept open after that, one report in flight at a time and
 * only when the stream is ready (HTTP/2 flow control). A report leaves the spool only when a
 * cumulative ack covers it; when the stream dies the report in flight is sent again on the next one.
 */
public final class EventUploader implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(EventUploader.class.getName());

    private final Channel channel;
    private final BooleanSupplier syncUp;
    private final EventSpool spool;
    private final Duration interval;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "event-upload");
        t.setDaemon(true);
        return t;
    });
    // Timer thread only, except where noted.
    private ClientCallStreamObserver<EventReport> stream;
    private long awaiting = -1;
    private String lastProblem = "";
    /** No new stream before this (System.nanoTime): a control plane without ReportEvents is asked rarely. */
    private long openAfter = System.nanoTime();

    public EventUploader(Channel channel, BooleanSupplier syncUp, EventSpool spool, Duration interval) {
        this.channel = channel;
        this.syncUp = syncUp;
        this.spool = spool;
        this.interval = interval;
    }

    public void start() {
        timer.scheduleWithFixedDelay(this::tick, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void tick() {
        try {
            if (!syncUp.getAsBoolean()) {
                closeStream("sync is down");
                return;
            }
            if (stream == null) {
                if (System.nanoTime() - openAfter < 0 || nothingToSay()) {
                    return;
                }
                open();
            }
            if (awaiting >= 0 || !stream.isReady()) {
                return;
            }
            Optional<EventReport> report = spool.next();
            if (report.isPresent()) {
                awaiting = report.get().getSequence();
                stream.onNext(report.get());
                LOG.fine(() -> "events: sent report " + report.get().getSequence() + " with " + report.get().getEventsCount()
                        + " records" + (report.get().getDropped() > 0 ? ", " + report.get().getDropped() + " dropped" : ""));
            }
        } catch (RuntimeException e) {
            LOG.fine(() -> "events: upload failed: " + e);
            closeStream(e.toString());
        }
    }

    /**
     * No record and no drop to report: no stream yet. A node with nothing to say costs the control plane
     * no stream (a restarted control plane would otherwise take one more call from every node at once).
     */
    private boolean nothingToSay() {
        return spool.size() == 0 && spool.droppedNotReported() == 0;
    }

    private void open() {
        Acks acks = new Acks();
        AgentServiceGrpc.newStub(channel).reportEvents(acks);
        stream = acks.requests; // set by beforeStart, inside reportEvents()
        awaiting = -1;
    }

    /** One stream's acks; callbacks hop onto the timer thread, where the state lives. */
    private final class Acks implements ClientResponseObserver<EventReport, EventReportAck> {
        private ClientCallStreamObserver<EventReport> requests;

        @Override
        public void beforeStart(ClientCallStreamObserver<EventReport> requestStream) {
            requests = requestStream;
            // Ready again after flow control held us back: offer the next report at once.
            requestStream.setOnReadyHandler(() -> submit(EventUploader.this::tick));
        }

        @Override
        public void onNext(EventReportAck ack) {
            spool.ack(ack.getSequence());
            submit(() -> {
                if (stream == requests && ack.getSequence() >= awaiting) {
                    awaiting = -1;
                    lastProblem = "";
                    tick(); // the next report without waiting for the timer
                }
            });
        }

        @Override
        public void onError(Throwable t) {
            submit(() -> ended(requests, Status.fromThrowable(t)));
        }

        @Override
        public void onCompleted() {
            submit(() -> ended(requests, Status.OK.withDescription("closed by the control plane")));
        }
    }

    private void ended(ClientCallStreamObserver<EventReport> which, Status status) {
        if (which != stream) {
            return;
        }
        String problem = status.getCode() + (status.getDescription() == null ? "" : " " + status.getDescription());
        if (!problem.equals(lastProblem)) {
            LOG.info("events: upload stream ended (" + problem + "); the unacked report is sent again on the next one");
            lastProblem = problem;
        }
        stream = null;
        awaiting = -1;
        if (status.getCode() == Status.Code.UNIMPLEMENTED) {
            openAfter = System.nanoTime() + TimeUnit.MINUTES.toNanos(1); // an older control plane: events wait here
        }
    }

    private void closeStream(String why) {
        if (stream != null) {
            stream.cancel(why, null);
            stream = null;
        }
        awaiting = -1;
    }

    private void submit(Runnable task) {
        try {
            timer.execute(task);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // stopping
        }
    }

    @Override
    public void close() {
        try {
            timer.submit(() -> closeStream("agent stopping")).get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.fine(() -> "events: closing the upload stream: " + e);
        }
        timer.shutdownNow();
    }
}
