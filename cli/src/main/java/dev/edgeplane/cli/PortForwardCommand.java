package dev.edgeplane.cli;

import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.api.v1.PortForwardStart;
import dev.edgeplane.tunnel.client.StreamPipe;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "port-forward", description = {
        "Listen locally and carry each connection, as its own tunnel session, to a port on an edge host",
        "(node/NAME) or of a replica (APP|REPLICA). Runs until interrupted."})
final class PortForwardCommand implements Callable<Integer> {
    @ParentCommand Edgectl root;
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "node/NAME|APP|REPLICA")
    String target;

    @Parameters(index = "1..*", arity = "1..*", paramLabel = "[LOCAL:]REMOTE", description = "Ports; LOCAL 0 picks a free one.")
    List<String> ports;

    @Option(names = {"-n", "--namespace"}, defaultValue = "default")
    String namespace;

    @Option(names = "--address", defaultValue = "127.0.0.1", description = "Local address to listen on (default: ${DEFAULT-VALUE}).")
    String address;

    @Override
    public Integer call() throws Exception {
        try (ApiClient api = root.connect()) {
            OpsTarget resolved = OpsTargets.resolve(api, namespace, target, null);
            List<ServerSocket> listeners = new ArrayList<>();
            CountDownLatch forever = new CountDownLatch(1);
            try {
                for (String mapping : ports) {
                    String[] parts = mapping.split(":");
                    int remote;
                    int local;
                    try {
                        remote = Integer.parseInt(parts[parts.length - 1]);
                        local = parts.length > 1 ? Integer.parseInt(parts[0]) : remote;
                    } catch (NumberFormatException e) {
                        throw new UsageException("ports are [LOCAL:]REMOTE, not " + mapping);
                    }
                    ServerSocket server = new ServerSocket();
                    server.bind(new InetSocketAddress(InetAddress.getByName(address), local), 64);
                    listeners.add(server);
                    spec.commandLine().getOut().printf("Forwarding from %s:%d -> %d%n", address, server.getLocalPort(), remote);
                    PortForwardStart start = PortForwardStart.newBuilder().setTarget(resolved).setPort(remote).build();
                    Thread acceptor = new Thread(() -> accept(api, server, start), "port-forward-" + local);
                    acceptor.setDaemon(true);
                    acceptor.start();
                }
                spec.commandLine().getOut().flush();
                forever.await();
            } finally {
                for (ServerSocket s : listeners) {
                    s.close();
                }
            }
        }
        return 0;
    }

    private void accept(ApiClient api, ServerSocket server, PortForwardStart start) {
        while (!server.isClosed()) {
            Socket socket;
            try {
                socket = server.accept();
            } catch (IOException e) {
                return;
            }
            Thread session = new Thread(() -> {
                try (socket) {
                    StreamPipe.run(api.ops(), StreamPipe.Kind.PORT_FORWARD, start, socket.getInputStream(), socket.getOutputStream());
                } catch (StatusRuntimeException e) {
                    spec.commandLine().getErr().println(Edgectl.describe(e));
                } catch (IOException e) {
                    spec.commandLine().getErr().println("error: " + e.getMessage());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "port-forward-session");
            session.setDaemon(true);
            session.start();
        }
    }
}
