package dev.edgeplane.agent.pods;

import dev.edgeplane.agent.journal.DesiredState;
import java.util.Map;
import java.util.Optional;

/**
 * The labels on every sandbox and container the agent creates: they are how a restarted agent finds
 * (adopts) what it runs, and tells its own pods from anyone else's.
 */
public final class PodLabels {
    public static final String MANAGED = "edgeplane.dev/managed";
    public static final String NAMESPACE = "edgeplane.dev/namespace";
    public static final String REPLICA = "edgeplane.dev/replica";
    public static final String APP = "edgeplane.dev/app";
    public static final String TEMPLATE_HASH = "edgeplane.dev/template-hash";
    public static final String CONTAINER = "edgeplane.dev/container";
    /** Annotation: the App generation a pod was made from. */
    public static final String GENERATION = "edgeplane.dev/generation";
    /** Annotation on a sandbox: its containers' stop grace, for when the assignment is already gone. */
    public static final String GRACE_SECONDS = "edgeplane.dev/termination-grace-seconds";
    /** Annotation on a container: its pre_stop hook (a LifecycleHandler, base64), run before any stop of it. */
    public static final String PRE_STOP = "edgeplane.dev/pre-stop";
    /** Annotation: the TCP ports the container declares (what a port-forward to its replica may reach). */
    public static final String PORTS = dev.edgeplane.tunnel.edge.CriContainers.PORTS;

    private PodLabels() {}

    /** Selects everything the agent manages. */
    public static Map<String, String> managed() {
        return Map.of(MANAGED, "true");
    }

    /** Selects one replica's sandboxes and containers. */
    public static Map<String, String> replica(String namespace, String replica) {
        return Map.of(MANAGED, "true", NAMESPACE, namespace, REPLICA, replica);
    }

    /** "namespace/replica" of a labelled object, if it carries both labels. */
    public static Optional<String> replicaKey(Map<String, String> labels) {
        String namespace = labels.get(NAMESPACE);
        String replica = labels.get(REPLICA);
        if (namespace == null || replica == null) {
            return Optional.empty();
        }
        return Optional.of(DesiredState.key(namespace, replica));
    }
}
