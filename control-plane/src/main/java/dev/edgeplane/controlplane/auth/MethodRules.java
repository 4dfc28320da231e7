package dev.edgeplane.controlplane.auth;

import com.google.protobuf.Descriptors;
import com.google.protobuf.Message;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The one table of what every public API method needs: a permission, and where the request says it
 * applies. A method missing here is refused (fail closed); AuthorizationCoverageTest checks that every
 * method the server serves has an entry.
 */
public final class MethodRules {

    /** Where a request applies, read from its first message. */
    public enum Scope {
        /** A cluster-scoped resource (nodes, tokens, audit, metrics): needs a cluster-wide binding. */
        CLUSTER,
        /** One namespace: the request's namespace field or its resource's metadata.namespace; empty means "default". */
        NAMESPACE,
        /** A List or Watch: one namespace, or every namespace when it is empty (then cluster-wide). */
        NAMESPACE_OR_ALL,
        /** An OpsService target: a replica's namespace, or the node itself (cluster-wide) without a replica. */
        OPS_TARGET
    }

    public record Rule(Permission permission, Scope scope) {}

    private static final Map<String, Rule> RULES = table();

    private MethodRules() {}

    private static Map<String, Rule> table() {
        Map<String, Rule> t = new HashMap<>();
        String nodes = "edgeplane.v1.NodeService/";
        t.put(nodes + "GetNode", new Rule(Permission.READ, Scope.CLUSTER));
        t.put(nodes + "ListNodes", new Rule(Permission.READ, Scope.CLUSTER));
        for (String m : new String[] {"UpdateNode", "DeleteNode", "CordonNode", "UncordonNode", "DrainNode", "ResetNodeIdentity"}) {
            t.put(nodes + m, new Rule(Permission.ADMIN, Scope.CLUSTER));
        }
        // Node pools: read like nodes (cluster-wide viewers); changing one relabels and taints nodes, as UpdateNode does.
        String pools = "edgeplane.v1.NodePoolService/";
        t.put(pools + "GetNodePool", new Rule(Permission.READ, Scope.CLUSTER));
        t.put(pools + "ListNodePools", new Rule(Permission.READ, Scope.CLUSTER));
        for (String m : new String[] {"CreateNodePool", "UpdateNodePool", "DeleteNodePool"}) {
            t.put(pools + m, new Rule(Permission.ADMIN, Scope.CLUSTER));
        }
        // Storage classes: anyone who reads cluster objects may see them; making one decides what volumes become, as pools do for nodes.
        String classes = "edgeplane.v1.StorageClassService/";
        t.put(classes + "GetStorageClass", new Rule(Permission.READ, Scope.CLUSTER));
        t.put(classes + "ListStorageClasses", new Rule(Permission.READ, Scope.CLUSTER));
        for (String m : new String[] {"CreateStorageClass", "UpdateStorageClass", "DeleteStorageClass"}) {
            t.put(classes + m, new Rule(Permission.ADMIN, Scope.CLUSTER));
        }
        // Join tokens admit machines into the fleet: admin only, reads included.
        for (String m : new String[] {"CreateJoinToken", "GetJoinToken", "ListJoinTokens", "DeleteJoinToken"}) {
            t.put("edgeplane.v1.JoinTokenService/" + m, new Rule(Permission.ADMIN, Scope.CLUSTER));
        }
        namespaced(t, "edgeplane.v1.AppService/", "App", Permission.WRITE);
        t.put("edgeplane.v1.AppService/WatchApps", new Rule(Permission.READ, Scope.NAMESPACE_OR_ALL));
        // Steering a rollout changes what runs, as an update does.
        for (String m : new String[] {"PauseAppRollout", "ResumeAppRollout", "AbortAppRollout", "RollbackApp"}) {
            t.put("edgeplane.v1.AppService/" + m, new Rule(Permission.WRITE, Scope.NAMESPACE));
        }
        t.put("edgeplane.v1.AppService/ListAppRevisions", new Rule(Permission.READ, Scope.NAMESPACE));
        namespaced(t, "edgeplane.v1.ConfigMapService/", "ConfigMap", Permission.WRITE);
        namespaced(t, "edgeplane.v1.SecretService/", "Secret", Permission.WRITE);
        // GetSecret returns the values; ListSecrets never does.
        t.put("edgeplane.v1.SecretService/GetSecret", new Rule(Permission.READ_SECRET_VALUES, Scope.NAMESPACE));
        namespaced(t, "edgeplane.v1.VolumeService/", "Volume", Permission.WRITE);
        namespaced(t, "edgeplane.v1.VolumeService/", "VolumeSnapshot", Permission.WRITE);
        t.remove("edgeplane.v1.VolumeService/UpdateVolumeSnapshot"); // snapshots are immutable: no such method
        // A quota limits what deployers may use: setting it is the namespace's admin's.
        namespaced(t, "edgeplane.v1.QuotaService/", "Quota", Permission.ADMIN);
        String policies = "edgeplane.v1.VolumeSnapshotPolicyService/";
        for (String m : new String[] {"CreateVolumeSnapshotPolicy", "UpdateVolumeSnapshotPolicy", "DeleteVolumeSnapshotPolicy"}) {
            t.put(policies + m, new Rule(Permission.WRITE, Scope.NAMESPACE));
        }
        t.put(policies + "GetVolumeSnapshotPolicy", new Rule(Permission.READ, Scope.NAMESPACE));
        t.put(policies + "ListVolumeSnapshotPolicies", new Rule(Permission.READ, Scope.NAMESPACE_OR_ALL));
        // Jobs run workloads as Apps do: deployers make them, viewers read them.
        namespaced(t, "edgeplane.v1.JobService/", "Job", Permission.WRITE);
        // An Autoscaler sets an App's replicas, as deployers do.
        namespaced(t, "edgeplane.v1.AutoscalerService/", "Autoscaler", Permission.WRITE);
        // CronJobs make Jobs: writing one, or triggering it, is deploying.
        namespaced(t, "edgeplane.v1.CronJobService/", "CronJob", Permission.WRITE);
        t.put("edgeplane.v1.CronJobService/TriggerCronJob", new Rule(Permission.WRITE, Scope.NAMESPACE));
        // Image prefetches: create, read and delete (no Update); pulling images is deploying.
        String prefetch = "edgeplane.v1.ImagePrefetchService/";
        t.put(prefetch + "CreateImagePrefetch", new Rule(Permission.WRITE, Scope.NAMESPACE));
        t.put(prefetch + "DeleteImagePrefetch", new Rule(Permission.WRITE, Scope.NAMESPACE));
        t.put(prefetch + "GetImagePrefetch", new Rule(Permission.READ, Scope.NAMESPACE));
        t.put(prefetch + "ListImagePrefetches", new Rule(Permission.READ, Scope.NAMESPACE_OR_ALL));
        t.put("edgeplane.v1.EventService/ListEvents", new Rule(Permission.READ, Scope.NAMESPACE_OR_ALL));
        t.put("edgeplane.v1.EventService/WatchEvents", new Rule(Permission.READ, Scope.NAMESPACE_OR_ALL));
        // Series are per node (and labelled across namespaces): cluster-wide readers only.
        t.put("edgeplane.v1.MetricsService/QueryMetrics", new Rule(Permission.READ, Scope.CLUSTER));
        t.put("edgeplane.v1.MetricsService/ListSeries", new Rule(Permission.READ, Scope.CLUSTER));
        t.put("edgeplane.v1.AuditService/ListAuditRecords", new Rule(Permission.ADMIN, Scope.CLUSTER));
        String ops = "edgeplane.v1.OpsService/";
        t.put(ops + "Logs", new Rule(Permission.OPERATE, Scope.OPS_TARGET));
        t.put(ops + "Exec", new Rule(Permission.OPERATE, Scope.OPS_TARGET));
        t.put(ops + "PortForward", new Rule(Permission.OPERATE, Scope.OPS_TARGET));
        t.put(ops + "HttpProxy", new Rule(Permission.OPERATE, Scope.OPS_TARGET));
        // The node's sshd is the host itself, whatever namespace asks.
        t.put(ops + "Ssh", new Rule(Permission.OPERATE, Scope.CLUSTER));
        // The cluster CA decides which machines are nodes: admin only, reads included.
        for (String m : new String[] {"GetClusterCa", "StartCaRollover", "SwitchCaRollover", "FinishCaRollover", "CancelCaRollover"}) {
            t.put("edgeplane.v1.ClusterCaService/" + m, new Rule(Permission.ADMIN, Scope.CLUSTER));
        }
        String access = "edgeplane.v1.AccessService/";
        for (String m : new String[] {"CreateApiToken", "GetApiToken", "ListApiTokens", "RevokeApiToken", "DeleteApiToken",
                "CreateRoleBinding", "GetRoleBinding", "ListRoleBindings", "DeleteRoleBinding"}) {
            t.put(access + m, new Rule(Permission.ADMIN, Scope.CLUSTER));
        }
        return Map.copyOf(t);
    }

