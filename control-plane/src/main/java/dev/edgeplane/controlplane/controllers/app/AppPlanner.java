package dev.edgeplane.controlplane.controllers.app;

import dev.edgeplane.api.ConfigRefs;
import dev.edgeplane.api.TemplateHashes;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.EventLevel;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.RolloutStatus;
import dev.edgeplane.api.v1.PodVolume;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeClaim;
import dev.edgeplane.controlplane.events.EventRecorder;
import dev.edgeplane.controlplane.events.Occurrence;
import dev.edgeplane.controlplane.scheduler.NodeIndex;
import dev.edgeplane.controlplane.scheduler.Placement;
import dev.edgeplane.controlplane.scheduler.StorageFit;
import dev.edgeplane.controlplane.volumes.StorageClasses;
import dev.edgeplane.controlplane.scheduler.PodRequests;
import dev.edgeplane.controlplane.scheduler.VolumeBinding;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.Write;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * The plan for ONE App (pure, no I/O): which assignments to put or delete so they match the App, the
 * template key its assignments reference, the volume status changes, the events to record once it
 * is written. Bounded by a {@link Budget}: past it the plan says {@code more} and the caller comes
 * back for the rest, so one huge App never holds the others up.
 */
public final class AppPlanner {
    private AppPlanner() {}

    /** At most this many replicas newly placed (or moved), and this many assignment writes, per plan. */
    public record Budget(int maxPlacements, int maxWrites) {
        public static final Budget UNLIMITED = new Budget(Integer.MAX_VALUE, Integer.MAX_VALUE);
    }

    /**
     * What one App's plan is made from.
     *
     * @param app         the App, or null when it is gone (its assignments and templates go)
     * @param assignments this App's assignment entries now (duplicates included)
     * @param volumes     the volumes the App names (those that exist)
     * @param configs     the ConfigMaps and Secrets its template uses, at their current versions (0: missing)
     * @param templates   the hashes of this App's template keys in etcd
     * @param inlineTemplates also copy the template into each assignment (for agents that do not resolve hashes)
     */
    public record Inputs(String namespace, String name, App app, Collection<Entry<Assignment>> assignments, NodeIndex nodes,
                         Map<String, Entry<Volume>> volumes, List<ConfigRef> configs, Set<String> templates,
                         Instant now, boolean inlineTemplates, Release release,
                         Function<String, Optional<dev.edgeplane.api.v1.StorageClass>> storageClasses) {
        public Inputs(String namespace, String name, App app, Collection<Entry<Assignment>> assignments, NodeIndex nodes,
                      Map<String, Entry<Volume>> volumes, List<ConfigRef> configs, Set<String> templates,
                      Instant now, boolean inlineTemplates) {
            this(namespace, name, app, assignments, nodes, volumes, configs, templates, now, inlineTemplates, Release.NONE);
        }

        /** With the built-in storage classes only. */
        public Inputs(String namespace, String name, App app, Collection<Entry<Assignment>> assignments, NodeIndex nodes,
                      Map<String, Entry<Volume>> volumes, List<ConfigRef> configs, Set<String> templates,
                      Instant now, boolean inlineTemplates, Release release) {
            this(namespace, name, app, assignments, nodes, volumes, configs, templates, now, inlineTemplates, release,
                    StorageClasses::builtIn);
        }
    }

    /**
     * What the rollout of the App's template is decided from (see {@link RolloutPlanner}).
     *
     * @param statuses    replica name -> what its agent last reported (null: nothing)
     * @param previous    the rollout as last written, or null
     * @param revision    the revision number of the App's current template
     * @param rollingBack that template is an earlier revision come back
     * @param prefetch    the ImagePrefetch of this revision's images, if there is one
     */
    public record Release(Function<String, ReplicaStatus> statuses, RolloutStatus previous, long revision, boolean rollingBack,
                          Optional<RolloutPlanner.Prefetch> prefetch) {
        /** Nothing known of the replicas: every replica of an older template is unavailable, so all may switch. */
        public static final Release NONE = new Release(r -> null, null, 0, false, Optional.empty());
    }

