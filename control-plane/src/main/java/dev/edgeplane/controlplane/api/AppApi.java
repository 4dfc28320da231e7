package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.TemplateHashes;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppRevision;
import dev.edgeplane.api.v1.AppRolloutRequest;
import dev.edgeplane.api.v1.ListAppRevisionsRequest;
import dev.edgeplane.api.v1.ListAppRevisionsResponse;
import dev.edgeplane.api.v1.RollbackAppRequest;
import dev.edgeplane.api.v1.RolloutStatus;
import dev.edgeplane.controlplane.controllers.app.Revisions;
import dev.edgeplane.controlplane.controllers.app.RolloutPlanner;
import io.grpc.Status;
import dev.edgeplane.api.v1.AppEvent;
import dev.edgeplane.api.v1.AppServiceGrpc;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.ListAppsRequest;
import dev.edgeplane.api.v1.ListAppsResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.UpdateAppRequest;
import dev.edgeplane.api.v1.WatchAppsRequest;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.PrefixCache;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.stream.ApiWatchSender;
import dev.edgeplane.controlplane.stream.FlowControlledWatch;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import org.jboss.logging.Logger;

/** AppService: Apps stored one per key at /edgeplane/apps/&lt;namespace&gt;/&lt;name&gt;. */
@GrpcService
@Blocking
public class AppApi extends AppServiceGrpc.AppServiceImplBase {
    private static final Logger LOG = Logger.getLogger(AppApi.class);

