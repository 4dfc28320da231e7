package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.v1.Event;
import dev.edgeplane.api.v1.EventFilter;
import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.EventServiceGrpc;
import dev.edgeplane.api.v1.ListEventsRequest;
import dev.edgeplane.api.v1.ListEventsResponse;
import dev.edgeplane.api.v1.WatchEventsRequest;
import dev.edgeplane.api.v1.WatchEventsResponse;
import dev.edgeplane.controlplane.events.EventStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.stream.ApiWatchSender;
import dev.edgeplane.controlplane.stream.FlowControlledWatch;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.jboss.logging.Logger;

/**
 * EventService: events from the in-memory copy of /edgeplane/events/ that ONE etcd watch keeps
 * current (no etcd read or watch per caller). Lists are newest first (last_time, then key); the page
 * token is the position of the last event returned.
 */
@GrpcService
@Blocking
public class EventApi extends EventServiceGrpc.EventServiceImplBase {
    private static final Logger LOG = Logger.getLogger(EventApi.class);
    private static final Set<String> KINDS = Set.of("Node", "App", "Replica", "Volume", "VolumeSnapshot");
    /** How long a read waits for the event records a starting control plane is still reading. */
    private static final java.time.Duration LOAD_WAIT = java.time.Duration.ofSeconds(10);
    private static final Pattern REASON = Pattern.compile("[A-Za-z][A-Za-z0-9]{0,127}");
    /** Newest first; ties by key so paging is stable. */
    static final Comparator<Entry<Event>> NEWEST_FIRST = Comparator
            .comparing((Entry<Event> e) -> e.value().getLastTime().getSeconds()).reversed()
            .thenComparing(Comparator.comparing((Entry<Event> e) -> e.value().getLastTime().getNanos()).reversed())
            .thenComparing(Entry::key);

    private final EventStore events;
    private final ApiLimits limits;
    private final ApiWatchSender watchSender;

    public EventApi(EventStore events, dev.edgeplane.controlplane.ControlPlaneConfig config, ApiWatchSender watchSender) {
        this.events = events;
        this.limits = ApiLimits.of(config.limits());
        this.watchSender = watchSender;
    }

    static Event withVersion(Entry<Event> entry) {
        return entry.value().toBuilder()
                .setMetadata(entry.value().getMetadata().toBuilder().setResourceVersion(entry.modRevision()))
                .build();
    }

