package dev.edgeplane.cli;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.CreateAppRequest;
import dev.edgeplane.api.v1.CreateJoinTokenRequest;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.UpdateAppRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "apply",
        description = "Create or update the resources in a manifest (YAML or JSON; - for stdin).")
final class ApplyCommand implements Callable<Integer> {
    @ParentCommand Edgectl root;
    @Spec CommandSpec spec;

    @Option(names = {"-f", "--filename"}, required = true, paramLabel = "FILE")
    String file;

    @Override
    public Integer call() throws Exception {
        var out = spec.commandLine().getOut();
        var manifests = Manifests.read(open(), file);
        try (ApiClient api = root.connect()) {
            for (Manifests.Manifest m : manifests) {
                if (m instanceof Manifests.AppManifest a) {
                    out.println(applyApp(api, a.app()));
                } else if (m instanceof Manifests.VolumeManifest v) {
                    out.println(Volumes.apply(api, v.volume()));
                } else if (m instanceof Manifests.ConfigMapManifest c) {
                    out.println(Configs.apply(api, c.configMap()));
                } else if (m instanceof Manifests.SecretManifest s) {
                    out.println(Configs.apply(api, s.secret()));
                } else if (m instanceof Manifests.StorageClassManifest c) {
                    out.println(StorageClasses.apply(api, c.storageClass()));
                } else if (m instanceof Manifests.NodePoolManifest p) {
                    out.println(NodePools.apply(api, p.nodePool()));
                } else if (m instanceof Manifests.CronJobManifest c) {
                    out.println(CronJobs.apply(api, c.cronJob()));
                } else if (m instanceof Manifests.VolumeSnapshotPolicyManifest p) {
                    out.println(SnapshotPolicies.apply(api, p.policy()));
                } else if (m instanceof Manifests.AutoscalerManifest a) {
                    out.println(Autoscalers.apply(api, a.autoscaler()));
                } else if (m instanceof Manifests.QuotaManifest q) {
                    out.println(Quotas.apply(api, q.quota()));
                } else if (m instanceof Manifests.VolumeSnapshotManifest s) {
                    out.println(Volumes.apply(api, s.snapshot()));
                } else if (m instanceof Manifests.JobManifest j) {
                    out.println(Jobs.apply(api, j.job()));
                } else if (m instanceof Manifests.ImagePrefetchManifest p) {
                    out.println(Prefetches.apply(api, p.prefetch()));
                } else if (m instanceof Manifests.JoinTokenManifest t) {
                    JoinToken created = api.tokens().createJoinToken(
                            CreateJoinTokenRequest.newBuilder().setToken(t.token()).build());
                    out.println("jointoken/" + created.getMetadata().getName() + " created");
                    out.println(created.getStatus().getJoinCommand());
                }
            }
        }
        return 0;
    }

    /** Create if absent, else update from the current resource_version (apply is idempotent). */
    private static String applyApp(ApiClient api, App app) {
        String ns = app.getMetadata().getNamespace().isEmpty()
                ? "default" : app.getMetadata().getNamespace();
        String id = "app/" + ns + "/" + app.getMetadata().getName();
        App current;
        try {
            current = api.apps().getApp(GetAppRequest.newBuilder()
                    .setNamespace(ns).setName(app.getMetadata().getName()).build());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
            api.apps().createApp(CreateAppRequest.newBuilder().setApp(app).build());
            return id + " created";
        }
        if (current.getSpec().equals(app.getSpec())
                && current.getMetadata().getLabelsMap().equals(app.getMetadata().getLabelsMap())) {
            return id + " unchanged";
        }
        App update = app.toBuilder()
                .setMetadata(app.getMetadata().toBuilder().setNamespace(ns)
                        .setResourceVersion(current.getMetadata().getResourceVersion()))
                .build();
        api.apps().updateApp(UpdateAppRequest.newBuilder().setApp(update).build());
        return id + " configured";
    }

    private Reader open() throws IOException {
        if (file.equals("-")) {
            return new InputStreamReader(System.in, StandardCharsets.UTF_8);
        }
        Path path = Path.of(file);
        if (!Files.isRegularFile(path)) {
            throw new UsageException("no such file: " + file);
        }
        return Files.newBufferedReader(path);
    }
}
