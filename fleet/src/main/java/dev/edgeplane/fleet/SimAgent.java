package dev.edgeplane.fleet;

import com.google.protobuf.Timestamp;
import com.google.rpc.RetryInfo;
import dev.edgeplane.agent.sync.HeartbeatSchedule;
import dev.edgeplane.agent.sync.ReplaceableChannel;
import dev.edgeplane.api.TemplateHashes;
import dev.edgeplane.api.v1.Ack;
import dev.edgeplane.api.v1.AgentEventRecord;
import dev.edgeplane.api.v1.AgentServiceGrpc;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.ContainerStatus;
import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.EventReport;
import dev.edgeplane.api.v1.EventReportAck;
import dev.edgeplane.api.v1.HashedTemplate;
import dev.edgeplane.api.v1.Heartbeat;
import dev.edgeplane.api.v1.HeartbeatAck;
import dev.edgeplane.api.v1.Hello;
import dev.edgeplane.api.v1.MetricsAck;
import dev.edgeplane.api.v1.MetricsBatch;
import dev.edgeplane.api.v1.NodeInfo;
import dev.edgeplane.api.v1.ObjectReference;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.StatusReport;
import dev.edgeplane.api.v1.SyncRequest;
import dev.edgeplane.api.v1.SyncResponse;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * One simulated agent: the real agent's protocol without containers or disk. Sync: Hello with the
 * acked revision and the template hashes it holds, a full status report, then each Snapshot/Changes
 * applied in memory (templates verified by hash and cached), a cumulative Ack, and a status report
 * when its replicas change (each one RUNNING at once). Heartbeat RPCs at the agent's period, a
 * ReportEvents stream with a few events, a ReportMetrics stream of 40 series when metrics are on.
 * Reconnects like the agent: RESOURCE_EXHAUSTED + RetryInfo is honoured, otherwise full-jitter
 * back-off. All state is guarded by this object's monitor; gRPC callbacks run on the fleet's event
 * loop (direct executor) and timers on its timer thread, and neither ever blocks.
 */
final class SimAgent {
    final int index;
    final String name;
    private final Fleet fleet;
    private ReplaceableChannel channel;
    /** The channel's current TCP connection, so a partition can reset it (RST) like a broken link. */
    volatile io.netty.channel.Channel socket;

    // --- Sync session
    private long session;
    private ClientCallStreamObserver<SyncRequest> sync;
    private boolean established;
    private boolean helloHadState;
    private long lastHeardNanos;
    private boolean serverAcksHeartbeats;
    private ScheduledFuture<?> heartbeatTask;
    /** When this session's next heartbeat is due (the agent's own rule); guarded by this. */
    private HeartbeatSchedule heartbeats;
    private int failures;
    private boolean partitioned;
    private boolean stopped;

    // --- desired state, as the agent's journal would hold it
    private long acked;
    private final Map<String, Assignment> desired = new HashMap<>();
    private final Set<String> heldTemplates = new HashSet<>();
    /** What the control plane was last told of each replica: its generation. */
    private final Map<String, Long> reported = new HashMap<>();

    // --- figures
    long establishedAtMicros = -1;
    long firstEstablishedAtMicros = -1;
    int snapshots;
    int changes;
    long bytes;
    int resumes;
    int refusedBusy;
    /** Dials not made because another agent's dial was refused a moment before (RefusedDials). */
    int dialsSkipped;
    /** Sync streams started (dials, when no connection is up), and those that ended before their first answer. */
    int syncAttempts;
    int syncAttemptsFailed;
    /** How the last of those ended (status code, description and root cause). */
    String lastAttemptFailure = "";
    int protocolErrors;
    String lastProblem = "";
    int heartbeatsOk;
    int heartbeatsFailed;
    /** Heartbeats sent on the Sync stream (news; not answered on their own call). */
    int heartbeatsOnSync;
    int statusReports;
    Marked mark = Marked.ZERO;

    /** Counters at the last mark, so "since the mark" figures are differences. */
    record Marked(long atMicros, int snapshots, int changes, long bytes, int resumes) {
        static final Marked ZERO = new Marked(Long.MAX_VALUE, 0, 0, 0, 0);
    }

    // --- events
    private ClientCallStreamObserver<EventReport> events;
    private long eventSequence;
    private final List<AgentEventRecord> unsentEvents = new ArrayList<>(0);
    private EventReport eventsInFlight;
    int eventReportsAcked;

