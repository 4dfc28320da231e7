package dev.edgeplane.cli;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.GetAppRequest;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "wait",
        description = "Wait until an app has all its replicas ready: edgectl wait app NAME")
final class WaitCommand implements Callable<Integer> {
    static final int EXIT_TIMEOUT = 3;

    @ParentCommand Edgectl root;
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "TYPE", description = "app")
    String type;

    @Parameters(index = "1", paramLabel = "NAME")
    String name;

    @Option(names = {"-n", "--namespace"}, defaultValue = "default")
    String namespace;

    @Option(names = "--timeout", defaultValue = "120s")
    String timeout;

    @Override
    public Integer call() throws Exception {
        if (ResourceKind.parse(type) != ResourceKind.APP) {
            throw new UsageException("wait supports apps only");
        }
        Instant deadline = Instant.now().plus(Durations.parse(timeout));
        var out = spec.commandLine().getOut();
        try (ApiClient api = root.connect()) {
            while (true) {
                App app = api.apps().getApp(
                        GetAppRequest.newBuilder().setNamespace(namespace).setName(name).build());
                var s = app.getStatus();
                boolean ready = s.getReadyReplicas() == s.getDesiredReplicas()
                        && s.getObservedGeneration() >= app.getMetadata().getGeneration();
                if (ready) {
                    out.println("app/" + namespace + "/" + name + " ready: "
                            + s.getReadyReplicas() + "/" + s.getDesiredReplicas());
                    return 0;
                }
                if (Instant.now().isAfter(deadline)) {
                    spec.commandLine().getErr().println("error: timed out after " + timeout
                            + " waiting for app/" + namespace + "/" + name + ": ready "
                            + s.getReadyReplicas() + "/" + s.getDesiredReplicas());
                    return EXIT_TIMEOUT;
                }
                Thread.sleep(Duration.ofMillis(500).toMillis());
            }
        }
    }
}