    /** Create/Update/Delete need {@code write}; Get needs READ in the namespace, List READ in it or cluster-wide. */
    private static void namespaced(Map<String, Rule> t, String service, String kind, Permission write) {
        t.put(service + "Create" + kind, new Rule(write, Scope.NAMESPACE));
        t.put(service + "Update" + kind, new Rule(write, Scope.NAMESPACE));
        t.put(service + "Delete" + kind, new Rule(write, Scope.NAMESPACE));
        t.put(service + "Get" + kind, new Rule(Permission.READ, Scope.NAMESPACE));
        t.put(service + "List" + kind + "s", new Rule(Permission.READ, Scope.NAMESPACE_OR_ALL));
    }

    public static Optional<Rule> of(String fullMethodName) {
        return Optional.ofNullable(RULES.get(fullMethodName));
    }

    public static Map<String, Rule> all() {
        return RULES;
    }

    /**
     * The namespace {@code request} applies to under {@code scope}, or "" when it needs a cluster-wide
     * binding (a cluster-scoped resource, every namespace, a node).
     */
    public static String namespaceOf(Scope scope, Object request) {
        if (scope == Scope.CLUSTER || !(request instanceof Message message)) {
            return "";
        }
        switch (scope) {
            case NAMESPACE: {
                String ns = string(message, "namespace");
                if (ns.isEmpty()) {
                    Message meta = resourceMetadata(message);
                    ns = meta == null ? "" : string(meta, "namespace");
                }
                return ns.isEmpty() ? "default" : ns; // what the services default it to
            }
            case NAMESPACE_OR_ALL: {
                Descriptors.FieldDescriptor filter = message.getDescriptorForType().findFieldByName("filter");
                if (filter != null && filter.getJavaType() == Descriptors.FieldDescriptor.JavaType.MESSAGE) {
                    return string((Message) message.getField(filter), "namespace");
                }
                return string(message, "namespace");
            }
            case OPS_TARGET: {
                Message target = opsTarget(message);
                // Without a replica the session is the node's own (host network, its files): cluster-wide.
                return target == null || string(target, "replica").isEmpty() ? "" : string(target, "namespace");
            }
            default:
                return "";
        }
    }