    // --- metrics
    private ClientCallStreamObserver<MetricsBatch> metrics;
    private long metricsSequence;
    private boolean seriesDefined;
    private long historyNextMs = -1;
    private long historyEndMs;
    private ScheduledFuture<?> metricsTask;
    int metricsBatchesAcked;

    SimAgent(int index, String name, Fleet fleet) {
        this.index = index;
        this.name = name;
        this.fleet = fleet;
    }

    synchronized void joined(ReplaceableChannel channel) {
        this.channel = channel;
    }

    synchronized boolean hasChannel() {
        return channel != null;
    }

    // ------------------------------------------------------------------------------------- Sync

    synchronized void connect() {
        if (stopped || partitioned || sync != null || channel == null) {
            return;
        }
        if (fleet.refusedDials().wouldRefuse(channel.authority())) {
            // Nothing listens (see RefusedDials): back off as from this dial's refusal, without dialling.
            dialsSkipped++;
            fleet.timer().schedule(this::connect, nextBackoffMillis(), TimeUnit.MILLISECONDS);
            return;
        }
        long id = ++session;
        syncAttempts++;
        established = false;
        serverAcksHeartbeats = false;
        lastHeardNanos = System.nanoTime();
        helloHadState = acked > 0;
        channel.resetConnectBackoff(); // our back-off decides when to dial, not the channel's
        try {
            AgentServiceGrpc.newStub(channel).sync(new SyncObserver(id));
            if (session != id || sync == null) {
                return; // failed at once (the callback already scheduled a retry)
            }
            List<String> hashes = heldTemplates.size() <= 1024 ? List.copyOf(heldTemplates) : List.of();
            send(SyncRequest.newBuilder().setHello(Hello.newBuilder().setLastAppliedRevision(acked)
                    .setInfo(fleet.nodeInfo(name)).addAllTemplateHashes(hashes)).build());
            send(SyncRequest.newBuilder().setStatus(fullStatus()).build());
        } catch (RuntimeException e) {
            lost(id, Status.fromThrowable(e), e);
            return;
        }
        heartbeats = new HeartbeatSchedule(fleet.timings().heartbeat());
        long check = HeartbeatSchedule.checkEvery(fleet.timings().heartbeat()).toMillis();
        heartbeatTask = fleet.timer().scheduleWithFixedDelay(() -> heartbeat(id), check, check, TimeUnit.MILLISECONDS);
    }

    private final class SyncObserver implements ClientResponseObserver<SyncRequest, SyncResponse> {
        private final long id;

        SyncObserver(long id) {
            this.id = id;
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<SyncRequest> requests) {
            synchronized (SimAgent.this) {
                if (session == id) {
                    sync = requests;
                }
            }
        }

        @Override
        public void onNext(SyncResponse response) {
            received(id, response);
        }

        @Override
        public void onError(Throwable t) {
            lost(id, Status.fromThrowable(t), t);
        }

        @Override
        public void onCompleted() {
            lost(id, Status.UNAVAILABLE.withDescription("the control plane closed the stream"), null);
        }
    }

    private synchronized void received(long id, SyncResponse response) {
        if (id != session || sync == null) {
            return;
        }
        lastHeardNanos = System.nanoTime();
        switch (response.getKindCase()) {
            case SNAPSHOT, CHANGES -> {
                long revision;
                String problem;
                boolean snapshot = response.hasSnapshot();
                if (snapshot) {
                    revision = response.getSnapshot().getRevision();
                    problem = applySnapshot(response.getSnapshot().getAssignmentsList(), response.getSnapshot().getTemplatesList());
                } else {
                    revision = response.getChanges().getRevision();
                    problem = applyChanges(response.getChanges().getChangesList(), response.getChanges().getTemplatesList());
                }
                bytes += response.getSerializedSize();
                if (problem != null) {
                    // As the agent does when it cannot apply: no ack; drop the stream and resume from the last ack.
                    protocolErrors++;
                    lastProblem = problem;
                    sync.cancel(problem, null);
                    return;
                }
                if (snapshot) {
                    snapshots++;
                } else {
                    changes++;
                }
                acked = Math.max(acked, revision);
                send(SyncRequest.newBuilder().setAck(Ack.newBuilder().setRevision(acked)).build());
                long now = nowMicros();
                if (!established) {
                    established = true;
                    failures = 0;
                    establishedAtMicros = now;
                    if (firstEstablishedAtMicros < 0) {
                        firstEstablishedAtMicros = now;
                        event(record("Node", "", name, "Starting", "simulated agent started"));
                    }
                    if (helloHadState) {
                        resumes++;
                    }
                    openEvents();
                    if (fleet.metricsOn()) {
                        startMetrics();
                    }
                }
                fleet.watches().acked(this, now);
                reportChangedReplicas();
            }
            case HEARTBEAT_ACK -> serverAcksHeartbeats = true;
            default -> { } // OpenTunnel: no ops sessions in a simulation
        }
    }

