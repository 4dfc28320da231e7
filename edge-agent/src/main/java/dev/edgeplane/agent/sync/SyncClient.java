package dev.edgeplane.agent.sync;

import com.google.protobuf.Timestamp;
import com.google.rpc.RetryInfo;
import dev.edgeplane.agent.journal.DesiredState;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.status.StatusManager;
import dev.edgeplane.api.v1.Ack;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.Changes;
import dev.edgeplane.api.v1.Snapshot;
import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.Heartbeat;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.Hello;
import dev.edgeplane.api.v1.NodeCondition;
import dev.edgeplane.api.v1.NodeInfo;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.api.v1.SyncRequest;
import dev.edgeplane.api.v1.SyncResponse;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.handler.ssl.SslContext;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.IntSupplier;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.random.RandomGenerator;

/**
 * Keeps one Sync stream to the control plane open: Hello with the journal's revision (and the hashes
 * of the templates it holds), then applies each Snapshot/Changes, its templates filled in by hash
 * ({@link TemplateCache}), to the journal DURABLY before the cumulative Ack, reports replica statuses
 * (everything after connecting, then changes) and heartbeats. Reconnects with full-jitter back-off,
 * honouring a server's RESOURCE_EXHAUSTED retry delay. Never touches workloads itself: a lost link
 * only means no news.
 */
