package dev.edgeplane.controlplane.events;

import dev.edgeplane.controlplane.api.RetryLater;
import dev.edgeplane.api.v1.AgentEventRecord;
import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.EventReport;
import dev.edgeplane.api.v1.EventReportAck;
import dev.edgeplane.api.v1.ObjectReference;
import dev.edgeplane.controlplane.api.Validation;
import dev.edgeplane.controlplane.join.Joiner;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import org.jboss.logging.Logger;

/**
 * The server end of AgentService.ReportEvents. The node is the caller's certificate CN (checked by
 * the agent endpoint), never a field. A report is acked once its records are in etcd, so an ack
 * means durable; the agent deletes only what an ack covers and re-sends the rest. A re-sent report
 * (sequence at or below the last one accepted from that node) is not counted twice: it is acked
 * when the accepted copy is written.
 */
@ApplicationScoped
@io.quarkus.arc.Unremovable // looked up by the agent endpoint (not a CDI bean itself), never injected
public class AgentEventReports {
    private static final Logger LOG = Logger.getLogger(AgentEventReports.class);
    public static final String SOURCE = "agent";
    static final Set<String> KINDS = Set.of("Node", "App", "Replica", "Volume", "VolumeSnapshot");
    private static final Pattern REASON = Pattern.compile("[A-Za-z][A-Za-z0-9]{0,127}");

    private final EventStore store;
    private final NodeObjects nodeObjects;
    /** Distinct records a node may have alive at once: a repeat folds, a made-up reason is a new record. */
    static final int MAX_RECORDS_PER_NODE = 256;
    private final DistinctRecordBudget budget;
    /** Per node: the newest sequence accepted and when its records are in etcd. */
    private final Map<String, Accepted> accepted = new ConcurrentHashMap<>();

    private record Accepted(long sequence, CompletableFuture<Void> written) {}

    @jakarta.inject.Inject
    public AgentEventReports(EventStore store, NodeObjects nodeObjects, dev.edgeplane.controlplane.ControlPlaneConfig config) {
        this(store, nodeObjects, new DistinctRecordBudget(MAX_RECORDS_PER_NODE, config.event().ttl()));
    }

    AgentEventReports(EventStore store, NodeObjects nodeObjects, DistinctRecordBudget budget) {
        this.store = store;
        this.nodeObjects = nodeObjects;
        this.budget = budget;
    }

    /**
     * One ReportEvents stream of {@code node}; acks go out in order, each cumulative. {@code refusal}
     * is asked before each report (the node deleted or re-joined since: the stream ends UNAUTHENTICATED).
     */
    public StreamObserver<EventReport> open(String node, Supplier<Optional<String>> refusal, StreamObserver<EventReportAck> acks) {
        Object sendLock = new Object();
        return new StreamObserver<>() {
            private CompletableFuture<Void> previous = CompletableFuture.completedFuture(null);
            private boolean refused;

            @Override
            public void onNext(EventReport report) {
                if (refused) {
                    return;
                }
                Optional<String> problem = refusal.get();
                if (problem.isPresent()) {
                    refused = true;
                    synchronized (sendLock) {
                        acks.onError(Status.UNAUTHENTICATED.withDescription(problem.get()).asRuntimeException());
                    }
                    return;
                }
                CompletableFuture<Void> written;
                try {
                    written = accept(node, report);
                } catch (EventStore.Full e) {
                    // Not acked, so the agent keeps the report and sends it again on a new stream.
                    refused = true;
                    synchronized (sendLock) {
                        acks.onError(RetryLater.resourceExhausted(e.getMessage(), java.time.Duration.ofSeconds(30)));
                    }
                    return;
                }
                long sequence = report.getSequence();
                synchronized (this) {
                    previous = previous.thenCombine(written, (a, b) -> (Void) null).thenRun(() -> {
                        synchronized (sendLock) {
                            try {
                                acks.onNext(EventReportAck.newBuilder().setSequence(sequence).build());
                            } catch (RuntimeException e) {
                                LOG.debugf("event ack to %s not sent (stream gone): %s", node, e.toString());
                            }
                        }
                    });
                }
            }

            @Override
            public void onError(Throwable t) {
                LOG.debugf("event stream of %s ended: %s", node, t.toString());
            }

            @Override
            public void onCompleted() {
                if (refused) {
                    return;
                }
                synchronized (this) {
                    previous.thenRun(() -> {
                        synchronized (sendLock) {
                            try {
                                acks.onCompleted();
                            } catch (RuntimeException ignored) {
                                // already closed
                            }
                        }
                    });
                }
            }
        };
    }

    /** Folds a report into the store unless it was accepted before; completes when it is in etcd. */
    CompletableFuture<Void> accept(String node, EventReport report) {
        return accepted.compute(node, (n, last) -> {
            if (last != null && report.getSequence() <= last.sequence()) {
                LOG.debugf("node %s re-sent event report %d (accepted up to %d)", node, report.getSequence(), last.sequence());
                return last;
            }
            Instant now = Instant.now();
            List<Occurrence> occurrences = withinBudget(node, occurrences(node, report, now, nodeObjects::owns), now);
            return new Accepted(report.getSequence(), store.recordAll(occurrences));
        }).written();
    }

