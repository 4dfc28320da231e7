package dev.edgeplane.agent.identity;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A renewed identity replaces key, certificate and bundle together, even across a crash in between. */
class StateDirRenewalTest {
    private static final String KEY = "-----BEGIN PRIVATE KEY-----\nbmV3\n-----END PRIVATE KEY-----\n";
    private static final String CERT = "-----BEGIN CERTIFICATE-----\nbmV3Y2VydA==\n-----END CERTIFICATE-----\n";
    private static final String BUNDLE = "-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n";

    @TempDir
    Path tmp;

    @Test
    void aRenewalInterruptedAfterItsPendingFileIsInstalledAtTheNextStart() throws Exception {
        StateDir state = new StateDir(tmp.resolve("state"));
        state.writeIdentity("old-key", "old-cert", "old-ca", new StateDir.NodeRecord("n1", "s:1", "s:2"));
        // What writeRenewedIdentity wrote before a crash: the pending file only.
        dev.edgeplane.agent.io.DurableFiles.writeAtomically(state.renewedIdentity(), (KEY + CERT + BUNDLE).getBytes(StandardCharsets.US_ASCII),
                PosixFilePermissions.fromString("rw-------"));

        assertTrue(state.completeRenewal());
        assertEquals(KEY, Files.readString(state.nodeKey()));
        assertEquals(CERT, Files.readString(state.nodeCertificate()));
        assertEquals(BUNDLE, Files.readString(state.caBundle()));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(state.nodeKey())));
        assertFalse(Files.exists(state.renewedIdentity()));
        assertFalse(state.completeRenewal(), "nothing left to install");
        assertEquals("n1", state.readNode().name(), "the node record is untouched");
    }

    @Test
    void aPendingFileWithoutKeyAndCertificateIsSetAsideAndTheIdentityKept() throws Exception {
        StateDir state = new StateDir(tmp.resolve("state"));
        state.writeIdentity("old-key", "old-cert", "old-ca", new StateDir.NodeRecord("n1", "s:1", "s:2"));
        dev.edgeplane.agent.io.DurableFiles.writeAtomically(state.renewedIdentity(), CERT.getBytes(StandardCharsets.US_ASCII), PosixFilePermissions.fromString("rw-------"));

        assertFalse(state.completeRenewal());
        assertEquals("old-key", Files.readString(state.nodeKey()));
        assertEquals("old-cert", Files.readString(state.nodeCertificate()));
        assertFalse(Files.exists(state.renewedIdentity()));
    }
}
