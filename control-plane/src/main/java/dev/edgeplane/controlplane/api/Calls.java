package dev.edgeplane.controlplane.api;

import dev.edgeplane.controlplane.store.StoreException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/** Runs a unary handler and maps failures to gRPC statuses. */
public final class Calls {
    private static final Logger LOG = Logger.getLogger(Calls.class);

    private Calls() {}

    public static <T> void unary(StreamObserver<T> observer, Supplier<T> handler) {
        T result;
        try {
            result = handler.get();
        } catch (StatusRuntimeException e) {
            observer.onError(e);
            return;
        } catch (StoreException e) {
            LOG.warn(e.getMessage());
            observer.onError(Status.UNAVAILABLE.withDescription(e.getMessage()).asRuntimeException());
            return;
        } catch (RuntimeException e) {
            LOG.error("request failed", e);
            observer.onError(Status.INTERNAL.withDescription(String.valueOf(e.getMessage())).asRuntimeException());
            return;
        }
        observer.onNext(result);
        observer.onCompleted();
    }

    /**
     * Deletes {@code key}; with a {@code resourceVersion} (not 0) only while the object is still at it,
     * as Kubernetes' delete preconditions: NOT_FOUND when it is gone, ABORTED when it changed.
     */
    static void delete(dev.edgeplane.controlplane.store.EtcdStore store, String key, long resourceVersion, String what) {
        if (resourceVersion == 0) {
            if (!store.delete(key)) {
                throw notFound(what);
            }
            return;
        }
        var current = store.get(key).orElseThrow(() -> notFound(what));
        if (resourceVersion != current.modRevision() || !store.delete(key, resourceVersion)) {
            throw stale(what, resourceVersion, current.modRevision());
        }
    }

    static StatusRuntimeException notFound(String what) {
        return Status.NOT_FOUND.withDescription(what + " not found").asRuntimeException();
    }

    static StatusRuntimeException stale(String what, long given, long current) {
        return Status.ABORTED.withDescription(what + " was modified: resource_version " + given
                + " is stale (current " + current + "); read it again and retry").asRuntimeException();
    }

    static StatusRuntimeException conflict(String what) {
        return Status.ABORTED.withDescription(what + " was modified concurrently; read it again and retry").asRuntimeException();
    }

    static StatusRuntimeException exists(String what) {
        return Status.ABORTED.withDescription(what + " already exists").asRuntimeException();
    }

    static String orDefault(String namespace) {
        return namespace == null || namespace.isEmpty() ? "default" : namespace;
    }
}
