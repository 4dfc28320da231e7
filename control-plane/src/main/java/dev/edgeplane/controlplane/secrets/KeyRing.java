package dev.edgeplane.controlplane.secrets;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;
import org.jboss.logging.Logger;

/**
 * The key-encryption keys (KEKs), in order: the first is the primary and seals every new write, the
 * others only open what was sealed before a rotation. Parsed from lines {@code <id>:<base64 of 32
 * bytes>}; blank lines and {@code #} comments are skipped. Key material is never logged or printed.
 */
public final class KeyRing {
    private static final Logger LOG = Logger.getLogger(KeyRing.class);
    private static final Pattern ID = Pattern.compile("[a-z0-9-]{1,32}");
    static final int KEY_BYTES = 32;

    /** One KEK; toString names the id only. */
    public record Kek(String id, SecretKey key) {
        @Override
        public String toString() {
            return "Kek[" + id + "]";
        }
    }

    private final List<Kek> keys;

    private KeyRing(List<Kek> keys) {
        this.keys = List.copyOf(keys);
    }

    public static KeyRing empty() {
        return new KeyRing(List.of());
    }

    /** A ring of the given keys, primary first (tests, and callers that made keys themselves). */
    public static KeyRing of(List<Kek> keys) {
        return new KeyRing(keys);
    }

    /**
     * From edgeplane.secrets.key-file or edgeplane.secrets.keys (at most one of them); empty if neither.
     * Throws {@link IllegalArgumentException} naming the source and line of the first bad key.
     */
    public static KeyRing load(Optional<String> keyFile, Optional<String> inline) {
        if (keyFile.isPresent() && inline.isPresent()) {
            throw new IllegalArgumentException("set one of edgeplane.secrets.key-file and edgeplane.secrets.keys, not both");
        }
        if (inline.isPresent()) {
            return parse(inline.get(), "edgeplane.secrets.keys");
        }
        if (keyFile.isEmpty()) {
            return empty();
        }
        Path file = Path.of(keyFile.get());
        String source = "edgeplane.secrets.key-file " + file;
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException(source + ": cannot be read (" + e.getClass().getSimpleName() + ")", e);
        }
        warnIfShared(file, source);
        return parse(text, source);
    }

    private static void warnIfShared(Path file, String source) {
        try {
            Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
            if (perms.contains(PosixFilePermission.GROUP_READ) || perms.contains(PosixFilePermission.OTHERS_READ)) {
                LOG.warnf("%s is readable by group or others: make it mode 0600 (chmod 600)", source);
            }
        } catch (IOException | UnsupportedOperationException e) {
            // Not a POSIX file system: nothing to check.
        }
    }

    /** Parses key lines separated by newlines or ';'; {@code source} names where they came from in errors. */
    public static KeyRing parse(String text, String source) {
        List<Kek> keys = new ArrayList<>();
        Set<String> ids = new HashSet<>();
        String[] lines = text.split("[;\n]", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String where = source + " line " + (i + 1) + ": ";
            int colon = line.indexOf(':');
            if (colon < 0) {
                throw new IllegalArgumentException(where + "expected <id>:<base64 of 32 bytes>");
            }
            String id = line.substring(0, colon).strip();
            if (!ID.matcher(id).matches()) {
                throw new IllegalArgumentException(where + "key id \"" + clip(id) + "\" must be 1-32 of a-z, 0-9 and '-'");
            }
            byte[] material;
            try {
                material = Base64.getDecoder().decode(line.substring(colon + 1).strip());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + "key '" + id + "' is not base64");
            }
            if (material.length != KEY_BYTES) {
                throw new IllegalArgumentException(where + "key '" + id + "' is " + material.length
                        + " bytes, must be exactly " + KEY_BYTES + " (head -c 32 /dev/urandom | base64)");
            }
            if (!ids.add(id)) {
                throw new IllegalArgumentException(where + "key id '" + id + "' appears twice");
            }
            keys.add(new Kek(id, new SecretKeySpec(material, "AES")));
            java.util.Arrays.fill(material, (byte) 0);
        }
        return new KeyRing(keys);
    }

    private static String clip(String id) {
        return id.length() > 40 ? id.substring(0, 37) + "..." : id;
    }

    public boolean isEmpty() {
        return keys.isEmpty();
    }

    /** The key new writes are sealed under. */
    public Optional<Kek> primary() {
        return keys.stream().findFirst();
    }

    public Optional<Kek> find(String id) {
        return keys.stream().filter(k -> k.id().equals(id)).findFirst();
    }

    /** The ids, primary first. */
    public List<String> ids() {
        return keys.stream().map(Kek::id).toList();
    }

    @Override
    public String toString() {
        return "KeyRing" + ids();
    }
}
