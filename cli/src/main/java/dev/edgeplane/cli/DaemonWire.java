package dev.edgeplane.cli;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What edgectl and its daemon say over the daemon's UNIX socket. The client sends one {@link Request};
 * the daemon answers with frames: standard output and standard error as the command writes them, then its
 * exit code. Both sides bound what they read: a request past the limits is refused, not buffered.
 */
final class DaemonWire {
    private DaemonWire() {}

    static final int MAGIC = 0x45444731; // "EDG1": a request of this version
    static final int MAX_ARGS = 1024;
    static final int MAX_ENV = 4096;
    /** All strings of a request together (arguments, environment, working directory). */
    static final int MAX_REQUEST_BYTES = 1 << 20;
    static final int MAX_FRAME_BYTES = 64 * 1024;

    static final byte STDOUT = 1;
    static final byte STDERR = 2;
    static final byte EXIT = 3;

    /** A command to run as if started in {@code workingDir} with {@code env}. */
    record Request(String workingDir, List<String> args, Map<String, String> env) {
        Request {
            args = List.copyOf(args);
            env = Map.copyOf(env);
        }

        void writeTo(DataOutputStream out) throws IOException {
            out.writeInt(MAGIC);
            writeString(out, workingDir);
            out.writeInt(args.size());
            for (String a : args) {
                writeString(out, a);
            }
            out.writeInt(env.size());
            for (Map.Entry<String, String> e : env.entrySet()) {
                writeString(out, e.getKey());
                writeString(out, e.getValue());
            }
            out.flush();
        }

        static Request readFrom(DataInputStream in) throws IOException {
            if (in.readInt() != MAGIC) {
                throw new IOException("not an edgectl daemon request of this version");
            }
            int[] budget = {MAX_REQUEST_BYTES};
            String workingDir = readString(in, budget);
            int argc = count(in.readInt(), MAX_ARGS, "arguments");
            List<String> args = new ArrayList<>(argc);
            for (int i = 0; i < argc; i++) {
                args.add(readString(in, budget));
            }
            int envc = count(in.readInt(), MAX_ENV, "environment variables");
            Map<String, String> env = new LinkedHashMap<>();
            for (int i = 0; i < envc; i++) {
                env.put(readString(in, budget), readString(in, budget));
            }
            return new Request(workingDir, args, env);
        }
    }

    /** Sends what is written to it as frames of one kind (standard output or error). */
    static final class FrameOutputStream extends OutputStream {
        private final DataOutputStream socket;
        private final byte kind;

        FrameOutputStream(DataOutputStream socket, byte kind) {
            this.socket = socket;
            this.kind = kind;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            // the two streams of one command share the socket: a frame is written whole
            synchronized (socket) {
                for (int at = off; at < off + len; at += MAX_FRAME_BYTES) {
                    int n = Math.min(MAX_FRAME_BYTES, off + len - at);
                    socket.writeByte(kind);
                    socket.writeInt(n);
                    socket.write(b, at, n);
                }
            }
        }

        @Override
        public void flush() throws IOException {
            synchronized (socket) {
                socket.flush();
            }
        }
    }

    static void writeExit(DataOutputStream socket, int code) throws IOException {
        synchronized (socket) {
            socket.writeByte(EXIT);
            socket.writeInt(code);
            socket.flush();
        }
    }

    private static void writeString(DataOutputStream out, String s) throws IOException {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        out.writeInt(bytes.length);
        out.write(bytes);
    }

    private static String readString(DataInputStream in, int[] budget) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > budget[0]) {
            throw new IOException("request larger than " + MAX_REQUEST_BYTES + " bytes");
        }
        budget[0] -= n;
        return new String(in.readNBytes(n), StandardCharsets.UTF_8);
    }

    private static int count(int n, int max, String what) throws IOException {
        if (n < 0 || n > max) {
            throw new IOException("more than " + max + " " + what);
        }
        return n;
    }
}
