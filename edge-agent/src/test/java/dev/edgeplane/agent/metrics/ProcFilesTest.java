package dev.edgeplane.agent.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The /proc parsers on this machine's real files, and on fixed samples for the odd cases. */
class ProcFilesTest {
    @Test
    void parsesThisMachinesProc() throws Exception {
        ProcFiles.CpuTimes cpu = ProcFiles.stat(Files.readString(Path.of("/proc/stat")));
        // The JVM may be held to fewer CPUs (cgroup quota) than the host has online.
        assertTrue(cpu.cpus() >= Runtime.getRuntime().availableProcessors(), "online CPUs: " + cpu.cpus());
        assertTrue(cpu.total() > cpu.busy() && cpu.busy() > 0, cpu.toString());

        ProcFiles.LoadAverage load = ProcFiles.loadavg(Files.readString(Path.of("/proc/loadavg")));
        assertTrue(load.load1() >= 0 && load.load15() >= 0, load.toString());

        ProcFiles.Memory memory = ProcFiles.meminfo(Files.readString(Path.of("/proc/meminfo")));
        assertTrue(memory.total() > 64L << 20, "MemTotal in bytes: " + memory);
        assertTrue(memory.available() > 0 && memory.available() <= memory.total(), memory.toString());

        List<ProcFiles.Interface> nics = ProcFiles.netDev(Files.readString(Path.of("/proc/net/dev")));
        assertTrue(nics.stream().anyMatch(n -> n.name().equals("lo")), nics.toString());

        assertTrue(ProcFiles.uptime(Files.readString(Path.of("/proc/uptime"))) > 0);
        Optional<Long> rss = ProcFiles.residentBytes(Files.readString(Path.of("/proc/self/status")));
        assertTrue(rss.isPresent() && rss.get() > 1 << 20, "VmRSS of this JVM: " + rss);
    }

    @Test
    void cpuCoresFromTwoReadings() {
        ProcFiles.CpuTimes before = ProcFiles.stat("""
                cpu  100 0 50 800 50 0 0 0 0 0
                cpu0 50 0 25 400 25 0 0 0 0 0
                cpu1 50 0 25 400 25 0 0 0 0 0
                intr 1 2 3
                """);
        // 150 more busy ticks and 50 idle ones: 3/4 of two CPUs.
        ProcFiles.CpuTimes after = ProcFiles.stat("""
                cpu  200 10 80 850 50 5 5 0 0 0
                cpu0 100 5 40 425 25 3 2 0 0 0
                cpu1 100 5 40 425 25 2 3 0 0 0
                """);
        assertEquals(2, after.cpus());
        assertEquals(1.5, after.coresBusySince(before).orElseThrow(), 1e-9);
        assertFalse(before.coresBusySince(after).isPresent(), "a counter going backwards gives no figure");
        assertFalse(after.coresBusySince(after).isPresent(), "no elapsed ticks, no figure");
    }

    @Test
    void oldKernelsAndShortLines() {
        // A kernel before 3.14: no MemAvailable, so free + buffers + cached; a stat line with only 4 fields.
        ProcFiles.Memory memory = ProcFiles.meminfo("""
                MemTotal:        2048 kB
                MemFree:          512 kB
                Buffers:          128 kB
                Cached:           256 kB
                SwapCached:         0 kB
                """);
        assertEquals(2048 * 1024, memory.total());
        assertEquals((512 + 128 + 256) * 1024, memory.available());
        assertEquals((2048 - 896) * 1024, memory.used());
        ProcFiles.CpuTimes cpu = ProcFiles.stat("cpu 10 0 10 80\n");
        assertEquals(20, cpu.busy());
        assertEquals(100, cpu.total());
        assertEquals(1, cpu.cpus(), "no per-CPU lines: at least one");
        assertThrows(IllegalArgumentException.class, () -> ProcFiles.stat("intr 1 2\n"));
        assertThrows(IllegalArgumentException.class, () -> ProcFiles.meminfo("MemFree: 1 kB\n"));
    }

    @Test
    void netDevWithNamesGluedToCounters() {
        List<ProcFiles.Interface> nics = ProcFiles.netDev("""
                Inter-|   Receive                                                |  Transmit
                 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
                    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0
                  eth0:4294967296000 2 0 0 0 0 0 0 77 3 0 0 0 0 0 0
                veth-a.1: 5 1 0 0 0 0 0 0 6 1 0 0 0 0 0 0
                """);
        assertEquals(List.of(new ProcFiles.Interface("lo", 100, 100), new ProcFiles.Interface("eth0", 4294967296000L, 77),
                new ProcFiles.Interface("veth-a.1", 5, 6)), nics);
    }

    @Test
    void loadavgAndUptimeAndStatus() {
        assertEquals(new ProcFiles.LoadAverage(0.5, 1.25, 2.0), ProcFiles.loadavg("0.50 1.25 2.00 3/456 7890\n"));
        assertEquals(12345.67, ProcFiles.uptime("12345.67 23456.78\n"), 1e-9);
        assertEquals(Optional.of(4096L * 1024), ProcFiles.residentBytes("Name:\tjava\nVmRSS:\t    4096 kB\nThreads:\t3\n"));
        assertEquals(Optional.empty(), ProcFiles.residentBytes("Name:\tkthreadd\n"), "kernel threads have no VmRSS");
        assertThrows(IllegalArgumentException.class, () -> ProcFiles.loadavg("0.5\n"));
    }
}
