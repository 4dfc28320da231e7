package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.testkit.Commands;
import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.JoinToken;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.testkit.EtcdServer;
import dev.edgeplane.testkit.FreePorts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `edge-agent join` against the real control plane: the token and CA-pinning rules. */
class JoinE2ETest {
    // Exit codes of `edge-agent join`, as documented in its --help.
    static final int TOKEN_REFUSED = 3;
    static final int CA_MISMATCH = 4;
    static final int UNREACHABLE = 5;

    @TempDir static Path dir;
    static EtcdServer etcd;
    static ControlPlane cloud;

    @BeforeAll
    static void startCloud() throws Exception {
        etcd = EtcdServer.start();
        cloud = ControlPlane.start(etcd.endpoint(), dir.resolve("cp"));
    }

    @AfterAll
    static void stopCloud() throws Exception {
        if (cloud != null) {
            cloud.close();
        }
        if (etcd != null) {
            etcd.close();
        }
    }

    private EdgeHost host(String name) throws Exception {
        return new EdgeHost(name, dir.resolve(name), "unix:///nonexistent.sock", List.of());
    }

    @Test
    void joinsWithTheCommandATokenPrintsAndIsRecordedAsANode() throws Exception {
        JoinToken token = cloud.createJoinToken(Duration.ofMinutes(10), 1);
        String command = token.getStatus().getJoinCommand();
        assertTrue(command.startsWith("edge-agent join --server " + cloud.agentAddress() + " --token "),
                command);

        EdgeHost host = host("joins-ok");
        Commands.Result r = host.join(command);

        assertEquals(0, r.exitCode(), r.output());
        assertTrue(Files.list(host.stateDir()).findAny().isPresent(), "state dir written");
        Node node = cloud.nodes().getNode(GetNodeRequest.newBuilder().setName("joins-ok").build());
        assertEquals("joins-ok", node.getMetadata().getName());
    }

    @Test
    void refusesAnUnknownToken() throws Exception {
        JoinToken token = cloud.createJoinToken(Duration.ofMinutes(10), 1);
        Commands.Result r = host("unknown-token").join(cloud.agentAddress(),
                "zzzzzz.0123456789abcdef", token.getStatus().getCaHash());
        assertEquals(TOKEN_REFUSED, r.exitCode(), r.output());
        assertTrue(r.output().toLowerCase().contains("unknown"), r.output());
    }

    @Test
    void refusesAnExpiredToken() throws Exception {
        JoinToken token = cloud.createJoinToken(Duration.ofSeconds(1), 1);
        Thread.sleep(2_000); // let the one-second token expire
        Commands.Result r = host("expired-token").join(cloud.agentAddress(),
                token.getStatus().getToken(), token.getStatus().getCaHash());
        assertEquals(TOKEN_REFUSED, r.exitCode(), r.output());
        assertTrue(r.output().toLowerCase().contains("expired"), r.output());
    }

    @Test
    void refusesATokenThatIsUsedUp() throws Exception {
        JoinToken token = cloud.createJoinToken(Duration.ofMinutes(10), 1);
        Commands.Result first = host("used-once").join(token.getStatus().getJoinCommand());
        assertEquals(0, first.exitCode(), first.output());

        Commands.Result second = host("used-twice").join(token.getStatus().getJoinCommand());
        assertEquals(TOKEN_REFUSED, second.exitCode(), second.output());
        assertTrue(second.output().toLowerCase().contains("used up"), second.output());
    }

    @Test
    void refusesAServerWhoseCaDoesNotMatchThePinnedHash() throws Exception {
        JoinToken token = cloud.createJoinToken(Duration.ofMinutes(10), 1);
        String wrongHash = "sha256:" + "ab".repeat(32);
        EdgeHost host = host("wrong-ca");
        Commands.Result r = host.join(cloud.agentAddress(), token.getStatus().getToken(), wrongHash);
        assertEquals(CA_MISMATCH, r.exitCode(), r.output());
        // The token was never shown to the impostor: it still works with the right hash.
        Commands.Result retry = host.join(token.getStatus().getJoinCommand());
        assertEquals(0, retry.exitCode(), retry.output());
    }

    @Test
    void saysSoWhenTheServerIsUnreachable() throws Exception {
        Commands.Result r = host("no-server").join("127.0.0.1:" + FreePorts.next(),
                "abcdef.0123456789abcdef", "sha256:" + "00".repeat(32));
        assertEquals(UNREACHABLE, r.exitCode(), r.output());
    }
}
