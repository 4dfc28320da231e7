package dev.edgeplane.agent.host;

import dev.edgeplane.api.v1.NodeInfo;
import dev.edgeplane.api.v1.Resources;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** What the agent tells the control plane about its host. */
public final class HostInfo {
    private HostInfo() {}

    /** The agent's version, from the jar manifest ("dev" when run from classes). */
    public static String agentVersion() {
        String version = HostInfo.class.getPackage().getImplementationVersion();
        return version == null ? "dev" : version;
    }

    public static NodeInfo describe(String containerRuntimeVersion) {
        return NodeInfo.newBuilder()
                .setAgentVersion(agentVersion())
                .setOs(System.getProperty("os.name", "").toLowerCase(Locale.ROOT))
                .setArch(arch())
                .setKernelVersion(System.getProperty("os.version", ""))
                .setHostname(hostname())
                .setCapacity(Resources.newBuilder()
                        .setCpuMillis(Runtime.getRuntime().availableProcessors() * 1000L)
                        .setMemoryBytes(memoryBytes()))
                .setContainerRuntimeVersion(containerRuntimeVersion == null ? "" : containerRuntimeVersion)
                .build();
    }

    /** Go-style architecture names, as container images use them. */
    static String arch() {
        String arch = System.getProperty("os.arch", "");
        return switch (arch) {
            case "x86_64", "amd64" -> "amd64";
            case "aarch64" -> "arm64";
            default -> arch;
        };
    }

    public static String hostname() {
        try {
            String name = Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
            if (!name.isEmpty()) {
                return name;
            }
        } catch (IOException ignored) {
            // fall through
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "localhost";
        }
    }

    /** The host name made a DNS-1123 label: the default node name. */
    public static String defaultNodeName() {
        String name = hostname().toLowerCase(Locale.ROOT);
        int dot = name.indexOf('.');
        if (dot > 0) {
            name = name.substring(0, dot);
        }
        name = name.replaceAll("[^a-z0-9-]", "-");
        if (name.length() > 63) {
            name = name.substring(0, 63);
        }
        name = name.replaceAll("^-+", "").replaceAll("-+$", "");
        return name.isEmpty() ? "node" : name;
    }

    static long memoryBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) {
                    String[] parts = line.split("\\s+");
                    return Long.parseLong(parts[1]) * 1024L;
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // unknown
        }
        return 0;
    }
}