    /**
     * @param templates   template puts, to commit (and wait for) BEFORE {@code writes} that reference them
     * @param writes      assignment puts and deletes
     * @param templateDeletes template keys no assignment references any more, to delete after {@code writes}
     * @param volumeWrites volume status changes, each guarded on the volume's revision
     * @param events      to record once {@code writes} landed
     * @param templatesDeleted hashes whose keys {@code writes} deletes
     * @param more        the budget ran out: plan again once these writes are seen
     * @param pending     some replica has no node it may go to (a node change may help)
     * @param recheckAt   when a time-based decision (reschedule_after_unreachable) falls due
     * @param unschedulable why replicas have no node (Placement.Result.unschedulable), if some have none
     * @param rollout     how far the current template may reach the replicas, and the rollout's status
     */
    public record Plan(List<Write> templates, List<Write> writes, List<Write> templateDeletes,
                       List<VolumeBinding.VolumeWrite> volumeWrites, List<Occurrence> events, Set<String> templatesDeleted,
                       boolean more, boolean pending, Optional<Instant> recheckAt, Optional<String> unschedulable,
                       Optional<RolloutPlanner.Decision> rollout) {
        public boolean isEmpty() {
            return templates.isEmpty() && writes.isEmpty() && templateDeletes.isEmpty() && volumeWrites.isEmpty();
        }
    }

