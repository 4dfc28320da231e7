package dev.edgeplane.cli;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.api.v1.ReplicaStatus;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.Comparator;

/** Turns "APP", "REPLICA", "job/NAME" or "node/NAME" into the target of an Ops session. */
final class OpsTargets {
    private OpsTargets() {}

    static OpsTarget resolve(ApiClient api, String namespace, String name, String container) {
        if (name.startsWith("node/")) {
            return OpsTarget.newBuilder().setNode(name.substring("node/".length())).build();
        }
        if (name.startsWith("job/")) {
            // A Job: its most recently started pod (finished pods keep their logs until the Job is deleted).
            return OpsTarget.newBuilder().setNamespace(namespace).setReplica(Jobs.logsPod(api, namespace, name.substring("job/".length())))
                    .setContainer(container == null ? "" : container).build();
        }
        String replica = name;
        try {
            App app = api.apps().getApp(GetAppRequest.newBuilder().setNamespace(namespace).setName(name).build());
            // An App: its first replica (by name), as kubectl picks a pod of a deployment.
            replica = app.getStatus().getReplicasList().stream().map(ReplicaStatus::getName)
                    .min(Comparator.naturalOrder())
                    .orElseThrow(() -> new UsageException("app " + namespace + "/" + name + " has no replicas yet"));
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
        }
        return OpsTarget.newBuilder().setNamespace(namespace).setReplica(replica)
                .setContainer(container == null ? "" : container).build();
    }
}
