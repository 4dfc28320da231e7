package dev.edgeplane.api;

import com.google.protobuf.CodedOutputStream;
import dev.edgeplane.api.v1.PodTemplate;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The content hash by which a pod template is stored once and referenced by assignments
 * (Assignment.template_hash): "sha256:" and the hex SHA-256 of its deterministic serialisation (map
 * entries in key order), so the control plane and the agent compute the same hash for the same
 * template whatever built it.
 */
public final class TemplateHashes {
    public static final String PREFIX = "sha256:";

    private TemplateHashes() {}

    public static String of(PodTemplate template) {
        return PREFIX + HexFormat.of().formatHex(sha256(canonicalBytes(template)));
    }

    /** True when {@code hash} has the shape this class produces (checked before it is used in a key). */
    public static boolean isWellFormed(String hash) {
        if (hash.length() != PREFIX.length() + 64 || !hash.startsWith(PREFIX)) {
            return false;
        }
        for (int i = PREFIX.length(); i < hash.length(); i++) {
            char c = hash.charAt(i);
            if (!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'f')) {
                return false;
            }
        }
        return true;
    }

    static byte[] canonicalBytes(PodTemplate template) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream(template.getSerializedSize());
            CodedOutputStream out = CodedOutputStream.newInstance(bytes);
            out.useDeterministicSerialization();
            template.writeTo(out);
            out.flush();
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a byte array stream does not fail
        }
    }

    private static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }
}
