package dev.edgeplane.controlplane.store;

/** etcd could not be reached or answered with an error; the API maps it to UNAVAILABLE. */
public final class StoreException extends RuntimeException {
    public StoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
