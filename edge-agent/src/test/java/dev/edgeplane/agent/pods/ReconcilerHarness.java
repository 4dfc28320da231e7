package dev.edgeplane.agent.pods;

import dev.edgeplane.agent.events.EventRecorder;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.journal.JournalStore;
import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.agent.status.StatusManager;
import dev.edgeplane.agent.volumes.PodVolumes;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ReplicaStatus;
import dev.edgeplane.api.v1.Snapshot;
import dev.edgeplane.testkit.Containerd;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the reconciler's tests against a real containerd share: one containerd (CRI, runc, overlayfs)
 * per test class, and per test a running Reconciler on a fresh journal with a fast sync period and
 * short back-off, the events it records, and ways to set the desired state and read a replica.
 */
abstract class ReconcilerHarness {
    static final Duration WAIT = Duration.ofSeconds(60);
    static Containerd containerd;
    static CriRuntime cri;

    @TempDir
    Path tmp;
    DesiredStateStore desired;
    StatusManager status;
    Reconciler reconciler;
    /** "Reason: message" of every event the agent recorded in this test. */
    final List<String> events = new CopyOnWriteArrayList<>();
    private final AtomicLong revision = new AtomicLong();

    @BeforeAll
    static void startContainerd() {
        containerd = Containerd.start();
        cri = CriRuntime.connect(containerd.endpoint());
    }

    @AfterAll
    static void stopContainerd() {
        if (cri != null) {
            Pods.removeAll(cri);
            cri.close();
        }
        if (containerd != null) {
            containerd.close();
        }
    }

    @BeforeEach
    void startReconciler() {
        desired = DesiredStateStore.open(new JournalStore(tmp.resolve("journal")));
        runReconciler();
    }

    /**
     * As an agent restart leaves things: a new reconciler and status manager (pod workers, caches and
     * statuses in memory start empty) on the same journal, with what containerd runs untouched.
     */
    void restartReconciler() {
        reconciler.close();
        runReconciler();
    }

    private void runReconciler() {
        status = new StatusManager(Clock.systemUTC());
        ReconcilerSettings settings = ReconcilerSettings.defaults("node-1", tmp.resolve("logs"))
                .withSyncPeriod(Duration.ofMillis(500))
                .withBackoff(Duration.ofSeconds(1), Duration.ofSeconds(4), Duration.ofMinutes(10))
                .withPolicy(new HostPolicy(false, List.of(tmp))); // host paths of this test's temp dir only
        EventRecorder recorder = (level, object, reason, message) -> events.add(reason + ": " + message);
        reconciler = new Reconciler(cri, desired, status, settings, Clock.systemUTC(), PodVolumes.withoutDriver(tmp.resolve("volumes")), recorder);
        reconciler.start();
    }

    @AfterEach
    void stopReconciler() {
        reconciler.close();
        Pods.removeAll(cri);
    }

    /** The complete desired state is now these assignments (a snapshot at the next revision). */
    void desire(Assignment... assignments) throws Exception {
        desired.applySnapshot(Snapshot.newBuilder().setRevision(revision.incrementAndGet()).addAllAssignments(List.of(assignments)).build());
    }

    /** The replica's last status ("namespace/replica"), or an empty one before the first. */
    ReplicaStatus replica(String key) {
        ReplicaStatus s = status.get(key);
        return s == null ? ReplicaStatus.getDefaultInstance() : s;
    }
}
