package dev.edgeplane.cli;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.AuditRecord;
import dev.edgeplane.api.v1.ListAuditRecordsRequest;
import dev.edgeplane.api.v1.ListAuditRecordsResponse;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** The audit records of mutating API calls: who did what to which object, and how it ended. */
@Command(name = "audit", description = "List audit records of mutating API calls, oldest first: "
        + "edgectl audit [--since 1h] [--subject token:ci] [-n NS] [--method DeleteApp] [-o json|yaml]")
final class AuditCommand implements Callable<Integer> {
    static final List<String> HEADER = List.of("TIME", "SUBJECT", "METHOD", "OBJECT", "CODE", "REASON");
    /** Records printed at most, whatever the window holds (pages of 1,000). */
    static final int MAX_RECORDS = 10_000;

    @ParentCommand Edgectl root;
    @Spec CommandSpec spec;

    @Option(names = "--since", defaultValue = "1h", description = "How far back (default: ${DEFAULT-VALUE}).")
    String since;

    @Option(names = "--subject", defaultValue = "")
    String subject;

    @Option(names = {"-n", "--namespace"}, defaultValue = "", description = "The object's namespace.")
    String namespace;

    @Option(names = "--method", defaultValue = "", description = "Methods containing this, e.g. DeleteApp.")
    String method;

    @Option(names = {"-o", "--output"}, description = "table (default), json or yaml")
    Output.Format format = Output.Format.table;

    @Override
    public Integer call() throws Exception {
        Instant from = Instant.now().minus(Durations.parse(since));
        List<AuditRecord> records = new ArrayList<>();
        try (ApiClient api = root.connect()) {
            String page = "";
            do {
                ListAuditRecordsResponse r = api.audit().listAuditRecords(ListAuditRecordsRequest.newBuilder()
                        .setSince(Timestamp.newBuilder().setSeconds(from.getEpochSecond()).setNanos(from.getNano()))
                        .setSubject(subject).setNamespace(namespace).setMethod(method).setPageSize(1000).setPageToken(page).build());
                records.addAll(r.getRecordsList());
                page = r.getNextPageToken();
            } while (!page.isEmpty() && records.size() < MAX_RECORDS);
        }
        Output.print(spec.commandLine().getOut(), format, records, HEADER, m -> row((AuditRecord) m));
        return 0;
    }

    static List<String> row(AuditRecord r) {
        String object = r.getObject().getKind() + (r.getObject().getName().isEmpty() ? ""
                : "/" + (r.getObject().getNamespace().isEmpty() ? "" : r.getObject().getNamespace() + "/") + r.getObject().getName());
        String method = r.getMethod().substring(r.getMethod().lastIndexOf('/') + 1);
        String reason = r.getReason().replaceAll("\\p{Cntrl}", " ");
        return List.of(Instant.ofEpochSecond(r.getTime().getSeconds()).toString(), r.getSubject(), method, object, r.getCode(),
                reason.length() > 80 ? reason.substring(0, 77) + "..." : reason);
    }
}
