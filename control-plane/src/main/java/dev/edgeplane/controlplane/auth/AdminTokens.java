package dev.edgeplane.controlplane.auth;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.SealedSecret;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.secrets.SecretSealer;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * The admin bearer token. At first start one is generated, written once to
 * {@code edgeplane.admin-token-file} (mode 0600) and stored in etcd ONLY as its sha256, sealed under the
 * secrets' key-encryption key when one is configured (so writing etcd does not make one admin). Callers are
 * checked against that hash. A token already in that file at first start (a mounted Secret) is adopted
 * instead of generating one.
 */
@ApplicationScoped
public class AdminTokens {
    private static final Logger LOG = Logger.getLogger(AdminTokens.class);
    private static final Duration REFRESH = Duration.ofSeconds(5);
    private static final int MIN_PROVIDED_TOKEN_LENGTH = 32;

    /** Who the sealed hash is, for the seal's associated data: not a Secret any API call can name. */
    private static final ObjectMeta SEALED_AS = ObjectMeta.newBuilder().setNamespace("edgeplane-system").setName("admin-token").build();
    private static final String HASH_KEY = "sha256";

    private final EtcdStore store;
    private final SecretSealer sealer;
    private final Path tokenFile;
    private volatile byte[] hash;
    private volatile Instant lastRefresh = Instant.EPOCH;

    public AdminTokens(EtcdStore store, ControlPlaneConfig config, SecretSealer sealer) {
        this.store = store;
        this.sealer = sealer;
        this.tokenFile = Path.of(config.adminTokenFile());
    }

    public Path tokenFile() {
        return tokenFile;
    }

    /** Loads the hash from etcd, or mints the first admin token if there is none. */
    public void bootstrap() {
        var existing = store.get(Keys.ADMIN_TOKEN_HASH);
        if (existing.isPresent()) {
            byte[] stored = existing.get().value();
            if (sealer.configured() && isClear(stored)) {
                // Written by an earlier version, or by whoever can write etcd: sealed only if it is the operator's own token.
                byte[] clear = HexFormat.of().parseHex(new String(stored, StandardCharsets.US_ASCII).trim());
                if (Files.exists(tokenFile) && matches(clear)) {
                    store.update(Keys.ADMIN_TOKEN_HASH, sealed(clear), existing.get().modRevision());
                    LOG.infof("sealed the admin token's hash under key '%s' (it was in etcd in the clear)", sealer.primaryKeyId());
                } else {
                    LOG.errorf("the admin token hash in etcd (%s) is not sealed and does not match %s: it is ignored. If the "
                            + "token is lost, delete the key (etcdctl del %s) and restart; a fresh token is written to %s.",
                            Keys.ADMIN_TOKEN_HASH, tokenFile, Keys.ADMIN_TOKEN_HASH, tokenFile);
                    return;
                }
                hash = clear;
                return;
            }
            hash = opened(stored);
            if (!Files.exists(tokenFile)) {
                LOG.warnf("an admin token already exists (its hash is in etcd at %s) but %s is missing, so no new one was "
                        + "written. If the token is lost, mint a new one: delete the hash (etcdctl del %s) and restart "
                        + "the control plane; it then writes a fresh token to %s.",
                        Keys.ADMIN_TOKEN_HASH, tokenFile, Keys.ADMIN_TOKEN_HASH, tokenFile);
            } else if (!matchesFile()) {
                LOG.warnf("%s does not hold the admin token whose hash is in etcd (a token of another cluster?)", tokenFile);
            }
            return;
        }
        Optional<String> provided = providedToken();
        String token = provided.orElseGet(() -> "ep_" + HexFormat.of().formatHex(randomBytes(32)));
        byte[] tokenHash = sha256(token);
        if (provided.isEmpty()) {
            writeTokenFile(token);
        }
        if (store.create(Keys.ADMIN_TOKEN_HASH, sealer.configured() ? sealed(tokenHash)
                : HexFormat.of().formatHex(tokenHash).getBytes(StandardCharsets.US_ASCII)).isPresent()) {
            hash = tokenHash;
            if (provided.isPresent()) {
                LOG.infof("adopted the admin token provided in %s; only its hash is stored", tokenFile);
            } else {
                LOG.infof("generated the admin token and wrote it to %s (mode 0600); only its hash is stored", tokenFile);
            }
        } else if (provided.isPresent()) {
            // Another replica stored a hash first; the provided file is left alone (it may be a read-only Secret).
            bootstrap();
        } else {
            // Another replica minted one first: ours is void.
            try {
                Files.deleteIfExists(tokenFile);
            } catch (IOException e) {
                LOG.warnf("cannot remove %s: %s", tokenFile, e.getMessage());
            }
            bootstrap();
        }
    }

