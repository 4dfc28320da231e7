package dev.edgeplane.controlplane.sync;

import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.store.StoreException;
import jakarta.enterprise.context.ApplicationScoped;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Keeps {@link NodeCursors} across control-plane restarts: ONE etcd key holding every node's cursor,
 * written at most once per {@code edgeplane.agent.cursor-checkpoint-interval} and only when something
 * changed (never one write per ack), once more at shutdown, and read at start. Several control-plane
 * processes merge into the same key (compare-and-swap on its revision; a node's newer cursor wins).
 *
 * <p>The value is text, one line per node: {@code <node> <acked> <quiet-through>}, after a header line.
 */
@ApplicationScoped
public class CursorCheckpoints {
    private static final Logger LOG = Logger.getLogger(CursorCheckpoints.class);
    static final String KEY = Keys.ROOT + "sync/cursors";
    private static final String HEADER = "edgeplane-cursors 1";

    private final EtcdStore store;
    private final StateCaches caches;
    private final NodeCursors cursors;
    private final Duration interval;
    private ScheduledExecutorService timer;
    private Map<String, NodeCursors.Cursor> written = Map.of();

    public CursorCheckpoints(EtcdStore store, StateCaches caches, NodeCursors cursors, ControlPlaneConfig config) {
        this.store = store;
        this.caches = caches;
        this.cursors = cursors;
        this.interval = config.agent().cursorCheckpointInterval();
    }

    /**
     * Loads the last checkpoint into the cursors and starts writing them; before agents can connect
     * (see AssignmentIndex#start). Returns what was loaded.
     */
    public synchronized Map<String, NodeCursors.Cursor> start() {
        Map<String, NodeCursors.Cursor> loaded = Map.of();
        try {
            Optional<Entry<byte[]>> stored = store.get(KEY);
            loaded = stored.map(e -> decode(e.value())).orElse(Map.of());
            cursors.load(loaded);
            written = loaded;
            LOG.infof("loaded the resume cursors of %d nodes", loaded.size());
        } catch (RuntimeException e) {
            // Without them resumes still work, from the agents' own revisions.
            LOG.warnf("cannot load the resume cursors (%s); starting without", e.getMessage());
        }
        if (interval.isZero() || interval.isNegative()) {
            return loaded;
        }
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "edgeplane-cursor-checkpoint");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::writeQuietly, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
        return loaded;
    }

    /** Every assignment key as it was at {@code revision} (keys only), or empty when etcd compacted it. */
    Optional<List<String>> assignmentKeysAt(long revision) {
        return store.keysAt(Keys.ASSIGNMENTS, revision);
    }

    /** Writes a last checkpoint at shutdown (agents' latest acks survive a clean restart exactly); etcd is still open then. */
    void onStop(@jakarta.enterprise.event.Observes io.quarkus.runtime.ShutdownEvent event) {
        stop();
    }

    public synchronized void stop() {
        if (timer != null) {
            timer.shutdownNow();
            timer = null;
        }
        writeQuietly();
    }

    private void writeQuietly() {
        try {
            write();
        } catch (RuntimeException e) {
            LOG.warnf("cannot checkpoint the resume cursors (%s); next try in %s", e.getMessage(), interval);
        }
    }

    /** One compare-and-swap write of every cursor, if any changed since the last; true if written. */
    synchronized boolean write() {
        Map<String, NodeCursors.Cursor> mine = cursors.checkpoint();
        if (mine.equals(written)) {
            return false;
        }
        for (int attempt = 0; attempt < 3; attempt++) {
            Optional<Entry<byte[]>> current = store.get(KEY);
            Map<String, NodeCursors.Cursor> merged = new TreeMap<>();
            current.ifPresent(e -> decode(e.value()).forEach((node, theirs) -> {
                if (caches.nodes().get(Keys.node(node)) != null) {
                    merged.put(node, theirs);
                }
            }));
            mine.forEach((node, c) -> merged.merge(node, c, (theirs, ours) ->
                    ours.quietThrough() >= theirs.quietThrough() ? ours : theirs));
            byte[] value = encode(merged);
            boolean done = current.isPresent()
                    ? store.update(KEY, value, current.get().modRevision()).isPresent()
                    : store.create(KEY, value).isPresent();
            if (done) {
                written = mine;
                LOG.debugf("checkpointed the resume cursors of %d nodes (%d bytes)", merged.size(), value.length);
                return true;
            }
        }
        throw new StoreException("the cursor checkpoint kept changing under us", null);
    }

    static byte[] encode(Map<String, NodeCursors.Cursor> cursors) {
        StringBuilder out = new StringBuilder(HEADER).append('\n');
        cursors.forEach((node, c) -> out.append(node).append(' ').append(c.acked()).append(' ')
                .append(c.quietThrough()).append('\n'));
        return out.toString().getBytes(StandardCharsets.UTF_8);
    }

    static Map<String, NodeCursors.Cursor> decode(byte[] value) {
        String[] lines = new String(value, StandardCharsets.UTF_8).split("\n");
        if (lines.length == 0 || !lines[0].equals(HEADER)) {
            LOG.warnf("ignoring a cursor checkpoint in an unknown format");
            return Map.of();
        }
        Map<String, NodeCursors.Cursor> out = new TreeMap<>();
        for (int i = 1; i < lines.length; i++) {
            String[] f = lines[i].trim().split(" ");
            if (f.length == 3) {
                try {
                    out.put(f[0], new NodeCursors.Cursor(Long.parseLong(f[1]), Long.parseLong(f[2])));
                } catch (NumberFormatException e) {
                    LOG.warnf("ignoring a bad cursor line: %s", lines[i]);
                }
            }
        }
        return out;
    }
}