    @Override
    public void listEvents(ListEventsRequest request, StreamObserver<ListEventsResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Validation v = validate(request.getFilter());
            if (request.getPageSize() < 0) {
                v.add("page_size", "must not be negative");
            }
            v.throwIfInvalid();
            int size = limits.pageSize(request.getPageSize());
            Entry<Event> after = position(request.getPageToken());
            PrefixCache<Event> records = events.loadedCache(LOAD_WAIT);
            events.awaitOwnWrites(java.time.Duration.ofSeconds(1));
            List<Entry<Event>> matching = records.all().stream()
                    .filter(e -> matches(request.getFilter(), e.value()))
                    .filter(e -> after == null || NEWEST_FIRST.compare(e, after) > 0)
                    .sorted(NEWEST_FIRST)
                    .limit(size + 1L)
                    .toList();
            ListEventsResponse.Builder response = ListEventsResponse.newBuilder();
            matching.stream().limit(size).forEach(e -> response.addEvents(withVersion(e)));
            if (matching.size() > size) {
                response.setNextPageToken(token(matching.get(size - 1)));
            }
            return response.build();
        });
    }

    /** The filter's problems, each naming its field. */
    static Validation validate(EventFilter filter) {
        Validation v = new Validation();
        if (!filter.getNamespace().isEmpty() && !Validation.isDnsLabel(filter.getNamespace())) {
            v.add("filter.namespace", "\"" + filter.getNamespace() + "\" is not a DNS-1123 label");
        }
        if (!filter.getKind().isEmpty() && !KINDS.contains(filter.getKind())) {
            v.add("filter.kind", "\"" + filter.getKind() + "\" is not one of " + KINDS.stream().sorted().toList());
        }
        if (!filter.getName().isEmpty() && !Validation.isDnsLabel(filter.getName())) {
            v.add("filter.name", "\"" + filter.getName() + "\" is not a DNS-1123 label");
        }
        if (!filter.getNode().isEmpty() && !Validation.isDnsLabel(filter.getNode())) {
            v.add("filter.node", "\"" + filter.getNode() + "\" is not a DNS-1123 label");
        }
        if (!filter.getReason().isEmpty() && !REASON.matcher(filter.getReason()).matches()) {
            v.add("filter.reason", "\"" + filter.getReason() + "\" is not a CamelCase reason");
        }
        if (filter.getMinLevel() == EventLevel.UNRECOGNIZED) {
            v.add("filter.min_level", "unknown level " + filter.getMinLevelValue());
        }
        return v;
    }

    static boolean matches(EventFilter filter, Event event) {
        var object = event.getInvolvedObject();
        return (filter.getNamespace().isEmpty() || filter.getNamespace().equals(event.getMetadata().getNamespace()))
                && (filter.getKind().isEmpty() || filter.getKind().equals(object.getKind()))
                && (filter.getName().isEmpty() || filter.getName().equals(object.getName()))
                && (filter.getNode().isEmpty() || filter.getNode().equals(event.getNode()))
                && (filter.getReason().isEmpty() || filter.getReason().equals(event.getReason()))
                && event.getLevelValue() >= filter.getMinLevelValue();
    }

    private static String token(Entry<Event> last) {
        String position = last.value().getLastTime().getSeconds() + "." + last.value().getLastTime().getNanos() + "|" + last.key();
        return Base64.getUrlEncoder().withoutPadding().encodeToString(position.getBytes(StandardCharsets.UTF_8));
    }

    /** The position a page token names, as a bare entry to compare with; null for the first page. */
    private static Entry<Event> position(String token) {
        if (token.isEmpty()) {
            return null;
        }
        try {
            String position = new String(Base64.getUrlDecoder().decode(token), StandardCharsets.UTF_8);
            int bar = position.indexOf('|');
            int dot = position.indexOf('.');
            if (bar < 0 || dot < 0 || dot > bar) {
                throw new IllegalArgumentException("malformed");
            }
            Event at = Event.newBuilder().setLastTime(com.google.protobuf.Timestamp.newBuilder()
                    .setSeconds(Long.parseLong(position.substring(0, dot)))
                    .setNanos(Integer.parseInt(position.substring(dot + 1, bar)))).build();
            return new Entry<>(position.substring(bar + 1), at, 0, 0);
        } catch (IllegalArgumentException e) {
            throw Validation.invalid("page_token", "is not a token from a previous page");
        }
    }

    /**
     * Current events matching the filter as ADDED (oldest first), then changes, from the one events
     * watch. Flow-controlled like WatchApps: the latest per event waits while the client does not
     * read, and a client that falls too far behind gets RESOURCE_EXHAUSTED.
     */
    @Override
    public void watchEvents(WatchEventsRequest request, StreamObserver<WatchEventsResponse> responseObserver) {
        PrefixCache<Event> records;
        try {
            validate(request.getFilter()).throwIfInvalid();
            records = events.loadedCache(LOAD_WAIT);
        } catch (io.grpc.StatusRuntimeException e) {
            responseObserver.onError(e);
            return;
        } catch (dev.edgeplane.controlplane.store.StoreException e) {
            responseObserver.onError(io.grpc.Status.UNAVAILABLE.withDescription(e.getMessage()).asRuntimeException());
            return;
        }
        EventFilter filter = request.getFilter();
        ServerCallStreamObserver<WatchEventsResponse> call = (ServerCallStreamObserver<WatchEventsResponse>) responseObserver;
        java.util.concurrent.atomic.AtomicReference<PrefixCache.Listener<Event>> subscribed = new java.util.concurrent.atomic.AtomicReference<>();
        FlowControlledWatch<String, WatchEventsResponse> watch = watchSender.watch(call, EventApi::coalesce, () -> {
            PrefixCache.Listener<Event> listener = subscribed.get();
            if (listener != null) {
                records.unsubscribe(listener);
            }
        });
        final class Watcher implements PrefixCache.Listener<Event> {
            @Override
            public void onEvents(List<PrefixCache.Event<Event>> changes, long revision) {
                for (PrefixCache.Event<Event> change : changes) {
                    if (change instanceof PrefixCache.Put<Event> put) {
                        if (matches(filter, put.entry().value())) {
                            offer(put.previous() == null ? WatchEventsResponse.Type.ADDED : WatchEventsResponse.Type.MODIFIED,
                                    put.key(), withVersion(put.entry()));
                        }
                    } else if (matches(filter, change.previous().value())) {
                        offer(WatchEventsResponse.Type.DELETED, change.key(),
                                withVersion(new Entry<>(change.key(), change.previous().value(), change.revision(), 0)));
                    }
                }
            }

            @Override
            public void onReset(Map<String, Entry<Event>> state, long revision) {
                // What changed while the watch was down is unknown: resend the matching ones as MODIFIED.
                state.values().stream().filter(e -> matches(filter, e.value())).sorted(NEWEST_FIRST.reversed())
                        .forEach(e -> offer(WatchEventsResponse.Type.MODIFIED, e.key(), withVersion(e)));
            }

            void offer(WatchEventsResponse.Type type, String key, Event event) {
                watch.offer(key, WatchEventsResponse.newBuilder().setType(type).setEvent(event).build());
            }
        }
        Watcher watcher = new Watcher();
        subscribed.set(watcher);
        records.subscribe(watcher, (state, revision) -> {
            state.values().stream().filter(e -> matches(filter, e.value())).sorted(NEWEST_FIRST.reversed())
                    .forEach(e -> watch.offerListed(e.key(), WatchEventsResponse.newBuilder()
                            .setType(WatchEventsResponse.Type.ADDED).setEvent(withVersion(e)).build()));
            return null;
        });
        if (watch.ended()) {
            records.unsubscribe(watcher); // cancelled before it was subscribed
        }
    }

    /** Two changes of one event not yet sent, as one: an event added and gone meanwhile is never shown. */
    static WatchEventsResponse coalesce(WatchEventsResponse older, WatchEventsResponse newer) {
        if (older.getType() == WatchEventsResponse.Type.ADDED) {
            return newer.getType() == WatchEventsResponse.Type.DELETED ? null
                    : newer.toBuilder().setType(WatchEventsResponse.Type.ADDED).build();
        }
        return newer;
    }
}