    /** The occurrences whose records the node has room for; the rest become one EventsRefused count. */
    List<Occurrence> withinBudget(String node, List<Occurrence> occurrences, Instant now) {
        List<Occurrence> kept = new ArrayList<>(occurrences.size() + 1);
        long refused = 0;
        for (Occurrence o : occurrences) {
            // The node's own bookkeeping records (refusals, drops) always pass: they are few and fixed.
            boolean bookkeeping = o.object().getKind().equals("Node") && (o.reason().equals("EventsRefused") || o.reason().equals("EventsDropped"));
            if (bookkeeping || budget.admit(node, o.name(), now)) {
                kept.add(o);
            } else {
                refused += o.count();
            }
        }
        if (refused > 0) {
            LOG.warnf("node %s has %d distinct event records alive; %d more refused", node, MAX_RECORDS_PER_NODE, refused);
            kept.add(new Occurrence(EventLevel.WARNING, EventRecorder.node(node), "EventsRefused",
                    "events refused: the node has " + MAX_RECORDS_PER_NODE + " distinct event records alive already", node, SOURCE,
                    now, now, refused));
        }
        return kept;
    }

    /** Who may speak about what: a node about its own Node and the objects bound to it ({@link NodeObjects}). */
    @FunctionalInterface
    interface Ownership {
        boolean owns(String node, ObjectReference object);
    }

    static List<Occurrence> occurrences(String node, EventReport report, Instant now, Ownership ownership) {
        List<Occurrence> out = new ArrayList<>(report.getEventsCount() + 2);
        int notOwn = 0;
        for (AgentEventRecord r : report.getEventsList()) {
            ObjectReference object = r.getInvolvedObject();
            String problem = problem(r);
            if (problem != null) {
                LOG.warnf("ignoring an event from node %s: %s (%s)", node, problem, r.toString().replace('\n', ' '));
                continue;
            }
            if (object.getKind().equals("Node")) {
                object = EventRecorder.node(node); // an agent speaks only for its own node
            } else if (object.getNamespace().isEmpty()) {
                object = object.toBuilder().setNamespace("default").build();
            }
            if (!ownership.owns(node, object)) {
                notOwn++; // another node's replica, or an object never bound here: not this node's to speak about
                continue;
            }
            EventLevel level = r.getLevel() == EventLevel.EVENT_LEVEL_UNSPECIFIED ? EventLevel.INFO : r.getLevel();
            Instant last = r.hasLastTime() ? Joiner.toInstant(r.getLastTime()) : now;
            Instant first = r.hasFirstTime() ? Joiner.toInstant(r.getFirstTime()) : last;
            Occurrence o = new Occurrence(level, object, r.getReason(), r.getMessage(), node, SOURCE,
                    first.isAfter(last) ? last : first, last, Math.max(1, r.getCount()));
            if (level != EventLevel.INFO) {
                LOG.infof("event from node %s: %s %s %s %s/%s: %s (x%d)", node, level, o.reason(), object.getKind(),
                        object.getNamespace(), object.getName(), o.message(), o.count());
            }
            out.add(o);
        }
        if (notOwn > 0) {
            LOG.warnf("node %s reported %d events about objects it does not run; refused", node, notOwn);
            out.add(new Occurrence(EventLevel.WARNING, EventRecorder.node(node), "EventsRefused",
                    "events about objects not bound to this node were refused", node, SOURCE, now, now, notOwn));
        }
        if (report.getDropped() > 0) {
            LOG.warnf("node %s dropped %d events while it could not send them", node, report.getDropped());
            out.add(new Occurrence(EventLevel.WARNING, EventRecorder.node(node), "EventsDropped",
                    "the agent's event buffer was full: the oldest events were dropped", node, SOURCE, now, now,
                    report.getDropped()));
        }
        return out;
    }

    private static String problem(AgentEventRecord r) {
        ObjectReference object = r.getInvolvedObject();
        if (!KINDS.contains(object.getKind())) {
            return "involved_object.kind \"" + object.getKind() + "\" is not one of " + KINDS;
        }
        if (!object.getKind().equals("Node")) {
            if (!Validation.isDnsLabel(object.getName())) {
                return "involved_object.name is not a DNS-1123 label";
            }
            if (!object.getNamespace().isEmpty() && !Validation.isDnsLabel(object.getNamespace())) {
                return "involved_object.namespace is not a DNS-1123 label";
            }
        }
        if (!REASON.matcher(r.getReason()).matches()) {
            return "reason must be CamelCase letters and digits";
        }
        if (r.getLevel() == EventLevel.UNRECOGNIZED) {
            return "unknown level";
        }
        return null;
    }
}
