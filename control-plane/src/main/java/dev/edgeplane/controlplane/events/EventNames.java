package dev.edgeplane.controlplane.events;

import dev.edgeplane.api.v1.ObjectReference;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Event record names: "&lt;object name&gt;.&lt;hash&gt;", the hash over (kind, namespace, name, reason,
 * node, source). Readable in etcd, and the same thing happening again maps to the same key.
 */
public final class EventNames {
    private static final int OBJECT_PART = 40;

    private EventNames() {}

    public static String name(ObjectReference object, String reason, String node, String source) {
        String identity = String.join("\u0000", object.getKind(), object.getNamespace(), object.getName(), reason, node, source);
        String hash;
        try {
            hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(identity.getBytes(StandardCharsets.UTF_8))).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        String prefix = object.getName().length() > OBJECT_PART ? object.getName().substring(0, OBJECT_PART) : object.getName();
        return (prefix.isEmpty() ? "event" : prefix) + "." + hash;
    }
}
