package dev.edgeplane.tunnel;

import dev.edgeplane.testkit.Sshd;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.OpsTarget;
import dev.edgeplane.api.v1.PortForwardStart;
import dev.edgeplane.tunnel.client.StreamPipe;
import dev.edgeplane.tunnel.hub.HubSettings;
import dev.edgeplane.tunnel.policy.Allowlist;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** OpenSSH's client, through the tunnel, to a real sshd on the "edge host", running a remote command. */
class SshTest {
    @Test
    void sshThroughTheTunnelRunsARemoteCommand() throws Exception {
        try (Sshd sshd = new Sshd();
             TunnelFixture tunnel = new TunnelFixture(new Allowlist(Set.of(), Set.of(), false, Set.of(), false, true, sshd.port, true),
                     HubSettings.defaults(), Optional.empty(), Map.of());
             LocalListener local = new LocalListener(tunnel.ops(), StreamPipe.Kind.SSH,
                     PortForwardStart.newBuilder().setTarget(OpsTarget.newBuilder().setNode(TunnelFixture.NODE)).build())) {
            Process ssh = new ProcessBuilder(sshd.sshCommand(local.port(), "echo hello-from-$(hostname) && exit 7"))
                    .redirectErrorStream(true).start();
            try {
                assertTrue(ssh.waitFor(60, TimeUnit.SECONDS), "ssh did not finish");
                String out = new String(ssh.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertEquals(7, ssh.exitValue(), out);
                assertTrue(out.contains("hello-from-"), out);
            } finally {
                ssh.destroyForcibly();
            }
            Poll.until(() -> tunnel.hubAudit.recent().stream().anyMatch(a -> a.verb().equals("SSH") && a.outcome().equals("ok")),
                    "the SSH session's audit record");
        }
    }
}
