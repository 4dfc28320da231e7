package dev.edgeplane.cli;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppRevision;
import dev.edgeplane.api.v1.AppRolloutRequest;
import dev.edgeplane.api.v1.AppStatus;
import dev.edgeplane.api.v1.GetAppRequest;
import dev.edgeplane.api.v1.ListAppRevisionsRequest;
import dev.edgeplane.api.v1.ListAppRevisionsResponse;
import dev.edgeplane.api.v1.RollbackAppRequest;
import dev.edgeplane.api.v1.RolloutStatus;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** rollout status|pause|resume|abort|undo|history APP: AppService's rollout calls. */
@Command(name = "rollout", description = "Follow and steer an app's rollout.",
        subcommands = {RolloutCommand.Status.class, RolloutCommand.Pause.class, RolloutCommand.Resume.class,
                RolloutCommand.Abort.class, RolloutCommand.Undo.class, RolloutCommand.History.class})
final class RolloutCommand {
    /** `rollout status` when the rollout ends aborted (or rolled back by its abort criteria). */
    static final int EXIT_ABORTED = 4;
    private static final int BAR_WIDTH = 30;

    @ParentCommand Edgectl root;

    abstract static class AppArgs {
        @ParentCommand RolloutCommand parent;
        @Spec CommandSpec spec;
        @Parameters(paramLabel = "APP") String name;
        @Option(names = {"-n", "--namespace"}, defaultValue = "default") String namespace;

        AppRolloutRequest request() {
            return AppRolloutRequest.newBuilder().setNamespace(namespace).setName(name).build();
        }

        PrintWriter out() {
            return spec.commandLine().getOut();
        }

        /** One steering call, then "app/NS/NAME rollout DONE". */
        int steer(String done, java.util.function.Consumer<ApiClient> call) throws InterruptedException {
            try (ApiClient api = parent.root.connect()) {
                call.accept(api);
            }
            out().println("app/" + namespace + "/" + name + " rollout " + done);
            return 0;
        }
    }

    @Command(name = "status", description = "Show the rollout's progress until it is complete; exits 4 when it is aborted "
            + "or rolled back by its abort criteria, 3 on --timeout.")
    static final class Status extends AppArgs implements Callable<Integer> {
        @Option(names = {"-w", "--watch"}, negatable = true, defaultValue = "true", fallbackValue = "true",
                description = "Follow it until it ends (default); --no-watch prints it once.")
        boolean watch;
        @Option(names = "--timeout", defaultValue = "10m") String timeout;

        @Override
        public Integer call() throws Exception {
            Instant deadline = Instant.now().plus(Durations.parse(timeout));
            String last = "";
            try (ApiClient api = parent.root.connect()) {
                while (true) {
                    App app = api.apps().getApp(GetAppRequest.newBuilder().setNamespace(namespace).setName(name).build());
                    String line = describe(app);
                    if (!line.equals(last)) {
                        out().println(line);
                        out().flush();
                        last = line;
                    }
                    RolloutStatus rollout = app.getStatus().getRollout();
                    boolean current = app.getStatus().getObservedGeneration() >= app.getMetadata().getGeneration();
                    if (rollout.getPhase() == RolloutStatus.Phase.ABORTED) {
                        spec.commandLine().getErr().println("error: rollout of app/" + namespace + "/" + name + " aborted: "
                                + (rollout.getAbortReason().isEmpty() ? rollout.getMessage() : rollout.getAbortReason()));
                        return EXIT_ABORTED;
                    }
                    if (rollout.getPhase() == RolloutStatus.Phase.ROLLING_BACK && !rollout.getAbortReason().isEmpty()) {
                        spec.commandLine().getErr().println("error: rollout of app/" + namespace + "/" + name
                                + " failed and is rolling back: " + rollout.getAbortReason());
                        return EXIT_ABORTED;
                    }
                    if (rollout.getPhase() == RolloutStatus.Phase.COMPLETE && current) {
                        out().println("app/" + namespace + "/" + name + " successfully rolled out (revision " + rollout.getRevision() + ")");
                        return 0;
                    }
                    if (!watch) {
                        return 0;
                    }
                    if (Instant.now().isAfter(deadline)) {
                        spec.commandLine().getErr().println("error: timed out after " + timeout + " waiting for the rollout of app/"
                                + namespace + "/" + name);
                        return WaitCommand.EXIT_TIMEOUT;
                    }
                    Thread.sleep(Duration.ofMillis(500).toMillis());
                }
            }
        }
    }

