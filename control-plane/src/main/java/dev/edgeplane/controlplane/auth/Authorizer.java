package dev.edgeplane.controlplane.auth;

import dev.edgeplane.api.v1.Role;
import dev.edgeplane.api.v1.RoleBinding;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Function;

/**
 * Decides whether an identity may call a method on a namespace, from the role bindings of its subject
 * and groups. Pure: the bindings come from {@code bindingsOf} (the watched cache in production).
 *
 * <p>A binding with an empty namespace applies everywhere; one with a namespace only there. A request
 * that applies cluster-wide (a cluster-scoped resource, a List of every namespace, a node) needs a
 * cluster-wide binding: a namespace-bound subject listing without a namespace is refused, naming the
 * namespaces it could list instead, rather than silently scoped.
 */
public final class Authorizer {
    private final Function<String, List<RoleBinding>> bindingsOf;

    public Authorizer(Function<String, List<RoleBinding>> bindingsOf) {
        this.bindingsOf = bindingsOf;
    }

    /** Empty when allowed; else the PERMISSION_DENIED status to close the call with. */
    public Optional<Status> check(Identity who, String method, Object firstRequest) {
        Optional<MethodRules.Rule> rule = MethodRules.of(method);
        if (rule.isEmpty()) {
            // Fail closed: a method nobody classified is nobody's.
            return Optional.of(Status.PERMISSION_DENIED.withDescription(
                    method + " has no authorisation rule; it is refused to everyone"));
        }
        return check(who, method, rule.get().permission(), MethodRules.namespaceOf(rule.get().scope(), firstRequest));
    }

    /** {@code namespace} "" means the request needs the permission cluster-wide. */
    public Optional<Status> check(Identity who, String method, Permission needed, String namespace) {
        if (who.isBootstrapAdmin()) {
            return Optional.empty();
        }
        List<String> namespacesGranted = new ArrayList<>();
        for (String subject : subjectsOf(who)) {
            for (RoleBinding binding : bindingsOf.apply(subject)) {
                if (!needed.grantedBy(binding.getRole())) {
                    continue;
                }
                if (binding.getNamespace().isEmpty() || binding.getNamespace().equals(namespace)) {
                    return Optional.empty();
                }
                namespacesGranted.add(binding.getNamespace());
            }
        }
        String role = roleName(needed.minimumRole());
        String where = namespace.isEmpty() ? "cluster-wide" : "in namespace \"" + namespace + "\"";
        StringBuilder message = new StringBuilder()
                .append(who.subject()).append(" may not call ").append(method)
                .append(": it needs role ").append(role).append(" (or one that includes it) ").append(where);
        if (namespace.isEmpty() && !namespacesGranted.isEmpty()) {
            message.append("; it has it only in namespace(s) ").append(namespacesGranted.stream().distinct().sorted().limit(10).toList())
                    .append(": name one of them in the request");
        }
        return Optional.of(Status.PERMISSION_DENIED.withDescription(message.toString()));
    }

    private static List<String> subjectsOf(Identity who) {
        List<String> subjects = new ArrayList<>(1 + who.groups().size());
        subjects.add(who.subject());
        subjects.addAll(who.groups());
        return subjects;
    }

    /** "viewer", "deployer", ... as the CLI and README spell them. */
    public static String roleName(Role role) {
        return role.name().toLowerCase(Locale.ROOT);
    }
}
