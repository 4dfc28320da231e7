package dev.edgeplane.controlplane.audit;

import dev.edgeplane.api.v1.AuditRecord;
import dev.edgeplane.api.v1.AuditServiceGrpc;
import dev.edgeplane.api.v1.ListAuditRecordsRequest;
import dev.edgeplane.api.v1.ListAuditRecordsResponse;
import dev.edgeplane.controlplane.api.Calls;
import dev.edgeplane.controlplane.api.Validation;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.options.GetOption;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.time.Duration;
import java.time.Instant;
import java.util.regex.Pattern;

/** AuditService: the audit records in etcd, oldest first from a time, filtered; every call bounded. */
@GrpcService
@Blocking
public class AuditApi extends AuditServiceGrpc.AuditServiceImplBase {
    static final int DEFAULT_PAGE = 100;
    static final int MAX_PAGE = 1000;
    /** Records read per call at most, whatever the filters leave: a selective filter over a long window pages. */
    static final int MAX_SCANNED = 10_000;
    private static final Pattern TOKEN = Pattern.compile("[0-9]{13}-[0-9a-f]{6}");

    private final EtcdStore store;

    public AuditApi(EtcdStore store) {
        this.store = store;
    }

    @Override
    public void listAuditRecords(ListAuditRecordsRequest request, StreamObserver<ListAuditRecordsResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Validation v = new Validation();
            if (request.getPageSize() < 0 || request.getPageSize() > MAX_PAGE) {
                v.add("page_size", "must be 0 (default " + DEFAULT_PAGE + ") to " + MAX_PAGE);
            }
            if (!request.getPageToken().isEmpty() && !TOKEN.matcher(request.getPageToken()).matches()) {
                v.add("page_token", "is not a token this service returned");
            }
            v.maxBytes("subject", request.getSubject(), 256, "256 bytes").maxBytes("method", request.getMethod(), 256, "256 bytes")
                    .maxBytes("namespace", request.getNamespace(), 253, "253 bytes");
            v.throwIfInvalid();
            int pageSize = request.getPageSize() == 0 ? DEFAULT_PAGE : request.getPageSize();
            Instant since = request.hasSince() ? Joiner.toInstant(request.getSince()) : Instant.now().minus(Duration.ofHours(1));
            // Keys sort by time: start after the token's record, or at `since`.
            String from = Keys.AUDIT + (request.getPageToken().isEmpty()
                    ? String.format("%013d", Math.max(0, since.toEpochMilli())) : request.getPageToken() + "\u0000");
            ListAuditRecordsResponse.Builder response = ListAuditRecordsResponse.newBuilder();
            int scanned = 0;
            String last = null;
            String cursor = from;
            while (response.getRecordsCount() < pageSize && scanned < MAX_SCANNED) {
                int batch = Math.min(500, MAX_SCANNED - scanned);
                var kvs = store.await(store.client().getKVClient().get(EtcdStore.bytes(cursor), GetOption.builder()
                        .withRange(EtcdStore.bytes(Keys.AUDIT + "\u00ff")).withLimit(batch).build()), "list audit").getKvs();
                for (KeyValue kv : kvs) {
                    scanned++;
                    last = Keys.suffix(kv.getKey().toString(java.nio.charset.StandardCharsets.UTF_8), Keys.AUDIT);
                    AuditRecord record = EtcdStore.decode(AuditRecord.parser(), kv.getValue().getBytes());
                    if (matches(request, record)) {
                        response.addRecords(record);
                        if (response.getRecordsCount() == pageSize) {
                            return response.setNextPageToken(last).build(); // full: continue after this one
                        }
                    }
                }
                if (kvs.size() < batch) {
                    return response.build(); // the end: no token
                }
                cursor = Keys.AUDIT + last + "\u0000";
            }
            return response.setNextPageToken(last == null ? "" : last).build();
        });
    }

    private static boolean matches(ListAuditRecordsRequest request, AuditRecord record) {
        return (request.getSubject().isEmpty() || record.getSubject().equals(request.getSubject()))
                && (request.getNamespace().isEmpty() || record.getObject().getNamespace().equals(request.getNamespace()))
                && (request.getMethod().isEmpty() || record.getMethod().contains(request.getMethod()));
    }
}
