package dev.edgeplane.api;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HexFormat;
import java.util.UUID;

/**
 * How a snapshot taken by a VolumeSnapshotPolicy is named, shared by the agent (which names it when it
 * fires, offline too) and the control plane (which files it as a VolumeSnapshot): both derive the same
 * name and uid from the policy, the volume and the scheduled time, so a report repeated after a
 * reconnect or a restart is recognised as the same snapshot.
 */
public final class PolicySnapshots {
    /** Label on a policy's VolumeSnapshots: the policy's name. */
    public static final String POLICY_LABEL = "edgeplane.dev/snapshot-policy";
    /** Label on a policy's VolumeSnapshots: the volume's name. */
    public static final String VOLUME_LABEL = "edgeplane.dev/volume";
    private static final int MAX_NAME = 63;
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMddHHmmss").withZone(ZoneOffset.UTC);

    private PolicySnapshots() {}

    /**
     * "&lt;policy&gt;-&lt;volume&gt;-&lt;yyyyMMddHHmmss, UTC&gt;"; when that exceeds 63 characters, the
     * policy-volume part is cut and followed by 8 hex digits of its SHA-256 (names stay distinct).
     * Policy and volume are DNS labels, so the result is one too.
     */
    public static String name(String policy, String volume, Instant scheduled) {
        String stamp = STAMP.format(scheduled);
        String full = policy + "-" + volume + "-" + stamp;
        if (full.length() <= MAX_NAME) {
            return full;
        }
        String hash = HexFormat.of().formatHex(sha256(policy + "/" + volume)).substring(0, 8);
        String head = (policy + "-" + volume).substring(0, MAX_NAME - stamp.length() - hash.length() - 2);
        while (head.endsWith("-")) {
            head = head.substring(0, head.length() - 1);
        }
        return head + "-" + hash + "-" + stamp;
    }

    /** The snapshot's uid: the same for the same policy (by uid), volume and slot. */
    public static String uid(String policyUid, String volume, Instant scheduled) {
        return UUID.nameUUIDFromBytes((policyUid + "/" + volume + "/" + scheduled.getEpochSecond())
                .getBytes(StandardCharsets.UTF_8)).toString();
    }

    private static byte[] sha256(String text) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
