package dev.edgeplane.agent.journal;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.Change;
import dev.edgeplane.api.v1.Changes;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.Snapshot;
import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Logger;

/**
 * The desired state in memory, written through to the {@link JournalStore}: every update is durable
 * before it becomes visible (and so before the sync client acks it). Listeners (the reconciler) hear
 * about each new state.
 */
public final class DesiredStateStore {
    private static final Logger LOG = Logger.getLogger(DesiredStateStore.class.getName());

    private final JournalStore journal;
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
    private final Optional<String> loadProblem;
    private volatile DesiredState current;
    private volatile List<ReplicaStatus> pods;
    // True after falling back to an older generation (or finding none): resume from 0 for a full snapshot.
    private volatile boolean resyncNeeded;

    private DesiredStateStore(JournalStore journal, DesiredState current, List<ReplicaStatus> pods,
                              boolean resyncNeeded, Optional<String> loadProblem) {
        this.journal = journal;
        this.current = current;
        this.pods = pods;
        this.resyncNeeded = resyncNeeded;
        this.loadProblem = loadProblem;
    }

    /** Loads the journal; never fails: a missing or unreadable one gives an unknown (incomplete) state. */
    public static DesiredStateStore open(JournalStore journal) {
        JournalStore.Loaded loaded = journal.load();
        if (loaded.contents().isEmpty()) {
            loaded.problem().ifPresent(p -> LOG.severe("journal unusable: " + p + "; waiting for a full snapshot from the control plane"));
            return new DesiredStateStore(journal, DesiredState.unknown(), List.of(), true, loaded.problem());
        }
        JournalStore.Contents contents = loaded.contents().get();
        Map<String, Assignment> assignments = new HashMap<>();
        for (Assignment assignment : contents.desired().getAssignmentsList()) {
            assignments.put(DesiredState.key(assignment), assignment);
        }
        DesiredState state = DesiredState.of(contents.desired().getRevision(), assignments, true);
        boolean fellBack = loaded.source() == JournalStore.Source.PREVIOUS;
        if (fellBack) {
            LOG.severe("journal: current generation unusable (" + loaded.problem().orElse("missing")
                    + "); running the previous good one at revision " + state.revision() + " and asking for a full snapshot");
        } else {
            LOG.info(() -> "journal: " + assignments.size() + " assignments at revision " + state.revision());
        }
        return new DesiredStateStore(journal, state, contents.pods(), fellBack, loaded.problem());
    }

    public DesiredState current() {
        return current;
    }

    /** The revision to resume from in Hello: 0 (full snapshot) when the journal could not be trusted. */
    public long helloRevision() {
        return resyncNeeded ? 0 : current.revision();
    }

    /** Why the journal could not be read as it was written, if it could not. */
    public Optional<String> loadProblem() {
        return loadProblem;
    }

    /** Replica statuses as last recorded, for the first report after a restart. */
    public List<ReplicaStatus> lastKnownPods() {
        return pods;
    }

    public void addListener(Runnable listener) {
        listeners.add(listener);
    }

    /** Replaces the whole desired state; durable when this returns. */
    public synchronized DesiredState applySnapshot(Snapshot snapshot) throws IOException {
        Map<String, Assignment> assignments = new HashMap<>();
        for (Assignment assignment : snapshot.getAssignmentsList()) {
            assignments.put(DesiredState.key(assignment), assignment);
        }
        DesiredState next = DesiredState.of(snapshot.getRevision(), assignments, true);
        commit(next);
        resyncNeeded = false;
        return next;
    }

    /** Applies PUTs and DELETEs on top of the current state; durable when this returns. */
    public synchronized DesiredState applyChanges(Changes changes) throws IOException {
        DesiredState base = current;
        if (changes.getRevision() <= base.revision() && base.complete()) {
            return base; // already applied (a replay after reconnect)
        }
        Map<String, Assignment> assignments = new HashMap<>();
        base.entries().forEach(e -> assignments.put(DesiredState.key(e), e)); // every kind of entry, not only replicas
        for (Change change : changes.getChangesList()) {
            switch (change.getType()) {
                case PUT -> assignments.put(change.getKey(), change.getAssignment());
                case DELETE -> assignments.remove(change.getKey());
                default -> LOG.warning("ignoring a change of unknown type for " + change.getKey());
            }
        }
        DesiredState next = DesiredState.of(changes.getRevision(), assignments, base.complete());
        commit(next);
        return next;
    }

    /** Records the pods' last known state (not needed for correctness, so failures only warn). */
    public synchronized void recordPods(List<ReplicaStatus> statuses) {
        if (statuses.equals(pods) || !current.complete()) {
            return;
        }
        try {
            journal.write(new JournalStore.Contents(snapshotOf(current), statuses));
            pods = List.copyOf(statuses);
        } catch (IOException e) {
            LOG.warning("cannot record pod state in the journal: " + e.getMessage());
        }
    }

    private void commit(DesiredState next) throws IOException {
        journal.write(new JournalStore.Contents(snapshotOf(next), pods));
        current = next;
        for (Runnable listener : listeners) {
            listener.run();
        }
    }

    private static Snapshot snapshotOf(DesiredState state) {
        return Snapshot.newBuilder().setRevision(state.revision()).addAllAssignments(state.entries()).build();
    }
}
