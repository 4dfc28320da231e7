package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.HTTPGetAction;
import dev.edgeplane.api.v1.LifecycleHandler;
import dev.edgeplane.api.v1.Probe;

/**
 * A container's liveness, readiness and startup probes and its lifecycle hooks, by Kubernetes' rules: exactly one handler,
 * ports 1-65535, no negative timing (0 takes the default), a success threshold of 1 for liveness
 * and startup; plus the bounds every input here has.
 */
final class ProbeValidator {
    /** Longest period, timeout or initial delay: a day. */
    static final int MAX_SECONDS = 86_400;
    static final int MAX_THRESHOLD = 10_000;

    private ProbeValidator() {}

    /** {@code field} is the container's path, e.g. "app.spec.template.containers[0]". */
    static void validate(Validation v, String field, Container c, ApiLimits limits) {
        if (c.hasLivenessProbe()) {
            probe(v, field + ".liveness_probe", c.getLivenessProbe(), true, limits);
        }
        if (c.hasReadinessProbe()) {
            probe(v, field + ".readiness_probe", c.getReadinessProbe(), false, limits);
        }
        if (c.hasStartupProbe()) {
            probe(v, field + ".startup_probe", c.getStartupProbe(), true, limits);
        }
        if (c.getLifecycle().hasPostStart()) {
            hook(v, field + ".lifecycle.post_start", c.getLifecycle().getPostStart(), limits);
        }
        if (c.getLifecycle().hasPreStop()) {
            hook(v, field + ".lifecycle.pre_stop", c.getLifecycle().getPreStop(), limits);
        }
    }

    /** A lifecycle hook: the probes' exec or http_get handler. */
    private static void hook(Validation v, String field, LifecycleHandler hook, ApiLimits limits) {
        switch (hook.getHandlerCase()) {
            case EXEC -> handler(v, field, Probe.newBuilder().setExec(hook.getExec()).build(), limits);
            case HTTP_GET -> handler(v, field, Probe.newBuilder().setHttpGet(hook.getHttpGet()).build(), limits);
            case HANDLER_NOT_SET -> v.add(field, "one of exec or http_get is required");
        }
    }

    private static void probe(Validation v, String field, Probe p, boolean restarts, ApiLimits limits) {
        seconds(v, field + ".initial_delay_seconds", p.getInitialDelaySeconds());
        seconds(v, field + ".period_seconds", p.getPeriodSeconds());
        seconds(v, field + ".timeout_seconds", p.getTimeoutSeconds());
        threshold(v, field + ".success_threshold", p.getSuccessThreshold());
        threshold(v, field + ".failure_threshold", p.getFailureThreshold());
        if (restarts && p.getSuccessThreshold() > 1) {
            v.add(field + ".success_threshold", "must be 1 for liveness and startup probes (got " + p.getSuccessThreshold() + ")");
        }
        handler(v, field, p, limits);
    }

    private static void handler(Validation v, String field, Probe p, ApiLimits limits) {
        int bytes = limits.maxStringBytes();
        switch (p.getHandlerCase()) {
            case HTTP_GET -> {
                HTTPGetAction get = p.getHttpGet();
                port(v, field + ".http_get.port", get.getPort());
                v.maxBytes(field + ".http_get.path", get.getPath(), bytes, "max-string-bytes");
                v.maxBytes(field + ".http_get.host", get.getHost(), bytes, "max-string-bytes");
                if (get.getPath().chars().anyMatch(ch -> ch <= ' ' || ch == 0x7f)) {
                    v.add(field + ".http_get.path", "must not contain spaces or control characters");
                }
                if (get.getScheme() == HTTPGetAction.Scheme.UNRECOGNIZED) {
                    v.add(field + ".http_get.scheme", "must be HTTP or HTTPS");
                }
                v.atMost(field + ".http_get.http_headers", get.getHttpHeadersCount(), limits.maxListItems(), "max-list-items");
                for (int i = 0; i < Math.min(get.getHttpHeadersCount(), limits.maxListItems()); i++) {
                    String hf = field + ".http_get.http_headers[" + i + "]";
                    String name = get.getHttpHeaders(i).getName();
                    if (name.isEmpty() || !name.chars().allMatch(ProbeValidator::isTokenChar)) {
                        v.add(hf + ".name", "must be an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)");
                    }
                    v.maxBytes(hf + ".value", get.getHttpHeaders(i).getValue(), bytes, "max-string-bytes");
                    if (get.getHttpHeaders(i).getValue().chars().anyMatch(ch -> ch == '\r' || ch == '\n')) {
                        v.add(hf + ".value", "must not contain line breaks");
                    }
                }
            }
            case TCP_SOCKET -> {
                port(v, field + ".tcp_socket.port", p.getTcpSocket().getPort());
                v.maxBytes(field + ".tcp_socket.host", p.getTcpSocket().getHost(), bytes, "max-string-bytes");
            }
            case EXEC -> {
                if (p.getExec().getCommandCount() == 0) {
                    v.add(field + ".exec.command", "at least one word is required");
                }
                v.atMost(field + ".exec.command", p.getExec().getCommandCount(), limits.maxListItems(), "max-list-items");
                for (int i = 0; i < Math.min(p.getExec().getCommandCount(), limits.maxListItems()); i++) {
                    v.maxBytes(field + ".exec.command[" + i + "]", p.getExec().getCommand(i), bytes, "max-string-bytes");
                }
            }
            case GRPC -> {
                port(v, field + ".grpc.port", p.getGrpc().getPort());
                v.maxBytes(field + ".grpc.service", p.getGrpc().getService(), bytes, "max-string-bytes");
            }
            case HANDLER_NOT_SET -> v.add(field, "one of http_get, tcp_socket, exec or grpc is required");
        }
    }

    private static void seconds(Validation v, String field, int value) {
        if (value < 0 || value > MAX_SECONDS) {
            v.add(field, "must be 0 (the default) to " + MAX_SECONDS + " (got " + value + ")");
        }
    }

    private static void threshold(Validation v, String field, int value) {
        if (value < 0 || value > MAX_THRESHOLD) {
            v.add(field, "must be 0 (the default) to " + MAX_THRESHOLD + " (got " + value + ")");
        }
    }

    private static void port(Validation v, String field, int port) {
        if (port < 1 || port > 65535) {
            v.add(field, "must be 1-65535 (got " + port + ")");
        }
    }

    private static boolean isTokenChar(int ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || "!#$%&'*+-.^_`|~".indexOf(ch) >= 0;
    }
}
