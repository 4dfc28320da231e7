package dev.edgeplane.storage.csi;

import com.google.protobuf.Any;
import com.google.rpc.BadRequest;
import com.google.rpc.Code;
import dev.edgeplane.storage.host.CommandException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;

import java.util.concurrent.Callable;
import java.util.logging.Level;
import java.util.logging.Logger;

/** gRPC status errors as CSI specifies them, and the one place that maps exceptions to codes. */
public final class Errors {
    private static final Logger LOG = Logger.getLogger(Errors.class.getName());

    private Errors() {
    }

    /** INVALID_ARGUMENT with a google.rpc.BadRequest field violation naming the field. */
    public static StatusRuntimeException invalid(String field, String description) {
        com.google.rpc.Status status = com.google.rpc.Status.newBuilder()
                .setCode(Code.INVALID_ARGUMENT_VALUE)
                .setMessage(field + ": " + description)
                .addDetails(Any.pack(BadRequest.newBuilder()
                        .addFieldViolations(BadRequest.FieldViolation.newBuilder()
                                .setField(field).setDescription(description))
                        .build()))
                .build();
        return StatusProto.toStatusRuntimeException(status);
    }

    public static StatusRuntimeException notFound(String what) {
        return Status.NOT_FOUND.withDescription(what + " not found").asRuntimeException();
    }

    public static StatusRuntimeException precondition(String why) {
        return Status.FAILED_PRECONDITION.withDescription(why).asRuntimeException();
    }

    public static StatusRuntimeException alreadyExists(String why) {
        return Status.ALREADY_EXISTS.withDescription(why).asRuntimeException();
    }

    public static StatusRuntimeException aborted(String why) {
        return Status.ABORTED.withDescription(why).asRuntimeException();
    }

    public static StatusRuntimeException exhausted(String why) {
        return Status.RESOURCE_EXHAUSTED.withDescription(why).asRuntimeException();
    }

    /** Runs one unary call: the result or a status error goes to the observer, never a stray exception. */
    static <T> void unary(String method, StreamObserver<T> observer, Callable<T> body) {
        T response;
        try {
            response = body.call();
        } catch (StatusRuntimeException e) {
            LOG.log(Level.INFO, () -> method + ": " + e.getStatus());
            observer.onError(e);
            return;
        } catch (IllegalStateException e) {
            LOG.log(Level.WARNING, () -> method + ": " + e.getMessage());
            observer.onError(precondition(e.getMessage()));
            return;
        } catch (CommandException e) {
            LOG.log(Level.WARNING, method + " failed", e);
            observer.onError(Status.INTERNAL.withDescription(e.getMessage()).asRuntimeException());
            return;
        } catch (Exception e) {
            LOG.log(Level.WARNING, method + " failed", e);
            observer.onError(Status.INTERNAL.withDescription(method + ": " + e).withCause(e).asRuntimeException());
            return;
        }
        observer.onNext(response);
        observer.onCompleted();
    }
}
