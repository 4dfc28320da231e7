package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.ContainerPort;
import dev.edgeplane.api.v1.Toleration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Checks an App as the caller sent it (namespace already defaulted); field paths start at "app".
 * Every count and length is bounded by {@link ApiLimits} before anything is walked, so checking
 * costs O(the request), which the server's inbound message size bounds.
 */
final class AppValidator {
    /** Pools an App may spread over. */
    static final int MAX_POOLS = 64;

    private AppValidator() {}

    /**
     * AppSpec.pools: REPLICATED only, names DNS labels (a pool need not exist yet), unique, at most
     * {@link #MAX_POOLS}; each count 0 or more, the total within edgeplane.limits.max-replicas.
     */
    private static void pools(AppSpec spec, Validation v, ApiLimits limits) {
        if (spec.getPoolsCount() == 0) {
            return;
        }
        if (spec.getMode() == AppSpec.Mode.EVERY_NODE) {
            v.add("app.spec.pools", "only for REPLICATED apps (an EVERY_NODE app selects a pool with node_selector "
                    + dev.edgeplane.api.AppPools.POOL_LABEL + ")");
            return;
        }
        if (spec.getPoolsCount() > MAX_POOLS) {
            v.add("app.spec.pools", "at most " + MAX_POOLS + " pools (got " + spec.getPoolsCount() + ")");
            return;
        }
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < spec.getPoolsCount(); i++) {
            dev.edgeplane.api.v1.PoolReplicas pool = spec.getPools(i);
            String field = "app.spec.pools[" + i + "]";
            v.dnsLabel(field + ".name", pool.getName());
            if (!seen.add(pool.getName())) {
                v.add(field + ".name", "pool \"" + pool.getName() + "\" is listed twice");
            }
            if (pool.hasReplicas() && pool.getReplicas() < 0) {
                v.add(field + ".replicas", "must be 0 or more (got " + pool.getReplicas() + ")");
            }
        }
        long total = dev.edgeplane.api.AppPools.desiredReplicas(spec);
        if (total > limits.maxReplicas()) {
            v.add("app.spec.pools", "replicas over all pools must be at most " + limits.maxReplicas() + " (got " + total
                    + "; edgeplane.limits.max-replicas)");
        }
    }

    /**
     * The App's problems as INVALID_ARGUMENT field violations; a template over
     * {@code max-template-bytes} is refused at once with RESOURCE_EXHAUSTED naming that limit.
     */
    static Validation validate(App app, ApiLimits limits) {
        int templateBytes = app.getSpec().getTemplate().getSerializedSize();
        if (templateBytes > limits.maxTemplateBytes()) {
            throw Validation.exhausted("edgeplane.limits.max-template-bytes", "app.spec.template is " + templateBytes
                    + " bytes serialized, over the limit of " + limits.maxTemplateBytes());
        }
        Validation v = new Validation();
        v.dnsLabel("app.metadata.name", app.getMetadata().getName());
        v.dnsLabel("app.metadata.namespace", app.getMetadata().getNamespace());
        v.labels("app.metadata.labels", app.getMetadata().getLabelsMap(), limits.maxLabels());
        v.annotations("app.metadata.annotations", app.getMetadata().getAnnotationsMap(), limits.maxAnnotationsBytes());
        AppSpec spec = app.getSpec();
        if (spec.getMode() == AppSpec.Mode.UNRECOGNIZED) {
            v.add("app.spec.mode", "unknown mode");
        }
        if (spec.getReplicas() < 0) {
            v.add("app.spec.replicas", "must be 0 or more (got " + spec.getReplicas() + ")");
        } else if (spec.getReplicas() > limits.maxReplicas()) {
            v.add("app.spec.replicas", "must be at most " + limits.maxReplicas() + " (got " + spec.getReplicas()
                    + "; edgeplane.limits.max-replicas)");
        }
        pools(spec, v, limits);
        v.labels("app.spec.node_selector", spec.getNodeSelectorMap(), limits.maxLabels());
        v.atMost("app.spec.tolerations", spec.getTolerationsCount(), limits.maxListItems(), "max-list-items");
        for (int i = 0; i < Math.min(spec.getTolerationsCount(), limits.maxListItems()); i++) {
            Toleration t = spec.getTolerations(i);
            String field = "app.spec.tolerations[" + i + "]";
            if (t.getOperator() == Toleration.Operator.EXISTS && !t.getValue().isEmpty()) {
                v.add(field + ".value", "must be empty when operator is EXISTS");
            }
            if (t.getOperator() != Toleration.Operator.EXISTS && t.getKey().isEmpty()) {
                v.add(field + ".key", "must be set unless operator is EXISTS");
            }
            if (!t.getKey().isEmpty()) {
                v.labelKey(field + ".key", t.getKey());
            }
            if (!t.getValue().isEmpty() && !new Validation().labels(field, java.util.Map.of("k", t.getValue())).ok()) {
                v.add(field + ".value", "must be a label value (at most 63 alphanumerics, '-', '_' or '.')");
            }
        }
        if (spec.hasRescheduleAfterUnreachable() && (spec.getRescheduleAfterUnreachable().getSeconds() < 0
                || spec.getRescheduleAfterUnreachable().getNanos() < 0)) {
            v.add("app.spec.reschedule_after_unreachable", "must not be negative");
        }
        RolloutValidator.validate(spec, v);
        v.labels("app.spec.template.labels", spec.getTemplate().getLabelsMap(), limits.maxLabels());
        if (spec.getTemplate().getTerminationGraceSeconds() < 0) {
            v.add("app.spec.template.termination_grace_seconds", "must not be negative");
        }
        if (spec.getTemplate().getContainersCount() == 0) {
            v.add("app.spec.template.containers", "at least one container is required");
        }
        v.atMost("app.spec.template.containers", spec.getTemplate().getContainersCount(), limits.maxContainers(), "max-containers");
        v.atMost("app.spec.template.volumes", spec.getTemplate().getVolumesCount(), limits.maxListItems(), "max-list-items");
        v.atMost("app.spec.template.image_pull_secrets", spec.getTemplate().getImagePullSecretsCount(), limits.maxListItems(),
                "max-list-items");
        if (spec.getTemplate().getContainersCount() > limits.maxContainers()
                || spec.getTemplate().getVolumesCount() > limits.maxListItems()
                || spec.getTemplate().getImagePullSecretsCount() > limits.maxListItems()) {
            return v; // too many to walk
        }
        PodVolumeValidator.validate(v, spec);
        ConfigUseValidator.template(v, "app.spec.template", spec.getTemplate());
        v.atMost("app.spec.template.init_containers", spec.getTemplate().getInitContainersCount(), limits.maxContainers(), "max-containers");
        if (spec.getTemplate().getInitContainersCount() > limits.maxContainers()) {
            return v;
        }
        Set<String> names = new HashSet<>();
        Set<String> hostPorts = new HashSet<>();
        for (int i = 0; i < spec.getTemplate().getInitContainersCount(); i++) {
            container(v, "app.spec.template.init_containers[" + i + "]", spec.getTemplate().getInitContainers(i), true, names, hostPorts, limits);
        }
        for (int i = 0; i < spec.getTemplate().getContainersCount(); i++) {
            container(v, "app.spec.template.containers[" + i + "]", spec.getTemplate().getContainers(i), false, names, hostPorts, limits);
        }
        return v;
    }

    /** One container of the template; {@code names} and {@code hostPorts} are shared by all of them. */
    private static void container(Validation v, String field, Container c, boolean init, Set<String> names, Set<String> hostPorts,
                                  ApiLimits limits) {
        if (!containerWithinLimits(v, field, c, limits)) {
            return;
        }
        v.dnsLabel(field + ".name", c.getName());
        if (!c.getName().isEmpty() && !names.add(c.getName())) {
            v.add(field + ".name", "duplicate container name \"" + c.getName() + "\" (names are unique across init_containers and containers)");
        }
        if (c.getImage().isBlank()) {
            v.add(field + ".image", "must not be empty");
        } else if (c.getImage().chars().anyMatch(Character::isWhitespace)) {
            v.add(field + ".image", "must not contain whitespace");
        }
        for (int e = 0; e < c.getEnvCount(); e++) {
            v.envName(field + ".env[" + e + "].name", c.getEnv(e).getName());
        }
        ConfigUseValidator.container(v, field, c);
        for (int p = 0; p < c.getPortsCount(); p++) {
            ContainerPort port = c.getPorts(p);
            String pf = field + ".ports[" + p + "]";
            if (port.getContainerPort() < 1 || port.getContainerPort() > 65535) {
                v.add(pf + ".container_port", "must be 1-65535 (got " + port.getContainerPort() + ")");
            }
            if (port.getHostPort() != 0 && port.getHostPort() != port.getContainerPort()) {
                v.add(pf + ".host_port", "must be 0 or equal to container_port (pods use host networking)");
            }
            if (!port.getName().isEmpty() && !Validation.isDnsLabel(port.getName())) {
                v.add(pf + ".name", "must be a DNS-1123 label");
            }
            if (port.getProtocol() == ContainerPort.Protocol.UNRECOGNIZED) {
                v.add(pf + ".protocol", "unknown protocol");
            }
            if (port.getHostPort() != 0) {
                String id = port.getHostPort() + "/" + (port.getProtocol() == ContainerPort.Protocol.UDP ? "udp" : "tcp");
                if (!hostPorts.add(id)) {
                    v.add(pf + ".host_port", "host port " + id + " is used twice in this template");
                }
            }
        }
        if (c.hasSecurityContext()) {
            securityContext(v, field + ".security_context", c.getSecurityContext(), limits);
        }
        if (c.hasRequests()) {
            if (c.getRequests().getCpuMillis() < 0) {
                v.add(field + ".requests.cpu_millis", "must not be negative");
            }
            if (c.getRequests().getMemoryBytes() < 0) {
                v.add(field + ".requests.memory_bytes", "must not be negative");
            }
        }
        if (c.hasLimits()) {
            if (c.getLimits().getCpuMillis() < 0) {
                v.add(field + ".limits.cpu_millis", "must not be negative");
            }
            if (c.getLimits().getMemoryBytes() < 0) {
                v.add(field + ".limits.memory_bytes", "must not be negative");
            }
        }
        if (init) {
            // As in Kubernetes: an init container runs to completion, so probes and hooks mean nothing there.
            if (c.hasLivenessProbe()) {
                v.add(field + ".liveness_probe", "must not be set for an init container");
            }
            if (c.hasReadinessProbe()) {
                v.add(field + ".readiness_probe", "must not be set for an init container");
            }
            if (c.hasStartupProbe()) {
                v.add(field + ".startup_probe", "must not be set for an init container");
            }
            if (c.hasLifecycle()) {
                v.add(field + ".lifecycle", "must not be set for an init container");
            }
        } else {
            ProbeValidator.validate(v, field, c, limits);
        }
    }

    /** Kubernetes' rules: ids not negative, run_as_non_root not with run_as_user 0, capability names. Privileged is the host's call. */
    private static void securityContext(Validation v, String field, dev.edgeplane.api.v1.SecurityContext sc, ApiLimits limits) {
        if (sc.hasRunAsUser() && (sc.getRunAsUser() < 0 || sc.getRunAsUser() > Integer.MAX_VALUE)) {
            v.add(field + ".run_as_user", "must be 0-2147483647 (got " + sc.getRunAsUser() + ")");
        }
        if (sc.hasRunAsGroup() && (sc.getRunAsGroup() < 0 || sc.getRunAsGroup() > Integer.MAX_VALUE)) {
            v.add(field + ".run_as_group", "must be 0-2147483647 (got " + sc.getRunAsGroup() + ")");
        }
        if (sc.getRunAsNonRoot() && sc.hasRunAsUser() && sc.getRunAsUser() == 0) {
            v.add(field + ".run_as_user", "must be non-zero when run_as_non_root is true");
        }
        capabilities(v, field + ".capabilities.add", sc.getCapabilities().getAddList(), limits);
        capabilities(v, field + ".capabilities.drop", sc.getCapabilities().getDropList(), limits);
    }

    private static void capabilities(Validation v, String field, List<String> names, ApiLimits limits) {
        v.atMost(field, names.size(), limits.maxListItems(), "max-list-items");
        for (int i = 0; i < Math.min(names.size(), limits.maxListItems()); i++) {
            if (!names.get(i).matches("[A-Z][A-Z_]{0,63}")) {
                v.add(field + "[" + i + "]", "must be a capability name such as NET_ADMIN or ALL (got \"" + abbreviate(names.get(i)) + "\")");
            }
        }
    }

    private static String abbreviate(String s) {
        return s.length() > 70 ? s.substring(0, 67) + "..." : s;
    }

    /** Counts and lengths of one container; false when a list is too long to walk. */
    private static boolean containerWithinLimits(Validation v, String field, Container c, ApiLimits limits) {
        int max = limits.maxListItems();
        v.atMost(field + ".command", c.getCommandCount(), max, "max-list-items");
        v.atMost(field + ".args", c.getArgsCount(), max, "max-list-items");
        v.atMost(field + ".env", c.getEnvCount(), max, "max-list-items");
        v.atMost(field + ".ports", c.getPortsCount(), max, "max-list-items");
        v.atMost(field + ".volume_mounts", c.getVolumeMountsCount(), max, "max-list-items");
        v.atMost(field + ".env_from", c.getEnvFromCount(), max, "max-list-items");
        if (c.getEnvFromCount() > max || c.getCommandCount() > max || c.getArgsCount() > max || c.getEnvCount() > max || c.getPortsCount() > max
                || c.getVolumeMountsCount() > max) {
            return false;
        }
        int bytes = limits.maxStringBytes();
        v.maxBytes(field + ".image", c.getImage(), bytes, "max-string-bytes");
        v.maxBytes(field + ".working_dir", c.getWorkingDir(), bytes, "max-string-bytes");
        for (int i = 0; i < c.getCommandCount(); i++) {
            v.maxBytes(field + ".command[" + i + "]", c.getCommand(i), bytes, "max-string-bytes");
        }
        for (int i = 0; i < c.getArgsCount(); i++) {
            v.maxBytes(field + ".args[" + i + "]", c.getArgs(i), bytes, "max-string-bytes");
        }
        for (int i = 0; i < c.getEnvCount(); i++) {
            v.maxBytes(field + ".env[" + i + "].name", c.getEnv(i).getName(), bytes, "max-string-bytes");
            v.maxBytes(field + ".env[" + i + "].value", c.getEnv(i).getValue(), bytes, "max-string-bytes");
        }
        for (int i = 0; i < c.getVolumeMountsCount(); i++) {
            v.maxBytes(field + ".volume_mounts[" + i + "].mount_path", c.getVolumeMounts(i).getMountPath(), bytes, "max-string-bytes");
        }
        return true;
    }
}