    private String applySnapshot(List<Assignment> assignments, List<HashedTemplate> templates) {
        String problem = takeTemplates(templates);
        if (problem != null) {
            return problem;
        }
        Map<String, Assignment> next = new HashMap<>();
        for (Assignment a : assignments) {
            problem = checkTemplate(a);
            if (problem != null) {
                return problem;
            }
            next.put(a.getNamespace() + "/" + a.getReplica(), a);
        }
        desired.clear();
        desired.putAll(next);
        pruneTemplates();
        return null;
    }

    private String applyChanges(List<Change> list, List<HashedTemplate> templates) {
        String problem = takeTemplates(templates);
        if (problem != null) {
            return problem;
        }
        for (Change c : list) {
            if (c.getType() == Change.Type.PUT && (problem = checkTemplate(c.getAssignment())) != null) {
                return problem;
            }
        }
        for (Change c : list) {
            if (c.getType() == Change.Type.PUT) {
                desired.put(c.getKey(), c.getAssignment());
            } else if (c.getType() == Change.Type.DELETE) {
                desired.remove(c.getKey());
            }
        }
        pruneTemplates();
        return null;
    }

    /** Verifies each template against its hash (as the agent must) and caches it. */
    private String takeTemplates(List<HashedTemplate> templates) {
        for (HashedTemplate t : templates) {
            if (!fleet.templates().verifyAndPut(t.getHash(), t.getTemplate())) {
                return "template " + t.getHash() + " does not match its hash";
            }
            heldTemplates.add(t.getHash());
        }
        return null;
    }

    private String checkTemplate(Assignment a) {
        if (!a.getTemplateHash().isEmpty()) {
            return heldTemplates.contains(a.getTemplateHash()) ? null
                    : "assignment " + a.getNamespace() + "/" + a.getReplica() + " references template " + a.getTemplateHash()
                            + " that this stream has not carried and the Hello did not list";
        }
        if (a.hasTemplate()) { // written before templates were stored by hash
            String hash = TemplateHashes.of(a.getTemplate());
            fleet.templates().verifyAndPut(hash, a.getTemplate());
            heldTemplates.add(hash);
        }
        return null;
    }

    /** Keeps the templates that the desired state references (the agent's cache is bounded the same way). */
    private void pruneTemplates() {
        Set<String> used = new HashSet<>();
        for (Assignment a : desired.values()) {
            used.add(hashOf(a));
        }
        heldTemplates.retainAll(used);
    }

    static String hashOf(Assignment a) {
        if (!a.getTemplateHash().isEmpty()) {
            return a.getTemplateHash();
        }
        return a.hasTemplate() ? TemplateHashes.of(a.getTemplate()) : "";
    }

    PodTemplate templateOf(Assignment a) {
        return a.getTemplateHash().isEmpty() ? a.getTemplate() : fleet.templates().get(a.getTemplateHash());
    }

    private static boolean isReplica(Assignment a) {
        return !a.hasVolumeSnapshot() && !a.hasVolumeTask() && !a.hasVolumeSnapshotPolicy() && !a.hasCronJob() && !a.getApp().isEmpty();
    }

    private StatusReport fullStatus() {
        StatusReport.Builder report = StatusReport.newBuilder().setFull(true);
        reported.clear();
        for (Map.Entry<String, Assignment> e : desired.entrySet()) {
            if (isReplica(e.getValue())) {
                report.addReplicas(running(e.getValue()));
                reported.put(e.getKey(), e.getValue().getGeneration());
            }
        }
        statusReports++;
        return report.build();
    }

