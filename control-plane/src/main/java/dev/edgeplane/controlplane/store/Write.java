package dev.edgeplane.controlplane.store;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

/** One planned etcd write: a put (value != null) or a delete. */
public record Write(String key, byte[] value) {
    public Write {
        Objects.requireNonNull(key, "key");
    }

    public static Write put(String key, byte[] value) {
        return new Write(key, Objects.requireNonNull(value, "value"));
    }

    public static Write delete(String key) {
        return new Write(key, null);
    }

    public boolean isDelete() {
        return value == null;
    }

    /** Key + value bytes: what the write weighs in an etcd request. */
    public int size() {
        return key.getBytes(StandardCharsets.UTF_8).length + (value == null ? 0 : value.length);
    }
}