    public static Plan plan(Inputs in, Budget budget) {
        String ns = in.namespace();
        List<Write> writes = new ArrayList<>();
        List<Occurrence> events = new ArrayList<>();
        // replica -> its entry; a replica assigned twice keeps the newer placement, the other key goes.
        Map<String, Entry<Assignment>> mine = new TreeMap<>();
        Map<String, Integer> mineByHash = new HashMap<>();
        for (Entry<Assignment> e : in.assignments()) {
            mineByHash.merge(e.value().getTemplateHash(), 1, Integer::sum);
            Entry<Assignment> other = mine.get(e.value().getReplica());
            if (other == null) {
                mine.put(e.value().getReplica(), e);
                continue;
            }
            Entry<Assignment> older = other.modRevision() <= e.modRevision() ? other : e;
            writes.add(Write.delete(older.key()));
            if (older == other) {
                mine.put(e.value().getReplica(), e);
            }
        }
        if (in.app() == null) {
            return planDeleted(in, budget, mine, writes);
        }
        App app = in.app();
        String hash = TemplateHashes.of(app.getSpec().getTemplate());
        List<Write> templates = in.templates().contains(hash) ? List.of()
                : List.of(Write.put(Keys.template(ns, in.name(), hash), app.getSpec().getTemplate().toByteArray()));
        Set<String> deleted = new LinkedHashSet<>();
        List<Write> templateDeletes = new ArrayList<>();
        Optional<VolumeBinding.Resolved> resolved = VolumeBinding.resolve(app, in.volumes(), in.storageClasses());
        if (resolved.isEmpty()) {
            // A volume it names does not exist (yet): keep what runs, place nothing new.
            gcTemplates(in, hash, mineByHash, templateDeletes, deleted);
            return new Plan(templates, writes, templateDeletes, List.of(), events, deleted, false, true, Optional.empty(),
                    Optional.of("waiting for a volume it names to exist"), Optional.empty());
        }
        Map<String, String> current = new HashMap<>();
        for (Entry<Assignment> e : mine.values()) {
            current.put(e.value().getReplica(), e.value().getNode());
        }
        Map<String, Integer> ownLoad = new HashMap<>();
        current.values().forEach(n -> ownLoad.merge(n, 1, Integer::sum));
        RolloutPlanner.Decision rollout = RolloutPlanner.decide(new RolloutPlanner.Inputs(app, hash, in.release().revision(),
                in.release().rollingBack(), replicas(in, mine), in.release().previous(), in.now(), in.release().prefetch()));
        Placement.Result placed = Placement.place(app, in.nodes(), current, ownLoad, in.now(), resolved.get().pinnedTo(), budget.maxPlacements(),
                rollout.names().orElseGet(() -> Placement.ordinals(app)),
                StorageFit.of(resolved.get().unbound(), in.storageClasses()));
        List<VolumeBinding.VolumeWrite> volumeWrites = new ArrayList<>();
        if (!placed.desired().isEmpty()) {
            // The first replica (in name order) is the one its volumes are bound for: one write, stable.
            Map.Entry<String, String> first = placed.desired().entrySet().iterator().next();
            volumeWrites.addAll(VolumeBinding.bind(resolved.get(), in.volumes(), ns, first.getKey(), first.getValue(), in.now()));
        }
        boolean more = !placed.deferred().isEmpty();
        PodRequests requests = PodRequests.of(app.getSpec().getTemplate());
        int budgetLeft = budget.maxWrites() - writes.size();
        for (Map.Entry<String, String> d : placed.desired().entrySet()) {
            String replica = d.getKey();
            String node = d.getValue();
            Entry<Assignment> existing = mine.get(replica);
            if (existing != null && existing.value().getNode().equals(node) && !existing.value().getTemplateHash().equals(hash)
                    && !rollout.switchable().contains(replica)) {
                continue; // an older template's replica the rollout does not replace yet: left as it is
            }
            if (existing != null && existing.value().getNode().equals(node)
                    && sameWork(existing.value(), hash, in.inlineTemplates(), app.getMetadata().getLabelsMap(), resolved.get().claims(),
                            in.configs())
                    && PodRequests.of(existing.value()).equals(requests.reservation())) {
                continue; // unchanged: no write, so agents see no churn (and no Assignment built: an EVERY_NODE App replans often)
            }
            Assignment.Builder wanted = Assignment.newBuilder()
                    .setNode(node)
                    .setNamespace(ns)
                    .setApp(in.name())
                    .setReplica(replica)
                    .setTemplateHash(hash)
                    .setGeneration(app.getMetadata().getGeneration())
                    .putAllAppLabels(app.getMetadata().getLabelsMap())
                    .putAllVolumes(resolved.get().claims())
                    .setRequests(requests.resources())
                    .addAllHostPorts(requests.hostPorts())
                    .addAllConfigs(in.configs());
            if (in.inlineTemplates()) {
                wanted.setTemplate(app.getSpec().getTemplate());
            }
            if (budgetLeft <= 0) {
                more = true;
                break;
            }
            if (existing != null && !existing.value().getNode().equals(node)) {
                writes.addAll(removal(existing));
                budgetLeft -= 2;
                String from = existing.value().getNode();
                Node fromNode = in.nodes().get(from);
                boolean drained = fromNode != null && fromNode.getSpec().getDrained();
                events.add(Occurrence.of(EventLevel.INFO, EventRecorder.replica(ns, replica), "Rescheduled",
                        "moved from " + from + " to " + node + (drained ? " (" + from + " is drained)" : ""), node,
                        EventRecorder.SOURCE, in.now()));
                if (drained) {
                    events.add(Occurrence.of(EventLevel.INFO, EventRecorder.node(from), "NodeDrained",
                            "moved replica " + ns + "/" + replica + " to " + node, from, EventRecorder.SOURCE, in.now()));
                }
            } else if (existing == null) {
                events.add(Occurrence.of(EventLevel.INFO, EventRecorder.replica(ns, replica), "Scheduled",
                        "assigned to node " + node, node, EventRecorder.SOURCE, in.now()));
            }
            writes.add(Write.put(Keys.assignment(node, ns, replica), wanted.build().toByteArray()));
            budgetLeft--;
        }
        for (Entry<Assignment> e : mine.values()) {
            String replica = e.value().getReplica();
            if (placed.desired().containsKey(replica) || placed.deferred().contains(replica)) {
                continue;
            }
            if (budgetLeft <= 0) {
                more = true;
                break;
            }
            writes.addAll(removal(e)); // scaled down, or no node it may stay on or go to
            budgetLeft -= 2;
        }
        gcTemplates(in, hash, mineByHash, templateDeletes, deleted);
        Optional<Instant> recheckAt = placed.recheckAt();
        if (in.release() != Release.NONE && rollout.recheckAt().isPresent() && (recheckAt.isEmpty() || rollout.recheckAt().get().isBefore(recheckAt.get()))) {
            recheckAt = rollout.recheckAt();
        }
        return new Plan(templates, writes, templateDeletes, volumeWrites, events, deleted, more, placed.pending(app),
                recheckAt, placed.unschedulable(), Optional.of(rollout));
    }

