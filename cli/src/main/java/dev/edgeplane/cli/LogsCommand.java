package dev.edgeplane.cli;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.LogsRequest;
import dev.edgeplane.api.v1.LogsResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Iterator;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "logs", description = "Print a container's logs, read on its edge host through the ops tunnel.")
final class LogsCommand implements Callable<Integer> {
    @ParentCommand Edgectl root;

    @Parameters(paramLabel = "APP|REPLICA|job/NAME", description = "An App (its first replica), a replica, or job/NAME (its most recent pod).")
    String name;

    @Option(names = {"-n", "--namespace"}, defaultValue = "default")
    String namespace;

    @Option(names = {"-c", "--container"}, description = "Container name (default: the first).")
    String container;

    @Option(names = {"-f", "--follow"}, description = "Keep printing new lines until interrupted or the container ends.")
    boolean follow;

    @Option(names = "--tail", defaultValue = "-1", description = "Only the last N lines (default: all).")
    int tail;

    @Option(names = "--since", description = "Only lines newer than a duration (5m, 2h) or since an RFC 3339 time.")
    String since;

    @Option(names = {"-p", "--previous"}, description = "The previous (last terminated) instance of the container.")
    boolean previous;

    @Option(names = "--timestamps", description = "Prefix each line with its time.")
    boolean timestamps;

    @Override
    public Integer call() throws IOException, InterruptedException {
        try (ApiClient api = root.connect()) {
            LogsRequest.Builder request = LogsRequest.newBuilder()
                    .setTarget(OpsTargets.resolve(api, namespace, name, container))
                    .setFollow(follow).setTailLines(Math.max(tail, 0)).setPrevious(previous).setTimestamps(timestamps);
            if (since != null) {
                Instant from = sinceInstant(since);
                request.setSinceTime(Timestamp.newBuilder().setSeconds(from.getEpochSecond()).setNanos(from.getNano()));
            }
            OutputStream out = System.out;
            Iterator<LogsResponse> chunks = dev.edgeplane.api.v1.OpsServiceGrpc.newBlockingStub(api.opsChannel())
                    .withCallCredentials(api.credentials()).logs(request.build());
            while (chunks.hasNext()) {
                chunks.next().getData().writeTo(out);
                out.flush();
            }
        }
        return 0;
    }

    static Instant sinceInstant(String since) {
        try {
            return Instant.parse(since);
        } catch (DateTimeParseException e) {
            try {
                return Instant.now().minus(Durations.parse(since));
            } catch (RuntimeException notDuration) {
                throw new UsageException("--since takes a duration (30s, 5m, 2h) or an RFC 3339 time, not " + since);
            }
        }
    }
}
