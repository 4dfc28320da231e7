package dev.edgeplane.storage.metadata;

import java.util.Locale;
import java.util.Optional;

/** The storage-class parameter "backend". */
public enum BackendKind {
    LOOPFS, BTRFS;

    public String parameterValue() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Optional<BackendKind> fromParameter(String value) {
        for (BackendKind k : values()) {
            if (k.parameterValue().equals(value)) {
                return Optional.of(k);
            }
        }
        return Optional.empty();
    }
}
