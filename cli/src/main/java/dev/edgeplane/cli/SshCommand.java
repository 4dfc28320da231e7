package dev.edgeplane.cli;

import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.api.v1.PortForwardStart;
import dev.edgeplane.tunnel.client.StreamPipe;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "ssh", description = {
        "Connect stdin/stdout to NODE's sshd through the ops tunnel. Use it as ssh's ProxyCommand:",
        "  ssh -o ProxyCommand='edgectl ssh %h' root@NODE"})
final class SshCommand implements Callable<Integer> {
    @ParentCommand Edgectl root;

    @Parameters(paramLabel = "NODE")
    String node;

    @Override
    public Integer call() throws InterruptedException {
        try (ApiClient api = root.connect()) {
            // Raw descriptors: the SSH protocol's bytes must not pass through System.out's encoder or buffer.
            StreamPipe.run(api.ops(), StreamPipe.Kind.SSH, PortForwardStart.newBuilder()
                    .setTarget(OpsTarget.newBuilder().setNode(node)).build(),
                    new FileInputStream(FileDescriptor.in), new FileOutputStream(FileDescriptor.out));
        }
        return 0;
    }
}
