package dev.edgeplane.agent.identity;

import dev.edgeplane.agent.io.DurableFiles;
import java.io.IOException;
import java.io.Reader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Properties;
import java.util.Set;

/**
 * The agent's state dir (default /var/lib/edge-agent): its identity from join (node key, node
 * certificate, CA bundle, node.properties) and its journal. Every file is written atomically.
 */
public record StateDir(Path path) {
    public static final String DEFAULT = "/var/lib/edge-agent";
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");
    private static final Set<PosixFilePermission> READABLE = PosixFilePermissions.fromString("rw-r--r--");

    /** What join learned: who this node is and where its control plane is. */
    public record NodeRecord(String name, String server, String syncEndpoint) {}

    public Path nodeKey() {
        return path.resolve("node.key");
    }

    public Path nodeCertificate() {
        return path.resolve("node.crt");
    }

    public Path caBundle() {
        return path.resolve("ca.crt");
    }

    public Path nodeFile() {
        return path.resolve("node.properties");
    }

    /** A renewed key, certificate and CA bundle, written whole before they replace the current ones. */
    public Path renewedIdentity() {
        return path.resolve("node-renewed.pem");
    }

    public Path journalDir() {
        return path.resolve("journal");
    }

    /** True once a join has written the identity. */
    public boolean joined() {
        return Files.isRegularFile(nodeFile()) && Files.isRegularFile(nodeKey())
                && Files.isRegularFile(nodeCertificate()) && Files.isRegularFile(caBundle());
    }

    public NodeRecord readNode() throws IOException {
        Properties props = new Properties();
        try (Reader reader = Files.newBufferedReader(nodeFile(), StandardCharsets.UTF_8)) {
            props.load(reader);
        }
        String name = props.getProperty("name", "");
        if (name.isEmpty()) {
            throw new IOException(nodeFile() + " names no node");
        }
        return new NodeRecord(name, props.getProperty("server", ""), props.getProperty("sync-endpoint", ""));
    }

    /** Writes the identity from a successful join; the key is readable by its owner only. */
    public void writeIdentity(String keyPem, String certificatePem, String caBundlePem, NodeRecord node) throws IOException {
        createDir();
        DurableFiles.writeAtomically(nodeKey(), keyPem.getBytes(StandardCharsets.US_ASCII), OWNER_ONLY);
        DurableFiles.writeAtomically(nodeCertificate(), certificatePem.getBytes(StandardCharsets.US_ASCII), READABLE);
        DurableFiles.writeAtomically(caBundle(), caBundlePem.getBytes(StandardCharsets.US_ASCII), READABLE);
        Properties props = new Properties();
        props.setProperty("name", node.name());
        props.setProperty("server", node.server());
        props.setProperty("sync-endpoint", node.syncEndpoint());
        StringWriter text = new StringWriter();
        props.store(text, "written by edge-agent join");
        // Last: its presence is what marks the dir as joined.
        DurableFiles.writeAtomically(nodeFile(), text.toString().getBytes(StandardCharsets.UTF_8), READABLE);
    }

    /**
     * Replaces the key, certificate and CA bundle with renewed ones. Crash-safe: all three are first
     * written as one file, which {@link #completeRenewal()} installs at the next start if a crash came
     * before the three files were replaced; the key and its certificate are never mismatched.
     */
    public void writeRenewedIdentity(String keyPem, String certificatePem, String caBundlePem) throws IOException {
        DurableFiles.writeAtomically(renewedIdentity(), (keyPem + certificatePem + caBundlePem).getBytes(StandardCharsets.US_ASCII), OWNER_ONLY);
        install(keyPem, certificatePem, caBundlePem);
    }

    /** Installs a renewal a crash interrupted (see {@link #writeRenewedIdentity}); true if there was one. */
    public boolean completeRenewal() throws IOException {
        if (!Files.isRegularFile(renewedIdentity())) {
            return false;
        }
        String pem = Files.readString(renewedIdentity(), StandardCharsets.US_ASCII);
        int certificates = pem.indexOf("-----BEGIN CERTIFICATE-----");
        int bundle = certificates < 0 ? -1 : pem.indexOf("-----BEGIN CERTIFICATE-----", certificates + 1);
        if (certificates <= 0 || bundle < 0) {
            // Torn files cannot exist (written atomically): this one was not ours. Keep the current identity.
            Files.move(renewedIdentity(), renewedIdentity().resolveSibling("node-renewed.pem.invalid"), StandardCopyOption.REPLACE_EXISTING);
            return false;
        }
        install(pem.substring(0, certificates), pem.substring(certificates, bundle), pem.substring(bundle));
        return true;
    }

    private void install(String keyPem, String certificatePem, String caBundlePem) throws IOException {
        DurableFiles.writeAtomically(nodeKey(), keyPem.getBytes(StandardCharsets.US_ASCII), OWNER_ONLY);
        DurableFiles.writeAtomically(nodeCertificate(), certificatePem.getBytes(StandardCharsets.US_ASCII), READABLE);
        DurableFiles.writeAtomically(caBundle(), caBundlePem.getBytes(StandardCharsets.US_ASCII), READABLE);
        Files.deleteIfExists(renewedIdentity());
        DurableFiles.fsyncDir(path);
    }

    public void createDir() throws IOException {
        if (!Files.isDirectory(path)) {
            Files.createDirectories(path);
            Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rwx------"));
        }
    }
}
