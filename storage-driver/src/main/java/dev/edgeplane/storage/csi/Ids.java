package dev.edgeplane.storage.csi;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * IDs are derived from the CO's names. The same name always maps to the same ID, so a CreateVolume
 * retried after a crash finds the leftovers of its first attempt by ID alone.
 */
public final class Ids {
    private Ids() {
    }

    public static String volumeId(String name) {
        return "vol-" + hash("volume\0" + name);
    }

    public static String snapshotId(String name) {
        return "snap-" + hash("snapshot\0" + name);
    }

    private static String hash(String s) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 12);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