    /** Each new or changed replica is RUNNING at once; removed ones are reported removed. */
    private void reportChangedReplicas() {
        StatusReport.Builder report = StatusReport.newBuilder();
        List<AgentEventRecord> started = new ArrayList<>(0);
        for (Map.Entry<String, Assignment> e : desired.entrySet()) {
            Assignment a = e.getValue();
            if (!isReplica(a)) {
                continue;
            }
            Long generation = reported.get(e.getKey());
            if (generation == null || generation != a.getGeneration()) {
                report.addReplicas(running(a));
                reported.put(e.getKey(), a.getGeneration());
                if (started.size() < 2) {
                    started.add(record("Replica", a.getNamespace(), a.getReplica(), "Started", "started container main"));
                }
            }
        }
        reported.keySet().removeIf(key -> {
            if (!desired.containsKey(key)) {
                report.addRemoved(key);
                return true;
            }
            return false;
        });
        if (report.getReplicasCount() > 0 || report.getRemovedCount() > 0) {
            statusReports++;
            send(SyncRequest.newBuilder().setStatus(report).build());
        }
        started.forEach(this::event);
    }

    private ReplicaStatus running(Assignment a) {
        Timestamp now = timestamp(Instant.now());
        ReplicaStatus.Builder status = ReplicaStatus.newBuilder().setName(a.getReplica()).setNamespace(a.getNamespace())
                .setApp(a.getApp()).setNode(name).setPhase(ReplicaStatus.Phase.RUNNING).setReady(true).setGeneration(a.getGeneration())
                .setUpdateTime(now);
        PodTemplate template = templateOf(a);
        if (template != null) {
            for (var c : template.getContainersList()) {
                status.addContainers(ContainerStatus.newBuilder().setName(c.getName()).setState(ContainerStatus.State.RUNNING)
                        .setImage(c.getImage()).setContainerId(Long.toHexString(ThreadLocalRandom.current().nextLong()))
                        .setStartedAt(now));
            }
        }
        return status.build();
    }

    private void heartbeat(long id) {
        synchronized (this) {
            if (id != session || sync == null) {
                return;
            }
            long quiet = System.nanoTime() - lastHeardNanos;
            if (serverAcksHeartbeats && quiet > 3 * fleet.timings().heartbeat().toNanos()) {
                // As the agent: a server that answers heartbeats but went quiet for three periods is gone.
                sync.cancel("no answer from the control plane for " + quiet / 1_000_000_000 + " s", null);
                return;
            }
        }
        int replicas;
        Instant now = Instant.now();
        Heartbeat beat;
        synchronized (this) {
            replicas = (int) desired.values().stream().filter(SimAgent::isReplica).count();
            if (!heartbeats.due(now, replicas, replicas)) {
                return;
            }
            boolean news = heartbeats.news(replicas, replicas, List.of());
            heartbeats.sent(now, replicas, replicas);
            beat = Heartbeat.newBuilder().setTime(timestamp(now)).setRunningReplicas(replicas).setDesiredReplicas(replicas).build();
            if (news) { // as the agent: news rides on the Sync stream, the period's heartbeat on its own call
                heartbeatsOnSync++;
                send(SyncRequest.newBuilder().setHeartbeat(beat).build());
                return;
            }
        }
        AgentServiceGrpc.newStub(channel).withDeadlineAfter(HeartbeatSchedule.checkEvery(fleet.timings().heartbeat()).toMillis(), TimeUnit.MILLISECONDS)
                .heartbeat(beat, new StreamObserver<>() {
                    @Override
                    public void onNext(HeartbeatAck value) {
                        synchronized (SimAgent.this) {
                            heartbeatsOk++;
                            if (id == session) {
                                lastHeardNanos = System.nanoTime();
                                serverAcksHeartbeats = true;
                            }
                        }
                    }

                    @Override
                    public void onError(Throwable t) {
                        synchronized (SimAgent.this) {
                            heartbeatsFailed++;
                        }
                    }

                    @Override
                    public void onCompleted() {}
                });
    }

    private void send(SyncRequest request) {
        if (sync != null) {
            sync.onNext(request);
        }
    }