    /** The App's replicas as the rollout sees them: template, generation, last report, node readiness. */
    private static List<RolloutPlanner.Replica> replicas(Inputs in, Map<String, Entry<Assignment>> mine) {
        List<RolloutPlanner.Replica> replicas = new ArrayList<>(mine.size());
        for (Entry<Assignment> e : mine.values()) {
            Assignment a = e.value();
            Node node = in.nodes().get(a.getNode());
            replicas.add(new RolloutPlanner.Replica(a.getReplica(), a.getNode(), a.getTemplateHash(), a.getGeneration(),
                    in.release().statuses().apply(a.getReplica()), node != null && node.getStatus().getPhase() == NodeStatus.Phase.READY));
        }
        return replicas;
    }

    /** The App is gone: its assignments go, then (once none is left) its template keys. */
    private static Plan planDeleted(Inputs in, Budget budget, Map<String, Entry<Assignment>> mine, List<Write> writes) {
        boolean more = false;
        for (Entry<Assignment> e : mine.values()) {
            if (writes.size() >= budget.maxWrites()) {
                more = true;
                break;
            }
            writes.addAll(removal(e));
        }
        Set<String> deleted = new LinkedHashSet<>();
        List<Write> templateDeletes = new ArrayList<>();
        if (mine.isEmpty()) {
            for (String hash : in.templates()) {
                templateDeletes.add(Write.delete(Keys.template(in.namespace(), in.name(), hash)));
                deleted.add(hash);
            }
        }
        return new Plan(List.of(), writes, templateDeletes, List.of(), List.of(), deleted, more, false, Optional.empty(), Optional.empty(),
                Optional.empty());
    }

    /** Template keys no assignment references (as seen now) and that are not the current one's. */
    private static void gcTemplates(Inputs in, String current, Map<String, Integer> referenced, List<Write> writes, Set<String> deleted) {
        for (String hash : in.templates()) {
            if (!hash.equals(current) && !referenced.containsKey(hash)) {
                writes.add(Write.delete(Keys.template(in.namespace(), in.name(), hash)));
                deleted.add(hash);
            }
        }
    }

    private static List<Write> removal(Entry<Assignment> e) {
        return List.of(Write.delete(e.key()), Write.delete(Keys.replicaStatus(e.value().getNamespace(), e.value().getReplica())));
    }

    /**
     * Same template (by hash), labels, volumes and config versions: the generation alone changing (e.g. a
     * scale) does not rewrite; a ConfigMap or Secret changing does, so its new version reaches the node.
     */
    private static boolean sameWork(Assignment existing, String hash, boolean inlineTemplate, Map<String, String> appLabels,
                                    Map<String, VolumeClaim> volumes, List<ConfigRef> configs) {
        return existing.getTemplateHash().equals(hash)
                && existing.getConfigsList().equals(configs)
                && existing.hasTemplate() == inlineTemplate
                && existing.getAppLabelsMap().equals(appLabels)
                && existing.getVolumesMap().equals(volumes);
    }

    /** The etcd keys of the ConfigMaps and Secrets an App's template uses. */
    public static Set<String> configKeysOf(App app) {
        String namespace = app.getMetadata().getNamespace();
        Set<String> keys = new LinkedHashSet<>();
        for (ConfigRefs.Name name : ConfigRefs.of(app.getSpec().getTemplate())) {
            keys.add(name.kind() == ConfigRef.Kind.SECRET ? Keys.secret(namespace, name.name()) : Keys.configMap(namespace, name.name()));
        }
        return keys;
    }

    /** The volume keys an App names. */
    public static Set<String> volumesOf(App app) {
        Set<String> keys = new LinkedHashSet<>();
        for (PodVolume pv : app.getSpec().getTemplate().getVolumesList()) {
            if (pv.getSourceCase() == PodVolume.SourceCase.VOLUME) {
                keys.add(Keys.volume(app.getMetadata().getNamespace(), pv.getVolume()));
            }
        }
        return keys;
    }
}
