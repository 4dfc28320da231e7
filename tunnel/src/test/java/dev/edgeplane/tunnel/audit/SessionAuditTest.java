package dev.edgeplane.tunnel.audit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class SessionAuditTest {
    @Test
    void aPeersTextCannotEndTheLineOrForgeAField() {
        String forged = "refused\naudit side=agent session=x subject=admin outcome=ok\u2028\u0085";
        SessionAudit audit = new SessionAudit("agent", "s-1", "admin:abc", "edge-1", "EXEC", "default/web-0 \"x\"",
                Instant.parse("2026-12-05T00:00:00Z"), Duration.ofMillis(5), 1, 2, forged);
        String line = audit.line();
        assertFalse(line.contains("\n") || line.contains("\r") || line.contains("\u2028") || line.contains("\u0085"), line);
        assertTrue(line.endsWith(" outcome=\"refused\\naudit side=agent session=x subject=admin outcome=ok\\u2028\\u0085\""), line);
        assertTrue(line.contains(" target=\"default/web-0 \\\"x\\\"\""), line);
        assertEquals("plain", Logfmt.quote("plain"));
        assertEquals("\"\"", Logfmt.quote(""));
    }
}