    private synchronized void lost(long id, Status status, Throwable error) {
        if (id != session) {
            return;
        }
        ClientCallStreamObserver<SyncRequest> stream = sync;
        sync = null;
        if (heartbeatTask != null) {
            heartbeatTask.cancel(false);
            heartbeatTask = null;
        }
        boolean wasEstablished = established;
        if (!wasEstablished) {
            syncAttemptsFailed++;
            Throwable failure = error != null ? error : status.getCause();
            Throwable root = failure == null ? null : com.google.common.base.Throwables.getRootCause(failure);
            // The description says where it failed ("io exception" in TLS); the root cause says why (a reset, a timeout).
            lastAttemptFailure = status.getCode() + (status.getDescription() == null ? "" : ": " + status.getDescription())
                    + (root == null ? "" : " (" + root + ")");
            fleet.attemptFailed(root == null ? status.getCode().toString() : root.getClass().getSimpleName()
                    + (root.getMessage() != null && root.getMessage().contains("refused") ? "(refused)" : ""));
        }
        established = false;
        closeSideStreams("sync ended");
        if (stream != null && status.getCode() != Status.Code.CANCELLED) {
            stream.cancel("sync ended", null); // no-op when it ended by itself
        }
        if (stopped || partitioned) {
            return;
        }
        if (status.getCode() == Status.Code.UNAVAILABLE && channel != null) {
            fleet.refusedDials().observe(channel.authority(), error != null ? error : status.getCause());
        }
        if (wasEstablished) {
            failures = 0;
        }
        long delay = -1;
        if (status.getCode() == Status.Code.RESOURCE_EXHAUSTED) {
            refusedBusy++;
            delay = retryInfoMillis(error);
        } else if (status.getCode() != Status.Code.CANCELLED && status.getCode() != Status.Code.UNAVAILABLE) {
            lastProblem = status.getCode() + (status.getDescription() == null ? "" : ": " + status.getDescription());
        }
        if (delay < 0) {
            delay = nextBackoffMillis();
        }
        if (status.getCode() == Status.Code.UNAVAILABLE && channel != null) {
            channel.replace(); // as the agent: no reconnects of the channel's own while we wait
        }
        fleet.timer().schedule(this::connect, delay, TimeUnit.MILLISECONDS);
    }

    /** The agent's back-off before the next dial after one more failure (full jitter). */
    private long nextBackoffMillis() {
        return fleet.timings().retryDelayMillis(failures++, ThreadLocalRandom.current());
    }

    /** The server's google.rpc.RetryInfo delay plus up to 10 % jitter (as the agent), or -1 without one. */
    static long retryInfoMillis(Throwable error) {
        if (error == null) {
            return -1;
        }
        com.google.rpc.Status details = StatusProto.fromThrowable(error);
        if (details == null) {
            return -1;
        }
        for (var any : details.getDetailsList()) {
            if (any.is(RetryInfo.class)) {
                try {
                    var d = any.unpack(RetryInfo.class).getRetryDelay();
                    long wait = d.getSeconds() * 1000 + d.getNanos() / 1_000_000;
                    return wait + ThreadLocalRandom.current().nextLong(Math.max(1, wait / 10 + 1));
                } catch (com.google.protobuf.InvalidProtocolBufferException ignored) {
                    return -1;
                }
            }
        }
        return -1;
    }

    // ------------------------------------------------------------------------------------- events

    private void event(AgentEventRecord record) {
        if (!fleet.eventsOn() || unsentEvents.size() >= 16) {
            return;
        }
        unsentEvents.add(record);
        if (established) {
            openEvents(); // as the agent's EventUploader: the stream opens once there is something to report
        }
        offerEvents();
    }

    private static AgentEventRecord record(String kind, String namespace, String objectName, String reason, String message) {
        Timestamp now = timestamp(Instant.now());
        return AgentEventRecord.newBuilder().setLevel(EventLevel.INFO)
                .setInvolvedObject(ObjectReference.newBuilder().setKind(kind).setNamespace(namespace).setName(objectName))
                .setReason(reason).setMessage(message).setFirstTime(now).setLastTime(now).setCount(1).build();
    }

