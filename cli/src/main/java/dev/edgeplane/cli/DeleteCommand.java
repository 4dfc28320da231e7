package dev.edgeplane.cli;

import dev.edgeplane.api.v1.DeleteAppRequest;
import dev.edgeplane.api.v1.DeleteJoinTokenRequest;
import dev.edgeplane.api.v1.DeleteNodeRequest;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "delete", description = "Delete a resource: edgectl delete app|node|pool|storageclass|token|volume|volumesnapshot|quota|configmap|secret|prefetch|job NAME")
final class DeleteCommand implements Callable<Integer> {
    @ParentCommand Edgectl root;
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "TYPE", completionCandidates = CompletionCommand.ResourceKinds.class)
    String type;

    @Parameters(index = "1", paramLabel = "NAME")
    String name;

    @Option(names = {"-n", "--namespace"}, defaultValue = "default")
    String namespace;

    @Override
    public Integer call() throws Exception {
        ResourceKind kind = ResourceKind.parse(type);
        String outcome = "deleted";
        try (ApiClient api = root.connect()) {
            switch (kind) {
                case APP -> api.apps().deleteApp(
                        DeleteAppRequest.newBuilder().setNamespace(namespace).setName(name).build());
                case NODE -> api.nodes().deleteNode(DeleteNodeRequest.newBuilder().setName(name).build());
                case POOL -> NodePools.delete(api, name);
                case STORAGECLASS -> StorageClasses.delete(api, name);
                case TOKEN -> api.tokens().deleteJoinToken(
                        DeleteJoinTokenRequest.newBuilder().setName(name).build());
                case EVENT -> throw new UsageException("events are not deleted: they expire on their own");
                case VOLUME -> outcome = Volumes.deleteVolume(api, namespace, name);
                case VOLUMESNAPSHOT -> Volumes.deleteSnapshot(api, namespace, name);
                case QUOTA -> Quotas.delete(api, namespace, name);
                case VOLUMESNAPSHOTPOLICY -> SnapshotPolicies.delete(api, namespace, name);
                case CRONJOB -> CronJobs.delete(api, namespace, name);
                case CONFIGMAP -> api.configMaps().deleteConfigMap(dev.edgeplane.api.v1.DeleteConfigMapRequest.newBuilder()
                        .setNamespace(namespace).setName(name).build());
                case IMAGEPREFETCH -> Prefetches.delete(api, namespace, name);
                case JOB -> Jobs.delete(api, namespace, name);
                case AUTOSCALER -> Autoscalers.delete(api, namespace, name);
                case SECRET -> api.secrets().deleteSecret(dev.edgeplane.api.v1.DeleteSecretRequest.newBuilder()
                        .setNamespace(namespace).setName(name).build());
            }
        }
        spec.commandLine().getOut().println(
                kind.name().toLowerCase() + "/" + (kind == ResourceKind.APP || kind == ResourceKind.VOLUME || kind == ResourceKind.VOLUMESNAPSHOT
                        || kind == ResourceKind.VOLUMESNAPSHOTPOLICY || kind == ResourceKind.QUOTA || kind == ResourceKind.CONFIGMAP || kind == ResourceKind.SECRET
                        || kind == ResourceKind.IMAGEPREFETCH || kind == ResourceKind.JOB || kind == ResourceKind.CRONJOB
                        || kind == ResourceKind.AUTOSCALER ? namespace + "/" : "")
                        + name + " " + outcome);
        return 0;
    }
}
