package dev.edgeplane.agent.sync;

import dev.edgeplane.agent.journal.DesiredState;
import dev.edgeplane.api.TemplateHashes;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.Changes;
import dev.edgeplane.api.v1.HashedTemplate;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.Snapshot;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/**
 * The pod templates this agent holds, by content hash. The control plane sends assignments that
 * reference their template by hash and each template once per Sync stream (Snapshot/Changes
 * templates); this fills each assignment's template in BEFORE it is journalled, so the journal and
 * the reconciler keep seeing full assignments. What the control plane believes the agent has is what
 * its Hello listed (the templates of the journal's assignments) plus what this stream carried: the
 * cache holds exactly that, rebuilt at each stream start.
 */
final class TemplateCache {
    /** At most this many hashes in a Hello (the control plane refuses more). */
    static final int MAX_HELLO_HASHES = 1024;
    /** Beyond this many templates, those no assignment uses are forgotten (sent again on the next stream if needed). */
    static final int MAX_TEMPLATES = 4096;

    private final Map<String, PodTemplate> byHash = new HashMap<>();

    /**
     * A new stream starts: the cache holds the templates of {@code state}'s assignments (nothing else);
     * returns their hashes for the Hello (at most {@link #MAX_HELLO_HASHES}).
     */
    synchronized List<String> startStream(DesiredState state) {
        byHash.clear();
        LinkedHashSet<String> hashes = new LinkedHashSet<>();
        for (Assignment assignment : state.entries()) {
            if (!assignment.hasTemplate()) {
                continue;
            }
            // An assignment from before templates were sent by hash has none: its content hash is the same.
            String hash = assignment.getTemplateHash().isEmpty() ? TemplateHashes.of(assignment.getTemplate()) : assignment.getTemplateHash();
            byHash.put(hash, assignment.getTemplate());
            if (hashes.size() < MAX_HELLO_HASHES) {
                hashes.add(hash);
            }
        }
        return new ArrayList<>(hashes);
    }

    /** The Snapshot with every assignment's template filled in (and no templates list), or refuses it. */
    synchronized Snapshot resolve(Snapshot snapshot) throws RefusedMessage {
        learn(snapshot.getTemplatesList());
        Snapshot.Builder resolved = snapshot.toBuilder().clearTemplates().clearAssignments();
        for (Assignment assignment : snapshot.getAssignmentsList()) {
            resolved.addAssignments(resolve(assignment));
        }
        return resolved.build();
    }

    /** The Changes with every PUT's template filled in (and no templates list), or refuses it. */
    synchronized Changes resolve(Changes changes) throws RefusedMessage {
        learn(changes.getTemplatesList());
        Changes.Builder resolved = changes.toBuilder().clearTemplates().clearChanges();
        for (Change change : changes.getChangesList()) {
            resolved.addChanges(change.getType() == Change.Type.PUT && change.hasAssignment()
                    ? change.toBuilder().setAssignment(resolve(change.getAssignment())).build() : change);
        }
        return resolved.build();
    }

    synchronized int size() {
        return byHash.size();
    }

    /** Checks every template against its hash before any is used; one bad one refuses the whole message. */
    private void learn(List<HashedTemplate> templates) throws RefusedMessage {
        for (HashedTemplate template : templates) {
            String actual = TemplateHashes.of(template.getTemplate());
            if (!actual.equals(template.getHash())) {
                throw new RefusedMessage("template sent as " + template.getHash() + " hashes to " + actual);
            }
        }
        if (byHash.size() + templates.size() > MAX_TEMPLATES) {
            byHash.clear(); // forgets those of this stream too: an assignment needing one is refused, the next stream resends it
        }
        for (HashedTemplate template : templates) {
            byHash.put(template.getHash(), template.getTemplate());
        }
    }

    private Assignment resolve(Assignment assignment) throws RefusedMessage {
        String hash = assignment.getTemplateHash();
        if (hash.isEmpty() || assignment.hasTemplate()) {
            return assignment; // inline template (or none: a volume or snapshot task)
        }
        PodTemplate template = byHash.get(hash);
        if (template == null) {
            throw new RefusedMessage("assignment " + DesiredState.key(assignment) + " references template " + hash
                    + " which this agent does not have and the message did not carry");
        }
        return assignment.toBuilder().setTemplate(template).build();
    }
}