public final class SyncClient implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(SyncClient.class.getName());
    /** An unanswered keepalive ping ends the connection after this. */
    static final Duration KEEPALIVE_TIMEOUT = Duration.ofSeconds(10);
    private static final Metadata.Key<String> RETRY_AFTER = Metadata.Key.of("retry-after", Metadata.ASCII_STRING_MARSHALLER);

    /**
     * @param endpoint       host:port of the control plane's agent endpoint
     * @param heartbeat      longest gap between two heartbeats (60 s); a change of the replica counts is
     *                       sent within {@link HeartbeatSchedule#checkEvery} (10 s)
     * @param keepAlive      HTTP/2 ping after this long without hearing anything (75 s: past the heartbeat,
     *                       so an answered heartbeat makes pings unneeded); unanswered for 10 s more ends the link
     * @param retryBase      first reconnect waits at most this (2 s)
     * @param retryCap       reconnect waits are capped here (15 s)
     * @param statusInterval how often status changes are batched into a report
     */
    public record Settings(String endpoint, Duration heartbeat, Duration keepAlive, Duration retryBase, Duration retryCap,
                           Duration statusInterval) {
        public Settings withHeartbeat(Duration period) {
            return new Settings(endpoint, period, keepAlive, retryBase, retryCap, statusInterval);
        }

        public static Settings defaults(String endpoint) {
            // Reconnect: the first attempt within 2 s (a whole fleet that lost its control plane spreads
            // over that), then full-jitter windows of 4, 8, 15 s. The cap is what a fleet waits, at
            // worst, after a restarted control plane is back (FleetBench at 5,000: 45 s after it was
            // ready with a 30 s cap); a control plane that is up but busy spreads agents with RetryInfo,
            // not with this. Its cost: a refused TCP connect every ~7.5 s per agent while the cloud is down.
            // Idle cost: one heartbeat a minute and no pings (the heartbeat's answer resets the ping timer).
            return new Settings(endpoint, Duration.ofSeconds(60), Duration.ofSeconds(75), Duration.ofSeconds(2),
                    Duration.ofSeconds(15), Duration.ofMillis(500));
        }
    }

    private final Settings settings;
    private final DesiredStateStore desired;
    private final StatusManager status;
    private final Supplier<NodeInfo> info;
    private final IntSupplier desiredCount;
    private final Clock clock;
    private final ReplaceableChannel channel;
    private final EpollEventLoopGroup eventLoop;
    private final ScheduledExecutorService timer;
    private final ReconnectBackoff backoff;
    private final Thread loop;
    private final Object sendLock = new Object();
    /** Templates by hash: what the journal's assignments hold plus what the current stream carried. */
    private final TemplateCache templates = new TemplateCache();
    private final ConfigCache configs = new ConfigCache();
    private volatile boolean running;
    private volatile ClientCallStreamObserver<SyncRequest> current;
    private volatile boolean connected;
    /** When the control plane last acknowledged traffic beside Sync and heartbeats (metrics); null: never. */
    private volatile Instant heardElsewhere;
    /** Where an OpenTunnel from the control plane goes (the ops tunnel's edge end). */
    private volatile java.util.function.Consumer<dev.edgeplane.api.v1.OpenTunnel> tunnels =
            open -> LOG.warning("sync: no tunnel handler; ignoring session " + open.getSessionId());
    private volatile Runnable renewRequests = () -> { };
    private volatile Supplier<dev.edgeplane.api.v1.NodeStorage> storage = () -> null;
    private volatile Supplier<String> installedCertificate = () -> "";
    /** The installed certificate a heartbeat answer has acknowledged (per process: the first heartbeat says it). */
    private final java.util.concurrent.atomic.AtomicReference<String> acknowledgedCertificate = new java.util.concurrent.atomic.AtomicReference<>("");
    private volatile java.util.function.LongConsumer toldRevisions = revision -> { };
    private volatile java.util.function.LongConsumer appliedRevisions = revision -> { };
    /** The current stream's status report (a no-op between streams). */
    private volatile Runnable reportStatus = () -> { };
    /** A report is scheduled on the timer (set by the first change, cleared when it runs). */
    private final java.util.concurrent.atomic.AtomicBoolean reportScheduled = new java.util.concurrent.atomic.AtomicBoolean();
    /**
     * Change-driven reports a burst may send at once (e.g. a replica removed, then another one RUNNING
     * right after); the bucket refills one per status interval, so a busy node averages one a period.
     */
    static final int REPORT_BURST = 4;
    private final Object reportTokensLock = new Object();
    private double reportTokens = REPORT_BURST;
    private long reportTokensAt = System.nanoTime();

    public SyncClient(Settings settings, SslContext tls, DesiredStateStore desired, StatusManager status,
                      Supplier<NodeInfo> info, IntSupplier desiredCount, Clock clock) {
        this.settings = settings;
        this.desired = desired;
        this.status = status;
        this.info = info;
        this.desiredCount = desiredCount;
        this.clock = clock;
        // One event loop: the agent holds one connection. Patient connects (see PatientConnect) need
        // epoll sockets, hence our own group, shut down in close().
        this.eventLoop = new EpollEventLoopGroup(1, runnable -> {
            Thread thread = new Thread(runnable, "sync-netty");
            thread.setDaemon(true);
            return thread;
        });
        this.channel = new ReplaceableChannel(() -> SyncChannels.configure(NettyChannelBuilder.forTarget(settings.endpoint()),
                eventLoop, PatientConnect::newChannel, tls, settings.keepAlive(), KEEPALIVE_TIMEOUT).build());
        this.timer = Executors.newSingleThreadScheduledExecutor(runnable -> {
            Thread thread = new Thread(runnable, "sync-timer");
            thread.setDaemon(true);
            return thread;
        });
        this.backoff = new ReconnectBackoff(settings.retryBase(), settings.retryCap(), RandomGenerator.getDefault());
        this.loop = new Thread(this::run, "sync");
        this.loop.setDaemon(true);
        status.addListener(this::statusChanged);
    }

    /**
     * A replica status changed: reported at once while the bucket has a report left (an idle node's
     * RUNNING is not held back), else when it has one again, together with whatever changed meanwhile
     * (a busy node still averages one report per status interval).
     */
    private void statusChanged() {
        if (!reportScheduled.compareAndSet(false, true)) {
            return;
        }
        long wait;
        synchronized (reportTokensLock) {
            refillReportTokens();
            wait = reportTokens >= 1 ? 0 : (long) ((1 - reportTokens) * settings.statusInterval().toNanos());
        }
        try {
            timer.schedule(() -> {
                reportScheduled.set(false);
                synchronized (reportTokensLock) {
                    refillReportTokens();
                    reportTokens = Math.max(0, reportTokens - 1);
                }
                reportStatus.run();
            }, wait, TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.RejectedExecutionException stopping) {
            reportScheduled.set(false);
        }
    }

    private void refillReportTokens() {
        long now = System.nanoTime();
        reportTokens = Math.min(REPORT_BURST, reportTokens + (now - reportTokensAt) / (double) Math.max(1, settings.statusInterval().toNanos()));
        reportTokensAt = now;
    }

    /** The channel to the control plane: tunnel sessions open their streams on it, next to Sync. */
    public io.grpc.Channel channel() {
        return channel;
    }

    /** Where heartbeats get the node's storage from (null from it: nothing to say). */
    public void reportStorage(Supplier<dev.edgeplane.api.v1.NodeStorage> source) {
        storage = source;
    }

    /**
     * Where heartbeats get the hash of the node certificate installed on disk: said once per process and
     * after each renewal, until answered (the control plane's evidence that a renewal reached the node).
     */
    public void reportInstalledCertificate(Supplier<String> source) {
        installedCertificate = source;
    }

    /** Told when the control plane asks for the node certificate to be renewed now (a CA rollover, a lost renewal). */
    public void onRenewRequested(Runnable handler) {
        renewRequests = handler;
    }

    public void onOpenTunnel(java.util.function.Consumer<dev.edgeplane.api.v1.OpenTunnel> handler) {
        tunnels = handler;
    }

    /** Told each revision the control plane sends, and each one applied and acked (the agent's sync lag metric). */
    public void onRevisions(java.util.function.LongConsumer told, java.util.function.LongConsumer applied) {
        toldRevisions = told;
        appliedRevisions = applied;
    }

    public void start() {
        running = true;
        loop.start();
    }

    /** True while a Sync stream is open and the server has answered on it. */
    /**
     * The control plane acknowledged other traffic of this node (a metrics batch): it counts that as
     * hearing from the node, so the next periodic heartbeat can wait ({@link HeartbeatSchedule#heard}).
     */
    public void heardFromControlPlane() {
        heardElsewhere = clock.instant();
    }

    public boolean connected() {
        return connected;
    }

    private void run() {
        while (running) {
            Outcome outcome = session();
            connected = false;
            if (!running) {
                return;
            }
            if (outcome.established()) {
                backoff.reset();
            }
            if (outcome.transportFailure()) {
                // The channel would otherwise reconnect on its own (1 s, 1.6 s, ... and again at once
                // after resetConnectBackoff) while we wait: with a control plane that closes
                // connections at accept under a herd, a fleet of 19,000 made ~3,600 connections a second.
                // A new channel dials only when the next attempt starts a call (see ReplaceableChannel).
                channel.replace();
            }
            Duration delay = outcome.retryDelay().orElseGet(backoff::next);
            LOG.info(() -> "sync: " + outcome.reason() + "; reconnecting in " + delay.toMillis() + " ms");
            try {
                Thread.sleep(delay.toMillis());
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** @param transportFailure the link failed (UNAVAILABLE), not an answer of the server's */
    private record Outcome(boolean established, String reason, Optional<Duration> retryDelay, boolean transportFailure) {
        Outcome(boolean established, String reason, Optional<Duration> retryDelay) {
            this(established, reason, retryDelay, false);
        }
    }

    /** One Sync stream, from Hello until it ends. */
    private Outcome session() {
        CompletableFuture<Throwable> ended = new CompletableFuture<>();
        java.util.concurrent.atomic.AtomicBoolean established = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicReference<Instant> lastHeard = new java.util.concurrent.atomic.AtomicReference<>(clock.instant());
        java.util.concurrent.atomic.AtomicBoolean serverAcksHeartbeats = new java.util.concurrent.atomic.AtomicBoolean();
        // The storage last sent on this stream: a new stream (maybe another replica) hears it with its first heartbeat.
        java.util.concurrent.atomic.AtomicReference<dev.edgeplane.api.v1.NodeStorage> storageSent = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.atomic.AtomicBoolean unaryHeartbeats = new java.util.concurrent.atomic.AtomicBoolean(true);

        ClientResponseObserver<SyncRequest, SyncResponse> responses = new ClientResponseObserver<>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<SyncRequest> requestStream) {
                current = requestStream;
            }

            @Override
            public void onNext(SyncResponse response) {
                lastHeard.set(clock.instant());
                if (established.compareAndSet(false, true)) {
                    connected = true;
                    LOG.info(() -> "sync: connected to " + settings.endpoint());
                }
                try {
                    handle(response, serverAcksHeartbeats);
                } catch (IOException e) {
                    // Not durable -> not acked: drop the stream and resume from the last acked revision.
                    LOG.log(Level.SEVERE, "sync: cannot write the journal; not acking", e);
                    ClientCallStreamObserver<SyncRequest> stream = current;
                    if (stream != null) {
                        stream.cancel("journal write failed", e);
                    }
                } catch (RefusedMessage e) {
                    // Never a replica with a wrong or empty template or config: not applied, not acked; a new
                    // stream resumes from the last ack, and its Hello tells what this agent really has.
                    LOG.severe("sync: refusing a " + response.getKindCase() + " at revision " + revisionOf(response)
                            + ": " + e.getMessage() + "; reconnecting");
                    ClientCallStreamObserver<SyncRequest> stream = current;
                    if (stream != null) {
                        stream.cancel("refused a message: " + e.getMessage(), null);
                    }
                }
            }

            @Override
            public void onError(Throwable t) {
                ended.complete(t);
            }

            @Override
            public void onCompleted() {
                ended.complete(null);
            }
        };

        ClientCallStreamObserver<SyncRequest> requests;
        try {
            // Our own full-jitter back-off decides when to retry, not the channel's internal one
            // (which grows to 2 minutes and would make an RPC fail fast without even dialling).
            channel.resetConnectBackoff();
            AgentServiceGrpc.newStub(channel).sync(responses);
            requests = current;
            long revision = desired.helloRevision();
            // The templates the journal's assignments hold: the control plane does not send these again.
            List<String> heldTemplates = templates.startStream(desired.current());
            List<ConfigData> heldConfigs = configs.startStream(desired.current());
            send(SyncRequest.newBuilder().setHello(Hello.newBuilder()
                    .setLastAppliedRevision(revision).setInfo(info.get()).addAllTemplateHashes(heldTemplates)
                    .addAllHeldConfigs(heldConfigs)).build());
            LOG.fine(() -> "sync: hello with revision " + revision);
            // Every replica, volume and snapshot the agent knows, after (re)connecting.
            send(SyncRequest.newBuilder().setStatus(status.takeFullReport()).build());
        } catch (RuntimeException e) {
            return new Outcome(false, "cannot open the stream: " + e.getMessage(), Optional.empty());
        }

        Runnable statusChanges = () -> {
            StatusManager.Changes changes = status.takeChanges();
            if (!changes.isEmpty()) {
                send(SyncRequest.newBuilder().setStatus(StatusReport.newBuilder()
                        .addAllReplicas(changes.changed()).addAllRemoved(changes.removed())
                        .addAllVolumes(changes.volumes()).addAllSnapshots(changes.snapshots())
                        .addAllImagePulls(changes.imagePulls())
                        .addAllCronJobRuns(changes.cronJobRuns())).build());
            }
            // Events travel on their own ReportEvents stream (events.EventUploader), acked.
        };
        HeartbeatSchedule schedule = new HeartbeatSchedule(settings.heartbeat());
        Duration check = HeartbeatSchedule.checkEvery(settings.heartbeat());
        Runnable heartbeat = () -> {
            Instant elsewhere = heardElsewhere;
            Instant heard = elsewhere != null && elsewhere.isAfter(lastHeard.get()) ? elsewhere : lastHeard.get();
            // A server that answers heartbeats but has gone quiet for three periods is gone.
            if (serverAcksHeartbeats.get()
                    && Duration.between(heard, clock.instant()).compareTo(settings.heartbeat().multipliedBy(3)) > 0) {
                requests.cancel("no answer from the control plane for " + settings.heartbeat().multipliedBy(3).toSeconds() + " s", null);
                return;
            }
            Instant now = clock.instant();
            int running = status.running();
            int desiredReplicas = desiredCount.getAsInt();
            List<NodeCondition> conditions = info.get().getConditionsList();
            dev.edgeplane.api.v1.NodeStorage nodeStorage = storage.get();
            // Storage that moved a step is news too (placement reads it): told within a check, not a period.
            boolean storageNews = nodeStorage != null && dev.edgeplane.api.StorageReports.moved(storageSent.get(), nodeStorage);
            String installed = installedCertificate.get();
            boolean certificateNews = !installed.equals(acknowledgedCertificate.get());
            if (elsewhere != null) {
                schedule.heard(elsewhere);
            }
            boolean news = schedule.news(running, desiredReplicas, conditions) || storageNews;
            if (!schedule.due(now, running, desiredReplicas, conditions) && !storageNews && !certificateNews) {
                return;
            }
            schedule.sent(now, running, desiredReplicas, conditions);
            Heartbeat.Builder beatBuilder = Heartbeat.newBuilder()
                    .setTime(Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()))
                    .setRunningReplicas(running)
                    .setDesiredReplicas(desiredReplicas)
                    .addAllConditions(conditions);
            if (nodeStorage != null) {
                beatBuilder.setStorage(nodeStorage);
                if (storageNews) {
                    storageSent.set(nodeStorage);
                }
            }
            if (certificateNews) {
                beatBuilder.setInstalledCertificate(installed);
            }
            Heartbeat beat = beatBuilder.build();
            // News (new counts, conditions or storage, or a new stream's first word) rides on the Sync stream,
            // behind the status reports that made it: a fleet-wide placement or a control-plane restart
            // would otherwise open an HTTP/2 stream on every node at once. The installed certificate
            // waits for the call's answer, which is the control plane's word on renewal.
            if (!unaryHeartbeats.get() || (news && !certificateNews)) {
                send(SyncRequest.newBuilder().setHeartbeat(beat).build());
                return;
            }
            // The period's heartbeat on its own HTTP/2 stream: never queued behind a large Snapshot or status report.
            AgentServiceGrpc.newStub(channel).withDeadlineAfter(check.toMillis(), TimeUnit.MILLISECONDS)
                    .heartbeat(beat, new io.grpc.stub.StreamObserver<>() {
                        @Override
                        public void onNext(dev.edgeplane.api.v1.HeartbeatAck ack) {
                            lastHeard.set(clock.instant());
                            serverAcksHeartbeats.set(true);
                            if (certificateNews) {
                                acknowledgedCertificate.set(installed);
                            }
                            if (ack.getRenewCertificate()) {
                                renewRequests.run();
                            }
                        }

                        @Override
                        public void onError(Throwable t) {
                            if (Status.fromThrowable(t).getCode() == Status.Code.UNIMPLEMENTED) {
                                unaryHeartbeats.set(false); // an older control plane: heartbeats ride on Sync
                            }
                            LOG.fine(() -> "sync: heartbeat failed: " + Status.fromThrowable(t));
                        }

                        @Override
                        public void onCompleted() {}
                    });
        };
        reportStatus = safely(statusChanges);
        ScheduledFuture<?> statusTask = timer.scheduleWithFixedDelay(safely(statusChanges),
                settings.statusInterval().toMillis(), settings.statusInterval().toMillis(), TimeUnit.MILLISECONDS);
        ScheduledFuture<?> heartbeatTask = timer.scheduleWithFixedDelay(safely(heartbeat),
                check.toMillis(), check.toMillis(), TimeUnit.MILLISECONDS);
        Throwable error;
        try {
            error = ended.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            requests.cancel("agent stopping", null);
            error = null;
        } catch (java.util.concurrent.ExecutionException e) {
            error = e.getCause();
        } finally {
            statusTask.cancel(false);
            heartbeatTask.cancel(false);
            reportStatus = () -> { };
            current = null;
        }
        if (error == null) {
            return new Outcome(established.get(), "the control plane closed the stream", Optional.empty());
        }
        Status grpcStatus = Status.fromThrowable(error);
        String reason = grpcStatus.getCode() + (grpcStatus.getDescription() == null ? "" : ": " + grpcStatus.getDescription());
        if (grpcStatus.getCode() == Status.Code.UNAUTHENTICATED) {
            LOG.severe("sync: the control plane refuses this node (" + reason + "); was it deleted? join again with --force");
        }
        return new Outcome(established.get(), reason, retryDelay(error, grpcStatus), grpcStatus.getCode() == Status.Code.UNAVAILABLE);
    }

    /** The host checks every name it will turn into a path before anything is journalled. */
    private static void refuseBadNames(List<Assignment> assignments) throws RefusedMessage {
        for (Assignment assignment : assignments) {
            Optional<String> problem = AssignmentNames.problem(assignment);
            if (problem.isPresent()) {
                throw new RefusedMessage(problem.get());
            }
        }
    }

    private static long revisionOf(SyncResponse response) {
        return response.hasSnapshot() ? response.getSnapshot().getRevision() : response.getChanges().getRevision();
    }

    private void handle(SyncResponse response, java.util.concurrent.atomic.AtomicBoolean serverAcksHeartbeats)
            throws IOException, RefusedMessage {
        switch (response.getKindCase()) {
            case SNAPSHOT -> {
                toldRevisions.accept(response.getSnapshot().getRevision());
                // Templates filled in before the journal: it and the reconciler see full assignments.
                Snapshot resolved = configs.resolve(templates.resolve(response.getSnapshot()));
                refuseBadNames(resolved.getAssignmentsList());
                DesiredState state = desired.applySnapshot(resolved);
                LOG.info(() -> "sync: snapshot at revision " + state.revision() + ", " + state.assignments().size() + " assignments ("
                        + response.getSerializedSize() + " bytes)");
                ack(state.revision());
                appliedRevisions.accept(state.revision());
            }
            case CHANGES -> {
                toldRevisions.accept(response.getChanges().getRevision());
                Changes resolved = configs.resolve(templates.resolve(response.getChanges()));
                refuseBadNames(resolved.getChangesList().stream().filter(c -> c.getType() == Change.Type.PUT && c.hasAssignment())
                        .map(Change::getAssignment).toList());
                DesiredState state = desired.applyChanges(resolved);
                LOG.info(() -> "sync: " + response.getChanges().getChangesCount() + " changes up to revision " + state.revision()
                        + " (" + response.getSerializedSize() + " bytes)");
                ack(state.revision());
                appliedRevisions.accept(state.revision());
            }
            case HEARTBEAT_ACK -> serverAcksHeartbeats.set(true);
            case OPEN_TUNNEL -> tunnels.accept(response.getOpenTunnel());
            default -> LOG.fine("sync: ignoring an empty response");
        }
    }

    private void ack(long revision) {
        send(SyncRequest.newBuilder().setAck(Ack.newBuilder().setRevision(revision)).build());
    }

    private void send(SyncRequest request) {
        ClientCallStreamObserver<SyncRequest> stream = current;
        if (stream == null) {
            return;
        }
        synchronized (sendLock) { // StreamObserver is not thread-safe: acks, status and heartbeats share it
            stream.onNext(request);
        }
    }

    /** A server that is overloaded says when to come back: google.rpc.RetryInfo, or a retry-after trailer (seconds). */
    public static Optional<Duration> retryDelay(Throwable error, Status status) {
        if (status.getCode() != Status.Code.RESOURCE_EXHAUSTED) {
            return Optional.empty();
        }
        com.google.rpc.Status details = StatusProto.fromThrowable(error);
        if (details != null) {
            for (var any : details.getDetailsList()) {
                if (any.is(RetryInfo.class)) {
                    try {
                        var delay = any.unpack(RetryInfo.class).getRetryDelay();
                        Duration wait = Duration.ofSeconds(delay.getSeconds(), delay.getNanos());
                        return Optional.of(honour(wait, RandomGenerator.getDefault()));
                    } catch (com.google.protobuf.InvalidProtocolBufferException ignored) {
                        // fall through
                    }
                }
            }
        }
        Metadata trailers = Status.trailersFromThrowable(error);
        if (trailers != null && trailers.get(RETRY_AFTER) != null) {
            try {
                return Optional.of(Duration.ofSeconds(Long.parseLong(trailers.get(RETRY_AFTER).trim())));
            } catch (NumberFormatException ignored) {
                // fall through
            }
        }
        return Optional.empty();
    }

    /**
     * The server's delay plus a little jitter (up to 10%, at most 1 s), so agents told the same delay
     * spread out; the server already spreads its hints over its backlog, so no more than that.
     */
    static Duration honour(Duration hint, RandomGenerator random) {
        long jitterBound = Math.min(1000, hint.toMillis() / 10) + 1;
        return hint.plusMillis(random.nextLong(jitterBound));
    }

    private static Runnable safely(Runnable task) {
        return () -> {
            try {
                task.run();
            } catch (RuntimeException e) {
                LOG.fine(() -> "sync: " + e.getMessage());
            }
        };
    }

    @Override
    public void close() {
        running = false;
        ClientCallStreamObserver<SyncRequest> stream = current;
        if (stream != null) {
            stream.cancel("agent stopping", null);
        }
        loop.interrupt();
        try {
            loop.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        timer.shutdownNow();
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        eventLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

}
