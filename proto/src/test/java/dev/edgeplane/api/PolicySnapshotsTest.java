package dev.edgeplane.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import org.junit.jupiter.api.Test;

class PolicySnapshotsTest {
    private static final Instant SLOT = Instant.parse("2026-03-01T10:20:30Z");

    @Test
    void shortNamesReadPolicyVolumeAndUtcSlot() {
        assertEquals("hourly-db-20260301102030", PolicySnapshots.name("hourly", "db", SLOT));
    }

    @Test
    void longNamesAreCutToADnsLabelAndStayDistinct() {
        String policy = "p".repeat(40);
        String a = PolicySnapshots.name(policy, "volume-" + "a".repeat(30), SLOT);
        String b = PolicySnapshots.name(policy, "volume-" + "b".repeat(30), SLOT);
        assertTrue(a.length() <= 63 && a.matches("[a-z0-9]([-a-z0-9]*[a-z0-9])?"), a);
        assertTrue(a.endsWith("-20260301102030"), a);
        assertNotEquals(a, b);
    }

    @Test
    void uidIsStablePerPolicyVolumeAndSlot() {
        assertEquals(PolicySnapshots.uid("u1", "db", SLOT), PolicySnapshots.uid("u1", "db", SLOT));
        assertNotEquals(PolicySnapshots.uid("u1", "db", SLOT), PolicySnapshots.uid("u2", "db", SLOT));
        assertNotEquals(PolicySnapshots.uid("u1", "db", SLOT), PolicySnapshots.uid("u1", "db", SLOT.plusSeconds(1)));
    }
}