    /** "revision 3 PROGRESSING [#######.......] 2/4 updated, 3 ready, 3 available; batch 2/3 ..." */
    static String describe(App app) {
        AppStatus s = app.getStatus();
        RolloutStatus r = s.getRollout();
        int desired = Math.max(s.getDesiredReplicas(), 1);
        int filled = Math.min(BAR_WIDTH, s.getUpdatedReplicas() * BAR_WIDTH / desired);
        StringBuilder line = new StringBuilder("revision ").append(r.getRevision()).append(' ').append(r.getPhase())
                .append(" [").append("#".repeat(filled)).append(".".repeat(BAR_WIDTH - filled)).append("] ")
                .append(s.getUpdatedReplicas()).append('/').append(s.getDesiredReplicas()).append(" updated, ")
                .append(s.getReadyReplicas()).append(" ready, ").append(s.getAvailableReplicas()).append(" available");
        if (!r.getPool().isEmpty()) {
            line.append("; pool ").append(r.getPool()); // pool by pool: the pool being released (its batches follow)
        }
        if (r.getBatchesTotal() > 0) {
            line.append("; batch ").append(r.getBatch()).append('/').append(r.getBatchesTotal()).append(" (")
                    .append(r.getNodesReleased()).append('/').append(r.getNodesTotal()).append(" nodes)");
        }
        if (r.getFailed() + r.getTimedOut() > 0) {
            line.append("; ").append(r.getFailed()).append(" failed, ").append(r.getTimedOut()).append(" timed out");
        }
        if (!r.getMessage().isEmpty()) {
            line.append("; ").append(r.getMessage());
        }
        return line.toString();
    }

    @Command(name = "pause", description = "Stop replacing replicas (those being replaced finish).")
    static final class Pause extends AppArgs implements Callable<Integer> {
        @Override
        public Integer call() throws InterruptedException {
            return steer("paused", api -> api.apps().pauseAppRollout(request()));
        }
    }

    @Command(name = "resume", description = "Go on with a paused rollout.")
    static final class Resume extends AppArgs implements Callable<Integer> {
        @Override
        public Integer call() throws InterruptedException {
            return steer("resumed", api -> api.apps().resumeAppRollout(request()));
        }
    }

    @Command(name = "abort", description = "Stop the rollout for good: replaced replicas keep the new template, the others theirs.")
    static final class Abort extends AppArgs implements Callable<Integer> {
        @Override
        public Integer call() throws InterruptedException {
            return steer("aborted", api -> api.apps().abortAppRollout(request()));
        }
    }

    @Command(name = "undo", description = "Roll back to the previous revision, or to --to-revision.")
    static final class Undo extends AppArgs implements Callable<Integer> {
        @Option(names = "--to-revision", defaultValue = "0") long toRevision;

        @Override
        public Integer call() throws InterruptedException {
            App app;
            try (ApiClient api = parent.root.connect()) {
                app = api.apps().rollbackApp(RollbackAppRequest.newBuilder().setNamespace(namespace).setName(name)
                        .setToRevision(toRevision).build());
            }
            out().println("app/" + namespace + "/" + name + " rolled back (generation " + app.getMetadata().getGeneration() + ")");
            return 0;
        }
    }

    @Command(name = "history", description = "The app's revisions, oldest first.")
    static final class History extends AppArgs implements Callable<Integer> {
        @Override
        public Integer call() throws InterruptedException {
            ListAppRevisionsResponse revisions;
            try (ApiClient api = parent.root.connect()) {
                revisions = api.apps().listAppRevisions(ListAppRevisionsRequest.newBuilder().setNamespace(namespace).setName(name).build());
            }
            out().printf("%-9s %-10s %-8s %s%n", "REVISION", "GENERATION", "CURRENT", "CHANGE-CAUSE");
            for (int i = revisions.getRevisionsCount() - 1; i >= 0; i--) {
                AppRevision r = revisions.getRevisions(i);
                out().printf("%-9d %-10d %-8s %s%n", r.getRevision(), r.getGeneration(),
                        r.getRevision() == revisions.getCurrentRevision() ? "*" : "",
                        r.getChangeCause().isEmpty() ? "<none>" : r.getChangeCause());
            }
            return 0;
        }
    }
}
