package dev.edgeplane.cli;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.ExecRequest;
import dev.edgeplane.api.v1.ExecResponse;
import dev.edgeplane.api.v1.ExecStart;
import dev.edgeplane.api.v1.TerminalSize;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.File;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "exec", description = {"Run a command in a container of a replica, through the ops tunnel.",
        "edgectl exits with the command's exit code."})
final class ExecCommand implements Callable<Integer> {
    @ParentCommand Edgectl root;

    @Parameters(index = "0", paramLabel = "APP|REPLICA")
    String name;

    @Parameters(index = "1..*", arity = "1..*", paramLabel = "CMD", description = "The command (after --).")
    List<String> command;

    @Option(names = {"-n", "--namespace"}, defaultValue = "default")
    String namespace;

    @Option(names = {"-c", "--container"}, description = "Container name (default: the first).")
    String container;

    @Option(names = {"-i", "--stdin"}, description = "Pass stdin to the command.")
    boolean stdin;

    @Option(names = {"-t", "--tty"}, description = "Run the command in a terminal.")
    boolean tty;

    @Override
    public Integer call() throws Exception {
        try (ApiClient api = root.connect()) {
            ExecStart.Builder start = ExecStart.newBuilder()
                    .setTarget(OpsTargets.resolve(api, namespace, name, container))
                    .addAllCommand(command).setStdin(stdin).setTty(tty);
            Optional<String> savedTerminal = Optional.empty();
            if (tty) {
                terminalSize().ifPresent(start::setSize);
                if (stdin && System.console() != null) {
                    savedTerminal = stty("-g").map(String::trim);
                    stty("raw", "-echo");
                }
            }
            try {
                return run(api, start.build());
            } finally {
                savedTerminal.ifPresent(mode -> stty(mode));
            }
        }
    }

    private int run(ApiClient api, ExecStart start) throws InterruptedException {
        OutputStream out = new FileOutputStream(FileDescriptor.out);
        OutputStream err = new FileOutputStream(FileDescriptor.err);
        int[] exit = {0};
        CompletableFuture<Void> done = new CompletableFuture<>();
        StreamObserver<ExecRequest> requests = api.ops().exec(new StreamObserver<>() {
            @Override
            public void onNext(ExecResponse r) {
                try {
                    switch (r.getKindCase()) {
                        case STDOUT -> {
                            r.getStdout().writeTo(out);
                            out.flush();
                        }
                        case STDERR -> {
                            r.getStderr().writeTo(err);
                            err.flush();
                        }
                        case EXIT_CODE -> exit[0] = r.getExitCode();
                        default -> { }
                    }
                } catch (IOException e) {
                    done.completeExceptionally(e);
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
        });
        requests.onNext(ExecRequest.newBuilder().setStart(start).build());
        if (stdin) {
            Thread reader = new Thread(() -> pump(new FileInputStream(FileDescriptor.in), requests, done), "exec-stdin");
            reader.setDaemon(true);
            reader.start();
            if (tty) {
                Thread resizer = new Thread(() -> followTerminalSize(start.getSize(), requests, done), "exec-resize");
                resizer.setDaemon(true);
                resizer.start();
            }
        } else {
            requests.onCompleted();
        }
        try {
            done.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof StatusRuntimeException s) {
                throw s;
            }
            throw new IllegalStateException(e.getCause());
        }
        return exit[0];
    }

    private static void pump(InputStream in, StreamObserver<ExecRequest> requests, CompletableFuture<Void> done) {
        byte[] buffer = new byte[16 * 1024];
        try {
            for (int n; !done.isDone() && (n = in.read(buffer)) >= 0; ) {
                synchronized (requests) {
                    requests.onNext(ExecRequest.newBuilder().setStdin(ByteString.copyFrom(buffer, 0, n)).build());
                }
            }
            synchronized (requests) {
                requests.onNext(ExecRequest.newBuilder().setCloseStdin(true).build());
                requests.onCompleted();
            }
        } catch (IOException | RuntimeException e) {
            // the session ended first
        }
    }

    /** Java sees no SIGWINCH: the terminal's size is polled, and a change is sent as a resize. */
    private static void followTerminalSize(TerminalSize initial, StreamObserver<ExecRequest> requests, CompletableFuture<Void> done) {
        TerminalSize last = initial;
        while (!done.isDone()) {
            try {
                Thread.sleep(1_000);
            } catch (InterruptedException e) {
                return;
            }
            Optional<TerminalSize> now = terminalSize();
            if (now.isPresent() && !now.get().equals(last) && !done.isDone()) {
                last = now.get();
                try {
                    synchronized (requests) {
                        requests.onNext(ExecRequest.newBuilder().setResize(last).build());
                    }
                } catch (RuntimeException e) {
                    return; // the session ended
                }
            }
        }
    }

    /** The local terminal's size, from stty (absent without a terminal). */
    private static Optional<TerminalSize> terminalSize() {
        return stty("size").flatMap(s -> {
            String[] parts = s.trim().split("\\s+");
            try {
                return Optional.of(TerminalSize.newBuilder().setHeight(Integer.parseInt(parts[0])).setWidth(Integer.parseInt(parts[1])).build());
            } catch (RuntimeException e) {
                return Optional.empty();
            }
        });
    }

    private static Optional<String> stty(String... args) {
        File tty = new File("/dev/tty");
        if (!tty.canRead()) {
            return Optional.empty();
        }
        try {
            List<String> cmd = new java.util.ArrayList<>(List.of("stty"));
            cmd.addAll(List.of(args));
            Process p = new ProcessBuilder(cmd).redirectInput(tty).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            return p.waitFor() == 0 ? Optional.of(output) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }
}
