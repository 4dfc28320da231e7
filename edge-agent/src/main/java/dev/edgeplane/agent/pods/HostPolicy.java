package dev.edgeplane.agent.pods;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * What this host lets pods do to it, set by its own flags and never by the control plane (the
 * kubelet's and PodSecurity's job, done where the host is): privileged containers, and host paths
 * only under the prefixes it allows (none by default: a hostPath of "/" is root on the host).
 *
 * @param allowPrivileged   run containers that ask to be privileged
 * @param allowedHostPaths  absolute, normalised prefixes a hostPath volume may be at or under
 */
public record HostPolicy(boolean allowPrivileged, List<Path> allowedHostPaths) {
    public HostPolicy {
        allowedHostPaths = allowedHostPaths.stream().map(HostPolicy::resolved).toList();
    }

    /**
     * Absolute, normalised, and through symlinks as far as it exists: its nearest existing ancestor is
     * resolved, so a link anywhere on the way cannot lead out of an allowed prefix.
     */
    private static Path resolved(Path path) {
        Path absolute = path.toAbsolutePath().normalize();
        Path existing = absolute;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            return absolute;
        }
        try {
            return existing.toRealPath().resolve(existing.relativize(absolute)).normalize();
        } catch (IOException e) {
            return absolute;
        }
    }

    /** As the agent tells the control plane (placement keeps pods this host would refuse off it). */
    public dev.edgeplane.api.v1.WorkloadPolicy toProto() {
        return dev.edgeplane.api.v1.WorkloadPolicy.newBuilder()
                .setAllowPrivileged(allowPrivileged)
                .addAllAllowedHostPaths(allowedHostPaths.stream().map(Path::toString).toList())
                .build();
    }

    /** Nothing privileged, no host paths. */
    public static HostPolicy strict() {
        return new HostPolicy(false, List.of());
    }

    /**
     * Why a hostPath volume at {@code path} is not allowed here, if it is not. The path is resolved
     * through symlinks where it exists, so a link under an allowed prefix cannot lead out of it.
     */
    public Optional<String> hostPathRefusal(String volume, String path) {
        Path real = resolved(Path.of(path));
        for (Path allowed : allowedHostPaths) {
            if (real.startsWith(allowed)) {
                return Optional.empty();
            }
        }
        return Optional.of("hostPath volume " + volume + " (" + path + ") is not under a path this node allows "
                + (allowedHostPaths.isEmpty() ? "(none: edge-agent --allow-host-paths)" : allowedHostPaths + " (edge-agent --allow-host-paths)"));
    }
}
