package dev.edgeplane.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.AuditRecord;
import dev.edgeplane.api.v1.ObjectReference;
import java.util.List;
import org.junit.jupiter.api.Test;

class AuditCommandTest {
    @Test
    void aRowNamesTheObjectAndKeepsTheReasonOnOneLine() {
        AuditRecord r = AuditRecord.newBuilder().setTime(Timestamp.newBuilder().setSeconds(1_796_400_000L))
                .setSubject("token:ci").setMethod("edgeplane.v1.AppService/DeleteApp")
                .setObject(ObjectReference.newBuilder().setKind("App").setNamespace("shop").setName("web"))
                .setCode("FAILED_PRECONDITION").setReason("line one\nline two").build();
        assertEquals(List.of("2026-12-04T16:00:00Z", "token:ci", "DeleteApp", "App/shop/web", "FAILED_PRECONDITION",
                "line one line two"), AuditCommand.row(r));
        assertEquals("Node/edge-1", AuditCommand.row(r.toBuilder().setObject(ObjectReference.newBuilder().setKind("Node")
                .setName("edge-1")).build()).get(3));
    }
}
