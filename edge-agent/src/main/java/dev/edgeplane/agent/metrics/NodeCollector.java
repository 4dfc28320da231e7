package dev.edgeplane.agent.metrics;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The host: CPU (busy cores over the last interval, from /proc/stat deltas), load, memory, disks
 * (statfs of / and the agent's state dir through java.nio's FileStore), network bytes per interface
 * (loopback excluded, at most {@link #MAX_INTERFACES} so a host full of veths cannot blow up the
 * series count) and uptime.
 */
public final class NodeCollector implements Collector {
    static final int MAX_INTERFACES = 16;

    private final Path proc;
    private final Map<String, Path> filesystems;
    private ProcFiles.CpuTimes previousCpu;

    /**
     * @param proc        /proc (a directory of sample files in tests)
     * @param filesystems mount label -> a path on that filesystem (e.g. root -> /, data -> the state dir)
     */
    public NodeCollector(Path proc, Map<String, Path> filesystems) {
        this.proc = proc;
        this.filesystems = new LinkedHashMap<>(filesystems);
    }

    public static NodeCollector forHost(Path stateDir) {
        return new NodeCollector(Path.of("/proc"), Map.of("root", Path.of("/"), "data", stateDir));
    }

    @Override
    public String name() {
        return "node";
    }

    @Override
    public void collect(Samples out) throws IOException {
        ProcFiles.CpuTimes cpu = ProcFiles.stat(read("stat"));
        out.gauge("node_cpu_cores", cpu.cpus());
        if (previousCpu != null) {
            cpu.coresBusySince(previousCpu).ifPresent(cores -> {
                out.gauge("node_cpu_usage_cores", cores);
                out.gauge("node_cpu_usage_ratio", cores / cpu.cpus());
            });
        }
        previousCpu = cpu;

        ProcFiles.LoadAverage load = ProcFiles.loadavg(read("loadavg"));
        out.gauge("node_load1", load.load1());
        out.gauge("node_load5", load.load5());
        out.gauge("node_load15", load.load15());

        ProcFiles.Memory memory = ProcFiles.meminfo(read("meminfo"));
        out.gauge("node_memory_total_bytes", memory.total());
        out.gauge("node_memory_available_bytes", memory.available());
        out.gauge("node_memory_used_bytes", memory.used());

        for (Map.Entry<String, Path> fs : filesystems.entrySet()) {
            FileStore store = Files.getFileStore(existing(fs.getValue()));
            long total = store.getTotalSpace();
            out.gauge("node_filesystem_used_bytes", total - store.getUnallocatedSpace(), "mount", fs.getKey());
            out.gauge("node_filesystem_free_bytes", store.getUsableSpace(), "mount", fs.getKey());
        }

        int interfaces = 0;
        for (ProcFiles.Interface nic : ProcFiles.netDev(read("net/dev"))) {
            if (nic.name().equals("lo") || interfaces++ >= MAX_INTERFACES) {
                continue;
            }
            out.counter("node_network_receive_bytes_total", nic.receiveBytes(), "interface", nic.name());
            out.counter("node_network_transmit_bytes_total", nic.transmitBytes(), "interface", nic.name());
        }

        // A counter: it only grows (and starts again at boot), so the control plane keeps it exact, not rounded.
        out.counter("node_uptime_seconds", ProcFiles.uptime(read("uptime")));
    }

    private String read(String file) throws IOException {
        return Files.readString(proc.resolve(file), StandardCharsets.US_ASCII);
    }

    /** The state dir may not exist yet on a fresh host: its nearest existing parent is on the same filesystem. */
    private static Path existing(Path path) {
        Path p = path.toAbsolutePath();
        while (p != null && !Files.exists(p)) {
            p = p.getParent();
        }
        return p == null ? Path.of("/") : p;
    }
}
