package dev.edgeplane.storage.csi;

import dev.edgeplane.csi.v1.VolumeCapability;
import dev.edgeplane.csi.v1.VolumeCapability.AccessMode.Mode;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Input checks that run before anything is touched. Names and IDs must never be able to name a
 * path outside the driver's directories; target paths must be plain absolute paths outside them.
 */
final class Validation {
    private static final Pattern SAFE_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
    private static final Pattern SAFE_MOUNT_FLAG = Pattern.compile("[A-Za-z0-9_.:=-]{1,64}");
    static final Set<Mode> SUPPORTED_MODES = Set.of(Mode.SINGLE_NODE_WRITER, Mode.SINGLE_NODE_READER_ONLY,
            Mode.SINGLE_NODE_SINGLE_WRITER, Mode.SINGLE_NODE_MULTI_WRITER);
    /** Parameters the external-provisioner adds on its own (--extra-create-metadata). */
    static final String PROVISIONER_PREFIX = "csi.storage.k8s.io/";

    private final List<Path> protectedDirs;

    Validation(List<Path> protectedDirs) {
        this.protectedDirs = protectedDirs.stream().map(p -> p.toAbsolutePath().normalize()).toList();
    }

    static void name(String field, String name) {
        if (name.isEmpty()) {
            throw Errors.invalid(field, "is required");
        }
        if (name.length() > 256) {
            throw Errors.invalid(field, "is longer than 256 characters");
        }
        if (name.indexOf('\0') >= 0 || name.indexOf('/') >= 0 || name.indexOf('\\') >= 0 || name.contains("..")
                || name.chars().anyMatch(Character::isISOControl)) {
            throw Errors.invalid(field, "must not contain '/', '\\', '..', NUL or control characters");
        }
    }

    static void id(String field, String id) {
        if (id.isEmpty()) {
            throw Errors.invalid(field, "is required");
        }
        if (!SAFE_ID.matcher(id).matches() || id.contains("..")) {
            throw Errors.invalid(field, "is not a valid ID (letters, digits, '.', '_', '-'; no '..', '/', NUL)");
        }
    }

    /** True for an ID that is well formed; used where an unknown ID is not an error (List filters). */
    static boolean wellFormedId(String id) {
        return SAFE_ID.matcher(id).matches() && !id.contains("..");
    }

    Path path(String field, String value) {
        if (value.isEmpty()) {
            throw Errors.invalid(field, "is required");
        }
        if (value.indexOf('\0') >= 0 || value.length() > 4096) {
            throw Errors.invalid(field, "must not contain NUL or exceed 4096 bytes");
        }
        if (!value.startsWith("/")) {
            throw Errors.invalid(field, "must be an absolute path");
        }
        Path p = Path.of(value);
        for (Path part : p) {
            if (part.toString().equals("..") || part.toString().equals(".")) {
                throw Errors.invalid(field, "must not contain '.' or '..' components");
            }
        }
        Path normalized = p.normalize();
        if (normalized.getNameCount() == 0) {
            throw Errors.invalid(field, "must not be /");
        }
        for (Path dir : protectedDirs) {
            if (normalized.startsWith(dir) || dir.startsWith(normalized)) {
                throw Errors.invalid(field, "must not be inside or above the driver's own directory " + dir);
            }
        }
        return normalized;
    }

    /** Checks one capability and returns its fs_type ("" when the CO left it to us). */
    static String capability(String field, VolumeCapability cap) {
        if (cap.hasBlock()) {
            throw Errors.invalid(field, "block access is not supported, only mount");
        }
        if (!cap.hasMount()) {
            throw Errors.invalid(field, "access_type mount is required");
        }
        if (!cap.hasAccessMode() || !SUPPORTED_MODES.contains(cap.getAccessMode().getMode())) {
            throw Errors.invalid(field, "access mode must be a single-node mode, got "
                    + cap.getAccessMode().getMode());
        }
        for (String flag : cap.getMount().getMountFlagsList()) {
            if (!SAFE_MOUNT_FLAG.matcher(flag).matches()) {
                throw Errors.invalid(field, "mount flag '" + flag + "' is not allowed");
            }
        }
        return cap.getMount().getFsType();
    }

    static void capabilities(String field, List<VolumeCapability> caps) {
        if (caps.isEmpty()) {
            throw Errors.invalid(field, "at least one capability is required");
        }
        for (VolumeCapability cap : caps) {
            capability(field, cap);
        }
    }
}
