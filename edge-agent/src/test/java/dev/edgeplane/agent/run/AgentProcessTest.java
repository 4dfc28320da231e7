package dev.edgeplane.agent.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.agent.Await;
import dev.edgeplane.agent.TestPki;
import dev.edgeplane.agent.identity.StateDir;
import dev.edgeplane.agent.journal.JournalStore;
import dev.edgeplane.agent.pods.PodLabels;
import dev.edgeplane.agent.pods.Pods;
import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.PodTemplate;
import dev.edgeplane.api.v1.Snapshot;
import dev.edgeplane.cri.v1.Container;
import dev.edgeplane.cri.v1.PodSandbox;
import dev.edgeplane.testkit.Containerd;
import dev.edgeplane.testkit.FreePorts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real `edge-agent run` process (its own JVM), joined but with the cloud unreachable, running 3
 * replicas from a journal the test wrote: kill -9, restart, and it adopts what runs.
 */
class AgentProcessTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final String NS = "killed";

    @TempDir
    Path tmp;
    private final List<Process> agents = new ArrayList<>();
    private Containerd containerd;
    private CriRuntime cri;

    @AfterEach
    void cleanUp() throws InterruptedException {
        for (Process agent : agents) {
            agent.destroyForcibly();
            agent.waitFor(10, TimeUnit.SECONDS);
        }
        if (cri != null) {
            Pods.removeAll(cri);
            cri.close();
        }
        if (containerd != null) {
            containerd.close();
        }
    }

    @Test
    void killedAgentAdoptsWhatRunsAndRemovesWhatIsNoLongerDesired() throws Exception {
        containerd = Containerd.start();
        cri = CriRuntime.connect(containerd.endpoint());

        // A joined node whose control plane is unreachable (nothing listens on the sync port).
        StateDir state = new StateDir(tmp.resolve("state"));
        TestPki pki = new TestPki("unreachable-ca");
        TestPki.Issued node = pki.node("edge-k");
        int deadPort = FreePorts.next();
        state.writeIdentity(node.keyPem(), node.certificatePem(), pki.caPem(),
                new StateDir.NodeRecord("edge-k", "127.0.0.1:" + deadPort, "127.0.0.1:" + deadPort));
        PodTemplate sleeper = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("main", Pods.BUSYBOX, "sleep", "3600"));
        List<Assignment> three = List.of(Pods.assignment(NS, "web", 0, sleeper), Pods.assignment(NS, "web", 1, sleeper),
                Pods.assignment(NS, "web", 2, sleeper));
        JournalStore journal = new JournalStore(state.journalDir());
        journal.write(new JournalStore.Contents(Snapshot.newBuilder().setRevision(41).addAllAssignments(three).build(), List.of()));

        Path log1 = tmp.resolve("agent-1.log");
        Process first = startAgent(state, log1);
        Await.until(WAIT, "3 containers running from the journal, cloud unreachable",
                () -> Pods.running(cri, NS).size() == 3, () -> tail(log1));
        List<String> containersBefore = Pods.running(cri, NS);
        Set<String> sandboxesBefore = sandboxIds();
        assertEquals(3, sandboxesBefore.size());
        System.out.printf("agent RSS with 3 replicas: %d KiB%n", rssKiB(first.pid()));

        first.destroyForcibly(); // kill -9
        assertTrue(first.waitFor(10, TimeUnit.SECONDS));
        assertEquals(containersBefore, Pods.running(cri, NS), "containers belong to the node: they survive the agent");

        // While the agent is down its desired state loses web-2 (as if the journal had been synced).
        journal.write(new JournalStore.Contents(Snapshot.newBuilder().setRevision(42).addAllAssignments(three.subList(0, 2)).build(), List.of()));
        String web2 = containerOf("web-2");

        Path log2 = tmp.resolve("agent-2.log");
        Process second = startAgent(state, log2);
        Await.until(WAIT, "the restarted agent adopted web-0 and web-1 and removed web-2", () -> {
            String text = read(log2);
            return text.contains("killed/web-0: adopted running pod") && text.contains("killed/web-1: adopted running pod")
                    && Pods.sandboxes(cri, NS).size() == 2 && Pods.containers(cri, NS).size() == 2;
        }, () -> tail(log2));

        List<String> expected = new ArrayList<>(containersBefore);
        expected.remove(web2);
        assertEquals(expected, Pods.running(cri, NS), "the same containers, none duplicated");
        assertTrue(sandboxesBefore.containsAll(sandboxIds()), "no new sandbox");
        assertFalse(read(log2).contains("started container"), "nothing was created again");

        System.out.printf("restarted agent RSS with 2 adopted replicas: %d KiB%n", rssKiB(second.pid()));

        // SIGTERM stops the agent cleanly; the containers keep running.
        second.destroy();
        assertTrue(second.waitFor(30, TimeUnit.SECONDS), "agent stops on SIGTERM");
        assertTrue(read(log2).contains("stopped; containers keep running"), tail(log2));
        assertEquals(expected, Pods.running(cri, NS));
    }

    @Test
    void offlineRebootBringsEveryReplicaBackFromTheJournal() throws Exception {
        containerd = Containerd.start();
        cri = CriRuntime.connect(containerd.endpoint());
        String ns = "reboot";
        int replicas = 10;
        StateDir state = new StateDir(tmp.resolve("state"));
        TestPki pki = new TestPki("unreachable-ca");
        TestPki.Issued node = pki.node("edge-r");
        int deadPort = FreePorts.next();
        state.writeIdentity(node.keyPem(), node.certificatePem(), pki.caPem(),
                new StateDir.NodeRecord("edge-r", "127.0.0.1:" + deadPort, "127.0.0.1:" + deadPort));
        PodTemplate sleeper = Pods.template(PodTemplate.RestartPolicy.ALWAYS, Pods.container("main", Pods.BUSYBOX, "sleep", "3600"));
        Snapshot.Builder snapshot = Snapshot.newBuilder().setRevision(7);
        for (int i = 0; i < replicas; i++) {
            snapshot.addAssignments(Pods.assignment(ns, "app", i, sleeper));
        }
        new JournalStore(state.journalDir()).write(new JournalStore.Contents(snapshot.build(), List.of()));

        long t0 = System.nanoTime();
        Process first = startAgent(state, tmp.resolve("agent-1.log"));
        Await.until(WAIT, replicas + " replicas running", () -> Pods.running(cri, ns).size() == replicas,
                () -> tail(tmp.resolve("agent-1.log")));
        System.out.printf("cold start from the journal: %d replicas running after %d ms (JVM start included)%n",
                replicas, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        first.destroy();
        assertTrue(first.waitFor(30, TimeUnit.SECONDS));

        containerd.simulateReboot();
        assertEquals(List.of(), Pods.running(cri, ns), "a reboot leaves nothing running");

        long t1 = System.nanoTime();
        startAgent(state, tmp.resolve("agent-2.log"));
        Await.until(WAIT, "all " + replicas + " replicas running again with the cloud unreachable",
                () -> Pods.running(cri, ns).size() == replicas && Pods.sandboxes(cri, ns).size() == replicas
                        && Pods.containers(cri, ns).size() == replicas,
                () -> tail(tmp.resolve("agent-2.log")));
        System.out.printf("offline reboot recovery: %d replicas running again %d ms after the agent started%n",
                replicas, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t1));
    }

    private String containerOf(String replica) {
        return cri.listContainers(Map.of(PodLabels.MANAGED, "true", PodLabels.NAMESPACE, NS, PodLabels.REPLICA, replica))
                .stream().map(Container::getId).findFirst().orElseThrow();
    }

    private Set<String> sandboxIds() {
        return Pods.sandboxes(cri, NS).stream().map(PodSandbox::getId).collect(Collectors.toCollection(TreeSet::new));
    }

    private Process startAgent(StateDir state, Path log) throws IOException {
        String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
        Process process = new ProcessBuilder(java, "-Xms16m", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=32m", "-Xss512k",
                "-cp", System.getProperty("java.class.path"), "dev.edgeplane.agent.cli.EdgeAgent", "run",
                "--state-dir", state.path().toString(), "--cri-endpoint", containerd.endpoint(),
                "--log-dir", tmp.resolve("logs").toString(), "--sync-period", "1s")
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        agents.add(process);
        return process;
    }

    private static long rssKiB(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return "";
        }
    }

    private static String tail(Path file) {
        String[] lines = read(file).split("\n");
        return String.join("\n", List.of(lines).subList(Math.max(0, lines.length - 30), lines.length));
    }
}
