package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.ContainerPort;
import dev.edgeplane.api.v1.EnvVar;
import dev.edgeplane.api.v1.Toleration;
import java.util.HashSet;
import java.util.Set;

/** Checks an App as the caller sent it (namespace already defaulted); field paths start at "app". */
final class AppValidator {
    private AppValidator() {}

    static Validation validate(App app) {
        Validation v = new Validation();
        v.dnsLabel("app.metadata.name", app.getMetadata().getName());
        v.dnsLabel("app.metadata.namespace", app.getMetadata().getNamespace());
        v.labels("app.metadata.labels", app.getMetadata().getLabelsMap());
        AppSpec spec = app.getSpec();
        if (spec.getMode() == AppSpec.Mode.UNRECOGNIZED) {
            v.add("app.spec.mode", "unknown mode");
        }
        if (spec.getReplicas() < 0) {
            v.add("app.spec.replicas", "must be 0 or more (got " + spec.getReplicas() + ")");
        }
        v.labels("app.spec.node_selector", spec.getNodeSelectorMap());
        for (int i = 0; i < spec.getTolerationsCount(); i++) {
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
        }
        if (spec.hasRescheduleAfterUnreachable() && (spec.getRescheduleAfterUnreachable().getSeconds() < 0
                || spec.getRescheduleAfterUnreachable().getNanos() < 0)) {
            v.add("app.spec.reschedule_after_unreachable", "must not be negative");
        }
        v.labels("app.spec.template.labels", spec.getTemplate().getLabelsMap());
        if (spec.getTemplate().getTerminationGraceSeconds() < 0) {
            v.add("app.spec.template.termination_grace_seconds", "must not be negative");
        }
        if (spec.getTemplate().getContainersCount() == 0) {
            v.add("app.spec.template.containers", "at least one container is required");
        }
        PodVolumeValidator.validate(v, spec);
        Set<String> names = new HashSet<>();
        Set<String> hostPorts = new HashSet<>();
        for (int i = 0; i < spec.getTemplate().getContainersCount(); i++) {
            Container c = spec.getTemplate().getContainers(i);
            String field = "app.spec.template.containers[" + i + "]";
            v.dnsLabel(field + ".name", c.getName());
            if (!c.getName().isEmpty() && !names.add(c.getName())) {
                v.add(field + ".name", "duplicate container name \"" + c.getName() + "\"");
            }
            if (c.getImage().isBlank()) {
                v.add(field + ".image", "must not be empty");
            } else if (c.getImage().chars().anyMatch(Character::isWhitespace)) {
                v.add(field + ".image", "must not contain whitespace");
            }
            for (int e = 0; e < c.getEnvCount(); e++) {
                EnvVar env = c.getEnv(e);
                v.envName(field + ".env[" + e + "].name", env.getName());
            }
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
            if (c.hasLimits()) {
                if (c.getLimits().getCpuMillis() < 0) {
                    v.add(field + ".limits.cpu_millis", "must not be negative");
                }
                if (c.getLimits().getMemoryBytes() < 0) {
                    v.add(field + ".limits.memory_bytes", "must not be negative");
                }
            }
        }
        return v;
    }
}
