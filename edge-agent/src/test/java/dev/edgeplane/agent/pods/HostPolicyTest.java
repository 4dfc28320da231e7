package dev.edgeplane.agent.pods;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HostPolicyTest {
    @TempDir
    Path tmp;

    @Test
    void noHostPathIsAllowedByDefault() {
        Optional<String> refused = HostPolicy.strict().hostPathRefusal("root", "/");
        assertTrue(refused.isPresent());
        assertTrue(refused.get().contains("--allow-host-paths"), refused.get());
    }

    @Test
    void pathsUnderAnAllowedPrefixPassAndNothingLeadsOutOfIt() throws Exception {
        Path allowed = Files.createDirectories(tmp.resolve("data"));
        HostPolicy policy = new HostPolicy(false, List.of(allowed));
        assertEquals(Optional.empty(), policy.hostPathRefusal("v", allowed.toString()));
        assertEquals(Optional.empty(), policy.hostPathRefusal("v", allowed.resolve("not-yet/created").toString()));
        assertTrue(policy.hostPathRefusal("v", allowed + "/../../etc").isPresent(), "dot-dot out");
        assertTrue(policy.hostPathRefusal("v", tmp.resolve("data-other").toString()).isPresent(), "a sibling with the same prefix");
        Path link = Files.createSymbolicLink(allowed.resolve("escape"), Path.of("/etc"));
        assertTrue(policy.hostPathRefusal("v", link.toString()).isPresent(), "a link to outside");
        assertTrue(policy.hostPathRefusal("v", link.resolve("sub/dir").toString()).isPresent(), "through a link to outside");
    }
}
