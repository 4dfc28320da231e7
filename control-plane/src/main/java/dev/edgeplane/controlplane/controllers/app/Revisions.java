package dev.edgeplane.controlplane.controllers.app;

import dev.edgeplane.api.RolloutStrategies;
import dev.edgeplane.api.TemplateHashes;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppRevision;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.Write;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * An App's template revisions, Kubernetes' ControllerRevision way (pure): a template never seen
 * before takes the next number; one that comes back (a rollback, or an old manifest applied again)
 * is renumbered as the newest; at most revision_history_limit older ones are kept.
 */
public final class Revisions {
    /** Why a revision was made, copied into it (Kubernetes' kubernetes.io/change-cause). */
    public static final String CHANGE_CAUSE = "edgeplane.dev/change-cause";

    private Revisions() {}

    /**
     * @param number      the revision number of the App's current template
     * @param rollingBack that template is an earlier revision's, renumbered now
     * @param writes      revision keys to put and delete (empty when nothing changed)
     */
    public record Step(long number, boolean rollingBack, List<Write> writes) {}

    public static Step step(App app, List<Entry<AppRevision>> existing, Instant now) {
        String ns = app.getMetadata().getNamespace();
        String name = app.getMetadata().getName();
        String hash = TemplateHashes.of(app.getSpec().getTemplate());
        long newest = 0;
        Entry<AppRevision> match = null;
        for (Entry<AppRevision> e : existing) {
            newest = Math.max(newest, e.value().getRevision());
            if (e.value().getTemplateHash().equals(hash) && (match == null || e.value().getRevision() > match.value().getRevision())) {
                match = e;
            }
        }
        if (match != null && match.value().getRevision() == newest) {
            return new Step(newest, false, List.of());
        }
        List<Write> writes = new ArrayList<>();
        long number = newest + 1;
        String cause = app.getMetadata().getAnnotationsOrDefault(CHANGE_CAUSE, "");
        AppRevision.Builder revision;
        if (match != null) {
            writes.add(Write.delete(match.key()));
            revision = match.value().toBuilder().setChangeCause("rollback to revision " + match.value().getRevision());
        } else {
            revision = AppRevision.newBuilder().setTemplateHash(hash).setTemplate(app.getSpec().getTemplate())
                    .setCreateTime(RolloutPlanner.timestamp(now)).setChangeCause(cause);
        }
        revision.setRevision(number).setGeneration(app.getMetadata().getGeneration());
        writes.add(Write.put(Keys.revision(ns, name, number), revision.build().toByteArray()));
        // The older ones beyond the history limit go, oldest first.
        List<Entry<AppRevision>> older = new ArrayList<>();
        for (Entry<AppRevision> e : existing) {
            if (e != match) {
                older.add(e);
            }
        }
        older.sort(Comparator.comparingLong(e -> e.value().getRevision()));
        int excess = older.size() - RolloutStrategies.revisionHistoryLimit(app.getSpec());
        for (int i = 0; i < excess; i++) {
            writes.add(Write.delete(older.get(i).key()));
        }
        return new Step(number, match != null, writes);
    }

    /** The App with an earlier revision's template: a new generation, saying why. */
    public static App rolledBack(App app, AppRevision to) {
        return app.toBuilder().clearStatus()
                .setMetadata(app.getMetadata().toBuilder().setGeneration(app.getMetadata().getGeneration() + 1).setResourceVersion(0)
                        .putAnnotations(CHANGE_CAUSE, "rollback to revision " + to.getRevision()))
                .setSpec(app.getSpec().toBuilder().setTemplate(to.getTemplate()))
                .build();
    }
}