    /**
     * A token that an operator placed in the token file before the first start (e.g. a Kubernetes
     * Secret mounted there): it becomes the admin token instead of a generated one. Too short to be a
     * secret -> refuse to start rather than guard the cluster with it.
     */
    private Optional<String> providedToken() {
        if (!Files.isRegularFile(tokenFile)) {
            return Optional.empty();
        }
        String token;
        try {
            token = Files.readString(tokenFile).trim();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + tokenFile, e);
        }
        if (token.isEmpty()) {
            return Optional.empty();
        }
        if (token.length() < MIN_PROVIDED_TOKEN_LENGTH || !token.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
            throw new IllegalStateException(tokenFile + " holds a provided admin token that is not at least "
                    + MIN_PROVIDED_TOKEN_LENGTH + " printable ASCII characters without spaces; "
                    + "use e.g. `openssl rand -hex 32`, or remove the file to have one generated");
        }
        return Optional.of(token);
    }

    /** True when {@code token} is the admin token. */
    public boolean isValid(String token) {
        byte[] presented = sha256(token);
        byte[] current = hash;
        if (current != null && MessageDigest.isEqual(presented, current)) {
            return true;
        }
        // The hash may have been re-minted by another replica: look again, at most every few seconds.
        Instant now = Instant.now();
        if (Duration.between(lastRefresh, now).compareTo(REFRESH) >= 0) {
            lastRefresh = now;
            try {
                store.get(Keys.ADMIN_TOKEN_HASH).ifPresent(e -> hash = opened(e.value()));
            } catch (RuntimeException e) {
                LOG.debugf("cannot refresh the admin token hash: %s", e.getMessage());
            }
            current = hash;
            return current != null && MessageDigest.isEqual(presented, current);
        }
        return false;
    }

    private boolean matchesFile() {
        return matches(hash);
    }

    private boolean matches(byte[] expected) {
        try {
            return MessageDigest.isEqual(sha256(Files.readString(tokenFile).trim()), expected);
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * The hash as stored: sealed under the secrets' key-encryption key when one is configured, so that
     * writing etcd is not enough to make oneself admin (a hash in the clear is then refused), else hex.
     */
    private byte[] opened(byte[] stored) {
        if (!sealer.configured()) {
            if (!isClear(stored)) {
                throw new IllegalStateException("the admin token hash in etcd is sealed: start the control plane with its "
                        + "key-encryption key (edgeplane.secrets.key-file)");
            }
            return HexFormat.of().parseHex(new String(stored, StandardCharsets.US_ASCII).trim());
        }
        if (isClear(stored)) {
            LOG.warnf("ignoring an unsealed admin token hash in etcd (%s): a key-encryption key is configured", Keys.ADMIN_TOKEN_HASH);
            return hash;
        }
        SealedSecret sealed = EtcdStore.decode(SealedSecret.parser(), stored);
        // Opened as the admin token whatever name it carries: another Secret's seal copied here fails authentication.
        return sealer.open(sealed.toBuilder().setMetadata(sealed.getMetadata().toBuilder()
                .setNamespace(SEALED_AS.getNamespace()).setName(SEALED_AS.getName())).build()).getDataOrThrow(HASH_KEY).toByteArray();
    }

    private byte[] sealed(byte[] tokenHash) {
        return sealer.seal(Secret.newBuilder().setMetadata(SEALED_AS).setType(Secret.Type.OPAQUE)
                .putData(HASH_KEY, ByteString.copyFrom(tokenHash)).build()).toByteArray();
    }

    private static boolean isClear(byte[] stored) {
        return stored.length <= 80 && new String(stored, StandardCharsets.US_ASCII).trim().matches("[0-9a-f]{64}");
    }

    private void writeTokenFile(String token) {
        try {
            Path dir = tokenFile.toAbsolutePath().getParent();
            Files.createDirectories(dir);
            Path temp = Files.createTempFile(dir, ".admin-token", ".tmp",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.writeString(temp, token + "\n");
            try {
                Files.move(temp, tokenFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, tokenFile, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the admin token to " + tokenFile
                    + " (set edgeplane.admin-token-file / EDGEPLANE_ADMIN_TOKEN_FILE to a writable path)", e);
        }
    }

    /** sha256 of a token's UTF-8: what is stored and compared instead of the token. */
    public static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        new SecureRandom().nextBytes(b);
        return b;
    }
}
