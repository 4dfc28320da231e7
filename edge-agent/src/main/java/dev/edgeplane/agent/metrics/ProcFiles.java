package dev.edgeplane.agent.metrics;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Parsers for the /proc files node and agent metrics come from (proc(5)). Pure functions on text,
 * so the odd cases (a kernel without MemAvailable, "eth0:123" with no space) are tested on samples.
 */
public final class ProcFiles {
    private ProcFiles() {}

    /** The aggregate "cpu" line of /proc/stat, in clock ticks, and how many "cpuN" lines (online CPUs) follow. */
    public record CpuTimes(long busy, long total, int cpus) {
        /** Cores busy between an earlier reading and this one: the busy share of the elapsed ticks times the CPUs. */
        public Optional<Double> coresBusySince(CpuTimes earlier) {
            long elapsed = total - earlier.total;
            long busyDelta = busy - earlier.busy;
            if (elapsed <= 0 || busyDelta < 0) {
                return Optional.empty();
            }
            return Optional.of((double) busyDelta / elapsed * cpus);
        }
    }

    public static CpuTimes stat(String text) {
        long busy = -1;
        long total = -1;
        int cpus = 0;
        for (String line : text.split("\n")) {
            if (line.startsWith("cpu ")) {
                String[] f = line.trim().split("\\s+");
                // user nice system idle iowait irq softirq steal (guest time is already inside user/nice)
                long[] v = new long[8];
                for (int i = 0; i < v.length && i + 1 < f.length; i++) {
                    v[i] = Long.parseLong(f[i + 1]);
                }
                long idle = v[3] + v[4];
                busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
                total = busy + idle;
            } else if (line.startsWith("cpu") && line.length() > 3 && Character.isDigit(line.charAt(3))) {
                cpus++;
            }
        }
        if (busy < 0) {
            throw new IllegalArgumentException("no aggregate cpu line in /proc/stat");
        }
        return new CpuTimes(busy, total, Math.max(cpus, 1));
    }

    public record LoadAverage(double load1, double load5, double load15) {}

    public static LoadAverage loadavg(String text) {
        String[] f = text.trim().split("\\s+");
        if (f.length < 3) {
            throw new IllegalArgumentException("not /proc/loadavg: '" + text.trim() + "'");
        }
        return new LoadAverage(Double.parseDouble(f[0]), Double.parseDouble(f[1]), Double.parseDouble(f[2]));
    }

    /** Bytes. available falls back to MemFree + Buffers + Cached on kernels older than 3.14 (no MemAvailable). */
    public record Memory(long total, long available) {
        public long used() {
            return Math.max(0, total - available);
        }
    }

    public static Memory meminfo(String text) {
        long total = -1;
        long available = -1;
        long free = 0;
        long buffers = 0;
        long cached = 0;
        for (String line : text.split("\n")) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue;
            }
            String key = line.substring(0, colon);
            switch (key) {
                case "MemTotal" -> total = kib(line, colon);
                case "MemAvailable" -> available = kib(line, colon);
                case "MemFree" -> free = kib(line, colon);
                case "Buffers" -> buffers = kib(line, colon);
                case "Cached" -> cached = kib(line, colon);
                default -> { }
            }
        }
        if (total < 0) {
            throw new IllegalArgumentException("no MemTotal in /proc/meminfo");
        }
        return new Memory(total, available >= 0 ? available : free + buffers + cached);
    }

    /** "VmRSS:     1234 kB" of /proc/PID/status, in bytes. */
    public static Optional<Long> residentBytes(String status) {
        for (String line : status.split("\n")) {
            if (line.startsWith("VmRSS:")) {
                return Optional.of(kib(line, line.indexOf(':')));
            }
        }
        return Optional.empty();
    }

    private static long kib(String line, int colon) {
        String[] f = line.substring(colon + 1).trim().split("\\s+");
        long value = Long.parseLong(f[0]);
        return f.length > 1 && f[1].equalsIgnoreCase("kB") ? value * 1024 : value;
    }

    public record Interface(String name, long receiveBytes, long transmitBytes) {}

    /** Every interface of /proc/net/dev (two header lines, then "name: 16 counters"; rx bytes first, tx bytes ninth). */
    public static List<Interface> netDev(String text) {
        List<Interface> interfaces = new ArrayList<>();
        for (String line : text.split("\n")) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue; // the headers
            }
            String name = line.substring(0, colon).trim();
            String[] f = line.substring(colon + 1).trim().split("\\s+");
            if (name.isEmpty() || f.length < 9) {
                continue;
            }
            interfaces.add(new Interface(name, Long.parseLong(f[0]), Long.parseLong(f[8])));
        }
        return interfaces;
    }

    /** Seconds since boot, the first figure of /proc/uptime. */
    public static double uptime(String text) {
        String[] f = text.trim().split("\\s+");
        return Double.parseDouble(f[0]);
    }
}