    private final EtcdStore store;
    private final StateCaches caches;
    private final AppStatusComposer composer;
    private final ApiLimits limits;
    private final dev.edgeplane.controlplane.quotas.QuotaAdmission quotas;
    private final ApiWatchSender watchSender;
    /** Status-driven watch events are composed here, off the watch threads and their locks. */
    private final java.util.concurrent.ExecutorService statusEvents = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "edgeplane-app-watch");
        t.setDaemon(true);
        return t;
    });

    public AppApi(EtcdStore store, StateCaches caches, AppStatusComposer composer, dev.edgeplane.controlplane.ControlPlaneConfig config,
                  dev.edgeplane.controlplane.quotas.QuotaAdmission quotas, ApiWatchSender watchSender) {
        this.quotas = quotas;
        this.watchSender = watchSender;
        this.store = store;
        this.caches = caches;
        this.composer = composer;
        this.limits = ApiLimits.of(config.limits());
    }

    @jakarta.annotation.PreDestroy
    void close() {
        statusEvents.shutdownNow();
    }

    private static String describe(String namespace, String name) {
        return "app \"" + namespace + "/" + name + "\"";
    }

    private static App withVersion(Entry<App> entry) {
        return entry.value().toBuilder()
                .setMetadata(entry.value().getMetadata().toBuilder().setResourceVersion(entry.modRevision()))
                .build();
    }

    /** The App as given, with namespace defaulted and status/system fields cleared. */
    private static App normalise(App app) {
        ObjectMeta meta = app.getMetadata().toBuilder()
                .setNamespace(Calls.orDefault(app.getMetadata().getNamespace()))
                .build();
        return app.toBuilder().setMetadata(meta).clearStatus().build();
    }

    @Override
    public void createApp(CreateAppRequest request, StreamObserver<App> responseObserver) {
        Calls.unary(responseObserver, () -> {
            App app = normalise(request.getApp());
            AppValidator.validate(app, limits).throwIfInvalid();
            ObjectMeta meta = app.getMetadata().toBuilder()
                    .setUid(UUID.randomUUID().toString())
                    .setCreateTime(Joiner.timestamp(Instant.now()))
                    .setGeneration(1)
                    .setResourceVersion(0)
                    .build();
            App stored = app.toBuilder().setMetadata(meta).build();
            String key = Keys.app(meta.getNamespace(), meta.getName());
            OptionalLong revision = quotas.create(key, stored);
            if (revision.isEmpty()) {
                throw Calls.exists(describe(meta.getNamespace(), meta.getName()));
            }
            LOG.infof("created %s", describe(meta.getNamespace(), meta.getName()));
            return composer.withStatus(withVersion(new Entry<>(key, stored, revision.getAsLong(), revision.getAsLong())));
        });
    }

    @Override
    public void getApp(GetAppRequest request, StreamObserver<App> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            Entry<App> entry = store.get(Keys.app(ns, request.getName()), App.parser())
                    .orElseThrow(() -> Calls.notFound(describe(ns, request.getName())));
            return composer.withStatus(withVersion(entry));
        });
    }

    @Override
    public void listApps(ListAppsRequest request, StreamObserver<ListAppsResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String prefix = Keys.APPS;
            if (!request.getNamespace().isEmpty()) {
                new Validation().dnsLabel("namespace", request.getNamespace()).throwIfInvalid();
                prefix = Keys.APPS + request.getNamespace() + "/";
            }
            Listing.Page<App> page = Listing.list(store, limits, prefix, request.getPageSize(), request.getPageToken(),
                    request.getLabelSelector(), App.parser(), a -> a.getMetadata().getLabelsMap());
            ListAppsResponse.Builder response = ListAppsResponse.newBuilder().setNextPageToken(page.nextPageToken());
            page.items().forEach(e -> response.addApps(composer.withStatus(withVersion(e))));
            return response.build();
        });
    }

    @Override
    public void updateApp(UpdateAppRequest request, StreamObserver<App> responseObserver) {
        Calls.unary(responseObserver, () -> {
            App app = normalise(request.getApp());
            AppValidator.validate(app, limits).throwIfInvalid();
            String ns = app.getMetadata().getNamespace();
            String name = app.getMetadata().getName();
            String key = Keys.app(ns, name);
            Entry<App> current = store.get(key, App.parser()).orElseThrow(() -> Calls.notFound(describe(ns, name)));
            long given = app.getMetadata().getResourceVersion();
            if (given != 0 && given != current.modRevision()) {
                throw Calls.stale(describe(ns, name), given, current.modRevision());
            }
            ObjectMeta old = current.value().getMetadata();
            boolean specChanged = !current.value().getSpec().equals(app.getSpec());
            ObjectMeta meta = old.toBuilder()
                    .clearLabels().putAllLabels(app.getMetadata().getLabelsMap())
                    .clearAnnotations().putAllAnnotations(app.getMetadata().getAnnotationsMap())
                    .setGeneration(old.getGeneration() + (specChanged ? 1 : 0))
                    .setResourceVersion(0)
                    .build();
            App stored = current.value().toBuilder().setMetadata(meta).setSpec(app.getSpec()).build();
            OptionalLong revision = quotas.update(key, stored, current);
            if (revision.isEmpty()) {
                throw given != 0 ? Calls.stale(describe(ns, name), given, -1) : Calls.conflict(describe(ns, name));
            }
            LOG.infof("updated %s (generation %d)", describe(ns, name), meta.getGeneration());
            return composer.withStatus(withVersion(new Entry<>(key, stored, revision.getAsLong(), current.createRevision())));
        });
    }

    @Override
    public void deleteApp(DeleteAppRequest request, StreamObserver<DeleteResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            Calls.delete(store, Keys.app(ns, request.getName()), request.getResourceVersion(), describe(ns, request.getName()));
            LOG.infof("deleted %s", describe(ns, request.getName()));
            return DeleteResponse.getDefaultInstance();
        });
    }

    @Override
    public void pauseAppRollout(AppRolloutRequest request, StreamObserver<App> responseObserver) {
        Calls.unary(responseObserver, () -> changeRollout(request.getNamespace(), request.getName(), "pause", rollout -> {
            if (rollout.getPaused()) {
                return Optional.empty(); // already paused: nothing to write
            }
            return Optional.of(rollout.toBuilder().setPaused(true).setMessage(RolloutPlanner.PAUSED_BY_API).build());
        }));
    }

    @Override
    public void resumeAppRollout(AppRolloutRequest request, StreamObserver<App> responseObserver) {
        Calls.unary(responseObserver, () -> changeRollout(request.getNamespace(), request.getName(), "resume", rollout -> {
            if (!rollout.getPaused() && rollout.getPhase() != RolloutStatus.Phase.PAUSED) {
                throw Status.FAILED_PRECONDITION.withDescription("the rollout of " + describe(Calls.orDefault(request.getNamespace()),
                        request.getName()) + " is not paused (" + rollout.getPhase() + ")").asRuntimeException();
            }
            return Optional.of(rollout.toBuilder().setPaused(false).build());
        }));
    }

    @Override
    public void abortAppRollout(AppRolloutRequest request, StreamObserver<App> responseObserver) {
        Calls.unary(responseObserver, () -> changeRollout(request.getNamespace(), request.getName(), "abort", rollout ->
                Optional.of(rollout.toBuilder().setPhase(RolloutStatus.Phase.ABORTED).setPaused(false)
                        .setAbortReason("aborted by AbortAppRollout").setMessage("aborted by AbortAppRollout")
                        .setCompletionTime(Joiner.timestamp(Instant.now())).build())));
    }

    /**
     * Applies {@code change} to the App's rollout record, which must be in progress (PROGRESSING,
     * ROLLING_BACK or PAUSED), guarded on the record as read; the App controller acts on it.
     */
    private App changeRollout(String namespace, String name, String verb,
                              java.util.function.Function<RolloutStatus, Optional<RolloutStatus>> change) {
        String ns = Calls.orDefault(namespace);
        new Validation().dnsLabel("name", name).dnsLabel("namespace", ns).throwIfInvalid();
        Entry<App> app = store.get(Keys.app(ns, name), App.parser()).orElseThrow(() -> Calls.notFound(describe(ns, name)));
        String key = Keys.rollout(ns, name);
        for (int attempt = 0; attempt < 5; attempt++) { // the controller writes the record as replicas move: read again on a race
            Optional<Entry<RolloutStatus>> current = store.get(key, RolloutStatus.parser());
            RolloutStatus.Phase phase = current.map(e -> e.value().getPhase()).orElse(RolloutStatus.Phase.PHASE_UNSPECIFIED);
            // A template the controller has not picked up yet is a rollout about to start: it may be paused before it moves.
            boolean pending = current.isEmpty()
                    || !current.get().value().getTemplateHash().equals(TemplateHashes.of(app.value().getSpec().getTemplate()));
            if (pending && verb.equals("pause")) {
                RolloutStatus base = current.map(Entry::value).orElse(RolloutStatus.getDefaultInstance());
                RolloutStatus paused = base.toBuilder().setPaused(true).setMessage(RolloutPlanner.PAUSED_BY_API).build();
                boolean written = current.isEmpty() ? store.create(key, paused.toByteArray()).isPresent()
                        : store.update(key, paused.toByteArray(), current.get().modRevision()).isPresent();
                if (written) {
                    LOG.infof("%s: rollout paused before it started", describe(ns, name));
                    return composer.withStatus(withVersion(app));
                }
                continue;
            }
            if (phase != RolloutStatus.Phase.PROGRESSING && phase != RolloutStatus.Phase.ROLLING_BACK && phase != RolloutStatus.Phase.PAUSED) {
                throw Status.FAILED_PRECONDITION.withDescription("cannot " + verb + ": " + describe(ns, name) + " has no rollout in progress"
                        + (current.isEmpty() ? "" : " (revision " + current.get().value().getRevision() + " is " + phase + ")"))
                        .asRuntimeException();
            }
            Optional<RolloutStatus> changed = change.apply(current.get().value());
            if (changed.isEmpty() || store.update(key, changed.get().toByteArray(), current.get().modRevision()).isPresent()) {
                LOG.infof("%s: rollout %s (revision %d)", describe(ns, name), verb, current.get().value().getRevision());
                return composer.withStatus(withVersion(app));
            }
        }
        throw Calls.conflict("the rollout of " + describe(ns, name));
    }

    @Override
    public void rollbackApp(RollbackAppRequest request, StreamObserver<App> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            String name = request.getName();
            Validation v = new Validation().dnsLabel("name", name).dnsLabel("namespace", ns);
            if (request.getToRevision() < 0) {
                v.add("to_revision", "must be 0 (the previous revision) or a revision number (got " + request.getToRevision() + ")");
            }
            v.throwIfInvalid();
            String key = Keys.app(ns, name);
            Entry<App> current = store.get(key, App.parser()).orElseThrow(() -> Calls.notFound(describe(ns, name)));
            List<AppRevision> revisions = revisionsOf(ns, name);
            String hash = TemplateHashes.of(current.value().getSpec().getTemplate());
            AppRevision to = null;
            if (request.getToRevision() == 0) {
                for (AppRevision r : revisions) { // newest first: the newest whose template is not the current one
                    if (!r.getTemplateHash().equals(hash)) {
                        to = r;
                        break;
                    }
                }
                if (to == null) {
                    throw Status.FAILED_PRECONDITION.withDescription(describe(ns, name) + " has no earlier revision to roll back to")
                            .asRuntimeException();
                }
            } else {
                to = revisions.stream().filter(r -> r.getRevision() == request.getToRevision()).findFirst()
                        .orElseThrow(() -> Calls.notFound("revision " + request.getToRevision() + " of " + describe(ns, name)));
                if (to.getTemplateHash().equals(hash)) {
                    throw Status.FAILED_PRECONDITION.withDescription("revision " + request.getToRevision() + " is the current template of "
                            + describe(ns, name)).asRuntimeException();
                }
            }
            App stored = Revisions.rolledBack(current.value(), to);
            OptionalLong revision = quotas.update(key, stored, current);
            if (revision.isEmpty()) {
                throw Calls.conflict(describe(ns, name));
            }
            LOG.infof("%s: rolled back to revision %d (generation %d)", describe(ns, name), to.getRevision(),
                    stored.getMetadata().getGeneration());
            return composer.withStatus(withVersion(new Entry<>(key, stored, revision.getAsLong(), current.createRevision())));
        });
    }

    @Override
    public void listAppRevisions(ListAppRevisionsRequest request, StreamObserver<ListAppRevisionsResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            Entry<App> app = store.get(Keys.app(ns, request.getName()), App.parser())
                    .orElseThrow(() -> Calls.notFound(describe(ns, request.getName())));
            String hash = TemplateHashes.of(app.value().getSpec().getTemplate());
            ListAppRevisionsResponse.Builder response = ListAppRevisionsResponse.newBuilder();
            for (AppRevision r : revisionsOf(ns, request.getName())) {
                response.addRevisions(r);
                if (r.getTemplateHash().equals(hash) && response.getCurrentRevision() == 0) {
                    response.setCurrentRevision(r.getRevision());
                }
            }
            return response.build();
        });
    }

    /** The App's revisions, newest first (at most its history limit + 1, from the informer). */
    private List<AppRevision> revisionsOf(String ns, String name) {
        List<AppRevision> revisions = new java.util.ArrayList<>();
        caches.revisions().list(Keys.revisionsOf(ns, name)).forEach(e -> revisions.add(e.value()));
        revisions.sort(java.util.Comparator.comparingLong(AppRevision::getRevision).reversed());
        return revisions;
    }

    /**
     * Current Apps as ADDED, then changes, from the in-memory apps watch (no etcd watch per caller).
     * Flow-controlled: written on the API watch sender while the client reads; meanwhile the latest
     * event per App waits, and a client that falls too far behind gets RESOURCE_EXHAUSTED.
     */
    @Override
    public void watchApps(WatchAppsRequest request, StreamObserver<AppEvent> responseObserver) {
        String namespace = request.getNamespace();
        String prefix = namespace.isEmpty() ? Keys.APPS : Keys.APPS + namespace + "/";
        ServerCallStreamObserver<AppEvent> call = (ServerCallStreamObserver<AppEvent>) responseObserver;
        List<Runnable> unsubscribe = new java.util.concurrent.CopyOnWriteArrayList<>();
        FlowControlledWatch<String, AppEvent> watch = watchSender.watch(call, AppApi::coalesce,
                () -> unsubscribe.forEach(Runnable::run));
        final class Watcher implements PrefixCache.Listener<App> {
            @Override
            public void onEvents(List<PrefixCache.Event<App>> events, long revision) {
                for (PrefixCache.Event<App> event : events) {
                    if (!event.key().startsWith(prefix)) {
                        continue;
                    }
                    AppEvent out;
                    if (event instanceof PrefixCache.Put<App> put) {
                        out = AppEvent.newBuilder()
                                .setType(put.previous() == null ? AppEvent.Type.ADDED : AppEvent.Type.MODIFIED)
                                .setApp(composer.withStatus(withVersion(put.entry()))).build();
                    } else {
                        out = AppEvent.newBuilder().setType(AppEvent.Type.DELETED)
                                .setApp(withVersion(new Entry<>(event.key(), event.previous().value(), event.revision(), 0))).build();
                    }
                    watch.offer(event.key(), out);
                }
            }

            @Override
            public void onReset(Map<String, Entry<App>> state, long revision) {
                // Cannot tell what changed while the watch was down: resend everything as MODIFIED.
                state.values().stream().filter(e -> e.key().startsWith(prefix)).forEach(e -> watch.offer(e.key(), AppEvent.newBuilder()
                        .setType(AppEvent.Type.MODIFIED).setApp(composer.withStatus(withVersion(e))).build()));
            }
        }
        Watcher listener = new Watcher();
        // Replica status changes show up as MODIFIED events of their App (status is composed on read).
        PrefixCache.Listener<dev.edgeplane.api.v1.ReplicaStatus> statusListener = (events, revision) -> {
            java.util.Set<String> apps = new java.util.TreeSet<>();
            for (PrefixCache.Event<dev.edgeplane.api.v1.ReplicaStatus> event : events) {
                var value = event instanceof PrefixCache.Put<dev.edgeplane.api.v1.ReplicaStatus> put
                        ? put.entry().value() : event.previous().value();
                apps.add(Keys.app(value.getNamespace(), value.getApp()));
            }
            try {
                statusEvents.execute(() -> {
                    for (String key : apps) {
                        Entry<App> app = caches.apps().get(key);
                        if (app != null && key.startsWith(prefix)) {
                            watch.offer(key, AppEvent.newBuilder().setType(AppEvent.Type.MODIFIED)
                                    .setApp(composer.withStatus(withVersion(app))).build());
                        }
                    }
                });
            } catch (java.util.concurrent.RejectedExecutionException e) {
                // shutting down
            }
        };
        unsubscribe.add(() -> caches.apps().unsubscribe(listener));
        unsubscribe.add(() -> caches.replicaStatuses().unsubscribe(statusListener));
        caches.replicaStatuses().subscribe(statusListener);
        caches.apps().subscribe(listener, (state, revision) -> {
            state.values().stream().filter(e -> e.key().startsWith(prefix)).forEach(e -> watch.offerListed(e.key(), AppEvent.newBuilder()
                    .setType(AppEvent.Type.ADDED).setApp(composer.withStatus(withVersion(e))).build()));
            return null;
        });
        if (watch.ended()) {
            // Cancelled (or ended) before the listeners were added: the end handler ran too early for them.
            unsubscribe.forEach(Runnable::run);
        }
    }

    /** Two events of one App not yet sent, as one: the client never saw an App added and deleted meanwhile. */
    static AppEvent coalesce(AppEvent older, AppEvent newer) {
        if (older.getType() == AppEvent.Type.ADDED) {
            return newer.getType() == AppEvent.Type.DELETED ? null : newer.toBuilder().setType(AppEvent.Type.ADDED).build();
        }
        return newer;
    }
}