    /**
     * Like the agent's EventUploader: its own stream while Sync is up and there is something to report
     * (kept open after that), one report in flight, kept until acked.
     */
    private void openEvents() {
        if (!fleet.eventsOn() || events != null || channel == null || (unsentEvents.isEmpty() && eventsInFlight == null)) {
            return;
        }
        AgentServiceGrpc.newStub(channel).reportEvents(new ClientResponseObserver<EventReport, EventReportAck>() {
            ClientCallStreamObserver<EventReport> mine;

            @Override
            public void beforeStart(ClientCallStreamObserver<EventReport> requests) {
                mine = requests;
                synchronized (SimAgent.this) {
                    events = requests;
                }
                requests.setOnReadyHandler(() -> {
                    synchronized (SimAgent.this) {
                        if (events == mine) {
                            offerEvents();
                        }
                    }
                });
            }

            @Override
            public void onNext(EventReportAck ack) {
                synchronized (SimAgent.this) {
                    if (eventsInFlight != null && ack.getSequence() >= eventsInFlight.getSequence()) {
                        eventsInFlight = null;
                        eventReportsAcked++;
                        if (events == mine) {
                            offerEvents();
                        }
                    }
                }
            }

            @Override
            public void onError(Throwable t) {
                ended();
            }

            @Override
            public void onCompleted() {
                ended();
            }

            private void ended() {
                synchronized (SimAgent.this) {
                    if (events == mine) {
                        events = null; // the report in flight goes again on the next stream
                    }
                }
            }
        });
        offerEvents();
    }

    private void offerEvents() {
        if (events == null || !events.isReady()) {
            return;
        }
        if (eventsInFlight == null && !unsentEvents.isEmpty()) {
            eventsInFlight = EventReport.newBuilder().setSequence(++eventSequence).addAllEvents(unsentEvents).build();
            unsentEvents.clear();
        } else if (eventsInFlight == null) {
            return;
        }
        events.onNext(eventsInFlight);
    }

    // ------------------------------------------------------------------------------------- metrics

    /** Metrics on: a ReportMetrics stream; first {@code history} of past frames (simulated time), then a batch per flush. */
    synchronized void startMetrics() {
        if (metricsTask == null) {
            long flush = fleet.timings().metricsFlush().toMillis();
            // Agents started at different times flush at different moments.
            metricsTask = fleet.timer().scheduleWithFixedDelay(this::flushMetrics,
                    ThreadLocalRandom.current().nextLong(flush), flush, TimeUnit.MILLISECONDS);
            long now = System.currentTimeMillis();
            long history = fleet.metricsHistory().toMillis();
            if (history > 0) {
                long step = fleet.timings().metricsInterval().toMillis();
                historyNextMs = now - history;
                historyEndMs = now - now % step;
            }
        }
        if (established && metrics == null) {
            openMetrics();
            sendHistory();
        }
    }

    synchronized void stopMetrics() {
        if (metricsTask != null) {
            metricsTask.cancel(false);
            metricsTask = null;
        }
        historyNextMs = -1;
        if (metrics != null) {
            metrics.cancel("metrics off", null);
            metrics = null;
        }
    }

    private void openMetrics() {
        seriesDefined = false;
        AgentServiceGrpc.AgentServiceStub stub = AgentServiceGrpc.newStub(channel);
        if (fleet.timings().metricsGzip()) {
            stub = stub.withCompression("gzip");
        }
        stub.reportMetrics(new ClientResponseObserver<MetricsBatch, MetricsAck>() {
            ClientCallStreamObserver<MetricsBatch> mine;

            @Override
            public void beforeStart(ClientCallStreamObserver<MetricsBatch> requests) {
                mine = requests;
                synchronized (SimAgent.this) {
                    metrics = requests;
                }
            }

            @Override
            public void onNext(MetricsAck ack) {
                synchronized (SimAgent.this) {
                    metricsBatchesAcked++;
                    if (metrics == mine) {
                        sendHistory(); // history goes one batch in flight at a time
                    }
                }
            }

            @Override
            public void onError(Throwable t) {
                ended();
            }

            @Override
            public void onCompleted() {
                ended();
            }

            private void ended() {
                synchronized (SimAgent.this) {
                    if (metrics == mine) {
                        metrics = null; // opened again at the next flush while Sync is up
                    }
                }
            }
        });
    }

    private void sendHistory() {
        if (metrics == null || historyNextMs < 0) {
            return;
        }
        long step = fleet.timings().metricsInterval().toMillis();
        MetricsBatch.Builder batch = MetricsBatch.newBuilder().setSequence(++metricsSequence);
        defineOnce(batch);
        int frames = 0;
        while (historyNextMs <= historyEndMs && frames < 60) {
            batch.addFrames(NodeSeries.frame(index, historyNextMs, frames == 0));
            historyNextMs += step;
            frames++;
        }
        if (historyNextMs > historyEndMs) {
            historyNextMs = -1;
        }
        if (frames > 0) {
            metrics.onNext(batch.build());
        }
    }

