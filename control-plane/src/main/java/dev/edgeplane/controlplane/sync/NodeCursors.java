package dev.edgeplane.controlplane.sync;

import jakarta.enterprise.context.ApplicationScoped;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Per-node resume cursors. For each node: the revision it acked (it applied everything up to it) and
 * the revision through which its assignments are known not to have changed since ("quiet through").
 * While a node is idle (no change of its assignments after its ack) its quiet-through follows the
 * assignments watch, which etcd's progress notifications keep moving while nothing changes. A Hello
 * at or after the ack therefore resumes from a recent revision, one that etcd has not compacted, even
 * when the agent's own revision is old.
 *
 * <p>Fed by {@link AssignmentIndex} (changes, watch progress, resets) under its lock and by acks;
 * {@link CursorCheckpoints} writes {@link #checkpoint()} to etcd lazily and {@link #load loads} it at
 * start, so a restarted control plane keeps them.
 */
@ApplicationScoped
public class NodeCursors {
    /** What is known of one node: no change of its assignments in (acked, quietThrough]. */
    public record Cursor(long acked, long quietThrough) {}

    private static final class State {
        long acked;
        long quietThrough;
        /** The newest change of its assignments seen by this process. */
        long lastChange;
    }

    private final Map<String, State> nodes = new HashMap<>();
    /** Every change up to here has been seen (the index's revision). */
    private long revision;
    /** Changes at or before it may be unseen (this process's start, a watch re-list). */
    private long floor;

    /** A change of {@code node}'s assignments at {@code rev}; call before {@link #advance} for its batch. */
    public synchronized void changed(String node, long rev) {
        State s = nodes.computeIfAbsent(node, n -> new State());
        if (idle(s)) {
            // It was quiet up to the revision before this change: keep that, it stops following now.
            s.quietThrough = Math.max(s.quietThrough, revision);
        }
        s.lastChange = Math.max(s.lastChange, rev);
    }

    /** Every change up to {@code rev} has been seen (watch events or a progress notification). */
    public synchronized void advance(long rev) {
        revision = Math.max(revision, rev);
    }

    /** The assignments were re-listed at {@code at}: what happened between the old revision and it is unknown. */
    public synchronized void reset(long at) {
        for (State s : nodes.values()) {
            if (idle(s)) {
                s.quietThrough = Math.max(s.quietThrough, revision);
            }
        }
        floor = at;
        revision = Math.max(revision, at);
    }

    public synchronized void acked(String node, long rev) {
        State s = nodes.computeIfAbsent(node, n -> new State());
        if (rev > s.acked) {
            s.acked = rev;
        }
        s.quietThrough = Math.max(s.quietThrough, s.acked);
    }

    /**
     * The revision to resume {@code node} from when its agent says it applied up to {@code lastApplied}:
     * the node's quiet-through when the agent has at least what it acked, else its own revision.
     */
    public synchronized long resumeFrom(String node, long lastApplied) {
        State s = nodes.get(node);
        if (s == null || lastApplied <= 0 || lastApplied < s.acked) {
            return lastApplied;
        }
        return Math.max(lastApplied, through(s));
    }

    public synchronized Cursor cursor(String node) {
        State s = nodes.get(node);
        return s == null ? null : new Cursor(s.acked, through(s));
    }

    /** Every node that acked something, with what is known now: what a checkpoint records. */
    public synchronized Map<String, Cursor> checkpoint() {
        Map<String, Cursor> out = new TreeMap<>();
        nodes.forEach((name, s) -> {
            if (s.acked > 0) {
                out.put(name, new Cursor(s.acked, through(s)));
            }
        });
        return out;
    }

    /** Takes cursors from a checkpoint (at start, before agents connect); a newer ack here wins. */
    public synchronized void load(Map<String, Cursor> cursors) {
        cursors.forEach((name, c) -> {
            State s = nodes.computeIfAbsent(name, n -> new State());
            if (c.acked() >= s.acked) {
                s.acked = c.acked();
                s.quietThrough = Math.max(c.quietThrough(), c.acked());
            }
        });
    }

    /**
     * {@code node} is known to have had no change of its assignments up to {@code rev} since its
     * quiet-through (after a restart: its keys then are its keys now): from {@code rev} on it follows again.
     */
    public synchronized void quietThrough(String node, long rev) {
        State s = nodes.get(node);
        if (s != null && s.acked > 0) {
            s.quietThrough = Math.max(s.quietThrough, rev);
        }
    }

    public synchronized void forget(String node) {
        nodes.remove(node);
    }

    /** Nothing of the node changed after its ack: quiet up to the floor, and no change seen since. */
    private boolean idle(State s) {
        return s.acked > 0 && Math.max(s.acked, s.quietThrough) >= floor && s.lastChange <= s.acked;
    }

    private long through(State s) {
        return idle(s) ? Math.max(revision, s.quietThrough) : s.quietThrough;
    }
}