    /** The metadata of the resource a Create/Update request carries (its only singular message field with one). */
    private static Message resourceMetadata(Message request) {
        for (Descriptors.FieldDescriptor field : request.getDescriptorForType().getFields()) {
            if (field.getJavaType() == Descriptors.FieldDescriptor.JavaType.MESSAGE && !field.isRepeated()) {
                Message inner = (Message) request.getField(field);
                Descriptors.FieldDescriptor meta = inner.getDescriptorForType().findFieldByName("metadata");
                if (meta != null && meta.getJavaType() == Descriptors.FieldDescriptor.JavaType.MESSAGE) {
                    return (Message) inner.getField(meta);
                }
            }
        }
        return null;
    }

    /** request.target, or request.start.target (Exec, PortForward: the first message must be start). */
    private static Message opsTarget(Message request) {
        Descriptors.FieldDescriptor target = request.getDescriptorForType().findFieldByName("target");
        if (target != null && target.getJavaType() == Descriptors.FieldDescriptor.JavaType.MESSAGE) {
            return (Message) request.getField(target);
        }
        Descriptors.FieldDescriptor start = request.getDescriptorForType().findFieldByName("start");
        if (start != null && start.getJavaType() == Descriptors.FieldDescriptor.JavaType.MESSAGE && request.hasField(start)) {
            return opsTarget((Message) request.getField(start));
        }
        return null;
    }

    private static String string(Message message, String name) {
        Descriptors.FieldDescriptor field = message.getDescriptorForType().findFieldByName(name);
        return field != null && field.getJavaType() == Descriptors.FieldDescriptor.JavaType.STRING && !field.isRepeated()
                ? (String) message.getField(field) : "";
    }
}