    private void flushMetrics() {
        synchronized (this) {
            if (!established) {
                return; // offline: the agent would keep frames on disk
            }
            if (metrics == null) {
                openMetrics();
                if (historyNextMs >= 0) {
                    sendHistory(); // a stream lost during the history: go on from where it was
                    return;
                }
            }
            if (historyNextMs >= 0 || !metrics.isReady()) {
                return;
            }
            long step = fleet.timings().metricsInterval().toMillis();
            long now = System.currentTimeMillis();
            long last = now - now % step;
            MetricsBatch.Builder batch = MetricsBatch.newBuilder().setSequence(++metricsSequence);
            defineOnce(batch);
            long perFlush = fleet.timings().metricsFlush().toMillis() / step;
            for (long i = perFlush - 1; i >= 0; i--) {
                batch.addFrames(NodeSeries.frame(index, last - i * step, i == perFlush - 1));
            }
            metrics.onNext(batch.build());
        }
    }

    private void defineOnce(MetricsBatch.Builder batch) {
        if (!seriesDefined) {
            NodeSeries.define(batch);
            seriesDefined = true;
        }
    }

    private void closeSideStreams(String why) {
        if (events != null) {
            events.cancel(why, null);
            events = null;
        }
        if (metrics != null) {
            metrics.cancel(why, null);
            metrics = null;
        }
    }

    // ------------------------------------------------------------------------------------- control

    /** Cuts the connection abruptly (TCP reset) and stays offline until {@link #heal()}. */
    void partition() {
        io.netty.channel.Channel s;
        synchronized (this) {
            partitioned = true;
            s = socket;
        }
        if (s != null && s.isOpen()) {
            s.config().setOption(io.netty.channel.ChannelOption.SO_LINGER, 0);
            s.close();
        }
        synchronized (this) {
            if (sync != null) {
                sync.cancel("partitioned", null); // a stream still dialling when the link was cut
            }
        }
    }

    synchronized void heal() {
        if (partitioned) {
            partitioned = false;
            failures = 0;
            connect();
        }
    }

    synchronized boolean isPartitioned() {
        return partitioned;
    }

    synchronized boolean established() {
        return established;
    }

    synchronized long acked() {
        return acked;
    }

    synchronized void mark(long atMicros) {
        mark = new Marked(atMicros, snapshots, changes, bytes, resumes);
    }

    /** True when the current stream was established at or after the mark. */
    synchronized boolean establishedSinceMark() {
        return established && establishedAtMicros >= mark.atMicros();
    }

    /** The app's replicas here whose first container runs {@code image}. */
    synchronized boolean runs(String namespace, String app, String image) {
        for (Assignment a : desired.values()) {
            if (a.getApp().equals(app) && a.getNamespace().equals(namespace)) {
                PodTemplate t = templateOf(a);
                if (t != null && t.getContainersCount() > 0 && t.getContainers(0).getImage().equals(image)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** "name@acked:key=hash,..." with "!missing" for a template this agent does not hold. */
    synchronized String digest() {
        StringBuilder out = new StringBuilder(name).append('@').append(acked).append(':');
        boolean first = true;
        for (Map.Entry<String, Assignment> e : new TreeMap<>(desired).entrySet()) {
            if (!first) {
                out.append(',');
            }
            first = false;
            String hash = hashOf(e.getValue());
            boolean held = e.getValue().getTemplateHash().isEmpty() || fleet.templates().get(hash) != null && heldTemplates.contains(hash);
            out.append(e.getKey()).append('=').append(held ? hash : "!missing");
        }
        return out.toString();
    }

    synchronized int desiredCount() {
        return desired.size();
    }

    void close() {
        ReplaceableChannel c;
        synchronized (this) {
            stopped = true;
            if (sync != null) {
                sync.cancel("simulator stopping", null);
                sync = null;
            }
            closeSideStreams("simulator stopping");
            c = channel;
        }
        if (c != null) {
            c.shutdownNow();
        }
    }

    NodeInfo info() {
        return fleet.nodeInfo(name);
    }

    static Timestamp timestamp(Instant t) {
        return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
    }

    static long nowMicros() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000 + now.getNano() / 1000;
    }
}
