package dev.edgeplane.tunnel.client;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.OpsServiceGrpc;
import dev.edgeplane.api.v1.PortForwardRequest;
import dev.edgeplane.api.v1.PortForwardResponse;
import dev.edgeplane.api.v1.PortForwardStart;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * The operator's end of a port-forward or SSH session: bytes from {@code in} go to the remote port
 * (EOF becomes a half-close), the remote's bytes go to {@code out}. Sending waits for the stream to
 * be ready, so a fast local reader never buffers more than HTTP/2's window.
 */
public final class StreamPipe {
    private static final int CHUNK = dev.edgeplane.tunnel.hub.Frames.CHUNK_BYTES;

    private StreamPipe() {}

    public enum Kind { PORT_FORWARD, SSH }

    /**
     * Writes a frame's bytes from their own array: {@code ByteString.writeTo(OutputStream)} copies them
     * first, to keep a foreign stream from changing them; this stream is the caller's own sink.
     */
    private static void write(ByteString bytes, OutputStream out) throws IOException {
        com.google.protobuf.UnsafeByteOperations.unsafeWriteTo(bytes, new com.google.protobuf.ByteOutput() {
            @Override
            public void write(byte value) throws IOException {
                out.write(value);
            }

            @Override
            public void write(byte[] value, int offset, int length) throws IOException {
                out.write(value, offset, length);
            }

            @Override
            public void writeLazy(byte[] value, int offset, int length) throws IOException {
                out.write(value, offset, length);
            }

            @Override
            public void write(java.nio.ByteBuffer value) throws IOException {
                if (value.hasArray()) {
                    out.write(value.array(), value.arrayOffset() + value.position(), value.remaining());
                    value.position(value.limit());
                } else {
                    byte[] copy = new byte[value.remaining()];
                    value.get(copy);
                    out.write(copy);
                }
            }

            @Override
            public void writeLazy(java.nio.ByteBuffer value) throws IOException {
                write(value);
            }
        });
    }

    /** Runs the session until the remote end closes; throws the session's status on failure. */
    public static void run(OpsServiceGrpc.OpsServiceStub stub, Kind kind, PortForwardStart start, InputStream in, OutputStream out)
            throws InterruptedException {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Object readyLock = new Object();
        ClientResponseObserver<PortForwardRequest, PortForwardResponse> responses = new ClientResponseObserver<>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<PortForwardRequest> requests) {
                requests.setOnReadyHandler(() -> {
                    synchronized (readyLock) {
                        readyLock.notifyAll();
                    }
                });
            }

            @Override
            public void onNext(PortForwardResponse value) {
                try {
                    write(value.getData(), out);
                    out.flush();
                } catch (IOException e) {
                    done.completeExceptionally(Status.CANCELLED.withDescription("local write failed: " + e.getMessage()).asRuntimeException());
                }
            }

            @Override
            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
                done.complete(null);
            }
        };
        OpsServiceGrpc.OpsServiceStub pipelined = stub.withOnReadyThreshold(dev.edgeplane.tunnel.hub.Frames.ON_READY_THRESHOLD);
        ClientCallStreamObserver<PortForwardRequest> requests = (ClientCallStreamObserver<PortForwardRequest>)
                (kind == Kind.SSH ? pipelined.ssh(responses) : pipelined.portForward(responses));
        requests.onNext(PortForwardRequest.newBuilder().setStart(start).build());
        Thread reader = new Thread(() -> {
            byte[] buffer = new byte[CHUNK];
            try {
                while (!done.isDone()) {
                    int n = in.read(buffer);
                    if (n < 0) {
                        synchronized (requests) {
                            requests.onNext(PortForwardRequest.newBuilder().setCloseWrite(true).build());
                            requests.onCompleted();
                        }
                        return;
                    }
                    synchronized (readyLock) {
                        while (!requests.isReady() && !done.isDone()) {
                            readyLock.wait(500);
                        }
                    }
                    if (done.isDone()) {
                        return;
                    }
                    synchronized (requests) {
                        requests.onNext(PortForwardRequest.newBuilder().setData(ByteString.copyFrom(buffer, 0, n)).build());
                    }
                }
            } catch (IOException | RuntimeException e) {
                if (!done.isDone()) {
                    requests.cancel("local read failed: " + e.getMessage(), e);
                }
            } catch (InterruptedException e) {
                requests.cancel("interrupted", e);
            }
        }, "stream-pipe-reader");
        reader.setDaemon(true);
        reader.start();
        try {
            done.get();
        } catch (InterruptedException e) {
            requests.cancel("interrupted", e);
            throw e;
        } catch (ExecutionException e) {
            throw e.getCause() instanceof StatusRuntimeException s ? s : Status.fromThrowable(e.getCause()).asRuntimeException();
        }
    }
}
