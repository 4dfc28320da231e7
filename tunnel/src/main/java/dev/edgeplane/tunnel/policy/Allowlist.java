package dev.edgeplane.tunnel.policy;

import dev.edgeplane.api.v1.SessionRequest;
import java.util.Arrays;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * What the edge host lets the tunnel do, configured on the host and never by the cloud: a signed
 * grant can only narrow this, not widen it.
 *
 * @param hostPorts TCP ports on the host's loopback that port-forward may reach
 * @param podPorts  ports of replicas (host network) port-forward may reach; {@code anyPodPort} allows all
 * @param httpPorts ports the HTTP proxy may call
 * @param exec      whether exec into containers is allowed at all
 * @param ssh       whether the shell (sshd) session is allowed at all
 * @param sshPort   where this host's sshd listens (on loopback)
 * @param logs      whether container logs may be read
 */
public record Allowlist(Set<Integer> hostPorts, Set<Integer> podPorts, boolean anyPodPort, Set<Integer> httpPorts,
                        boolean exec, boolean ssh, int sshPort, boolean logs) {

    public Allowlist {
        hostPorts = Set.copyOf(hostPorts);
        podPorts = Set.copyOf(podPorts);
        httpPorts = Set.copyOf(httpPorts);
    }

    /** The safe default: logs only. */
    public static Allowlist logsOnly() {
        return new Allowlist(Set.of(), Set.of(), false, Set.of(), false, false, 22, true);
    }

    /** Why {@code request} is outside this allowlist, if it is. */
    public Optional<String> refusal(SessionRequest request) {
        return switch (request.getVerb()) {
            case LOGS -> logs ? Optional.empty() : Optional.of("reading logs is disabled on this node");
            case EXEC -> exec ? Optional.empty() : Optional.of("exec is disabled on this node");
            case SSH -> ssh ? Optional.empty() : Optional.of("ssh (shell) sessions are disabled on this node");
            case HTTP_PROXY -> httpPorts.contains(request.getHttp().getPort()) ? Optional.empty()
                    : Optional.of("port " + request.getHttp().getPort() + " is not in this node's HTTP allowlist " + new TreeSet<>(httpPorts));
            case PORT_FORWARD -> {
                boolean toReplica = !request.getTarget().getReplica().isEmpty();
                int port = request.getPort();
                if (toReplica ? anyPodPort || podPorts.contains(port) : hostPorts.contains(port)) {
                    yield Optional.empty();
                }
                yield Optional.of("port " + port + " is not in this node's " + (toReplica ? "replica" : "host") + " port allowlist "
                        + (toReplica && anyPodPort ? "*" : new TreeSet<>(toReplica ? podPorts : hostPorts)));
            }
            default -> Optional.of("unknown session verb " + request.getVerb());
        };
    }

    /** "22,8080" (empty: none). */
    public static Set<Integer> ports(String list) {
        if (list == null || list.isBlank()) {
            return Set.of();
        }
        return Arrays.stream(list.split(","))
                .map(String::trim)
                .filter(s -> !s.isEmpty())
                .map(s -> {
                    int port = Integer.parseInt(s);
                    if (port < 1 || port > 65535) {
                        throw new IllegalArgumentException("not a TCP port: " + s);
                    }
                    return port;
                })
                .collect(Collectors.toUnmodifiableSet());
    }
}
