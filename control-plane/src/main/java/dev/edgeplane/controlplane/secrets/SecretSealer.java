package dev.edgeplane.controlplane.secrets;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.SealedSecret;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.api.v1.SecretPayload;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.store.Keys;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Arrays;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * Envelope encryption of Secrets at rest, in the layout documented on SealedSecret (config.proto): a
 * fresh AES-256 data key per seal encrypts the data, and the primary key-encryption key wraps the
 * data key. Both are AES-GCM with the secret's namespace and name as associated data, so a sealed
 * value moved to another key in etcd does not open.
 */
@ApplicationScoped
public class SecretSealer {
    private static final String CIPHER = "AES/GCM/NoPadding";
    private static final int NONCE_BYTES = 12;
    private static final int TAG_BITS = 128;
    static final String NOT_CONFIGURED = "secrets need a key-encryption key: set edgeplane.secrets.key-file";

    private final KeyRing ring;
    private final SecureRandom random = new SecureRandom();

    @Inject
    public SecretSealer(ControlPlaneConfig config) {
        this(KeyRing.load(config.secrets().keyFile(), config.secrets().keys()));
    }

    public SecretSealer(KeyRing ring) {
        this.ring = ring;
    }

    public boolean configured() {
        return !ring.isEmpty();
    }

    /** Throws the NOT_CONFIGURED SealingException if there is no key. */
    public void requireConfigured() {
        primary();
    }

    /** The id new writes are sealed under; fails if no key is configured. */
    public String primaryKeyId() {
        return primary().id();
    }

    public KeyRing ring() {
        return ring;
    }

    /** True if {@code sealed} is under a key other than the primary (a rotation left it behind). */
    public boolean needsResealing(SealedSecret sealed) {
        return configured() && !sealed.getKeyId().equals(primaryKeyId());
    }

    /** Seals {@code secret}'s data under the primary key; metadata and type stay in the clear. */
    public SealedSecret seal(Secret secret) {
        KeyRing.Kek kek = primary();
        ObjectMeta meta = secret.getMetadata();
        byte[] dataKey = new byte[KeyRing.KEY_BYTES];
        random.nextBytes(dataKey);
        try {
            byte[] wrapped = encrypt(kek.key(), dataKey, keyAad(meta));
            byte[] payload = SecretPayload.newBuilder().putAllData(secret.getDataMap()).build().toByteArray();
            byte[] sealed = encrypt(new SecretKeySpec(dataKey, "AES"), payload, dataAad(meta));
            Arrays.fill(payload, (byte) 0);
            return SealedSecret.newBuilder().setMetadata(meta).setType(secret.getType()).setKeyId(kek.id())
                    .setWrappedDataKey(ByteString.copyFrom(wrapped)).setSealedData(ByteString.copyFrom(sealed)).build();
        } finally {
            Arrays.fill(dataKey, (byte) 0);
        }
    }

    /** The Secret {@code sealed} holds, with its data; fails naming the key if it cannot be opened. */
    public Secret open(SealedSecret sealed) {
        ObjectMeta meta = sealed.getMetadata();
        if (!configured()) {
            throw new SealingException(SealingException.Reason.NOT_CONFIGURED, NOT_CONFIGURED);
        }
        KeyRing.Kek kek = ring.find(sealed.getKeyId()).orElseThrow(() -> new SealingException(SealingException.Reason.KEY_MISSING,
                "secret " + name(meta) + " is sealed under key '" + sealed.getKeyId() + "', which is not configured"));
        byte[] dataKey = decrypt(kek.key(), sealed.getWrappedDataKey().toByteArray(), keyAad(meta), meta, kek.id());
        try {
            byte[] payload = decrypt(new SecretKeySpec(dataKey, "AES"), sealed.getSealedData().toByteArray(), dataAad(meta), meta, kek.id());
            SecretPayload data = SecretPayload.parseFrom(payload);
            Arrays.fill(payload, (byte) 0);
            return Secret.newBuilder().setMetadata(meta).setType(sealed.getType()).putAllData(data.getDataMap()).build();
        } catch (InvalidProtocolBufferException e) {
            throw failed(meta, kek.id());
        } finally {
            Arrays.fill(dataKey, (byte) 0);
        }
    }

    /**
     * Opens a secret as read from etcd {@code key}, binding it to the namespace and name of the key
     * rather than those it carries: a sealed value copied to another key fails authentication.
     */
    public Secret openStored(String key, SealedSecret sealed) {
        String[] nsName = Keys.suffix(key, Keys.SECRETS).split("/", 2);
        ObjectMeta at = sealed.getMetadata().toBuilder().setNamespace(nsName[0]).setName(nsName.length > 1 ? nsName[1] : "").build();
        return open(sealed.toBuilder().setMetadata(at).build());
    }

    private KeyRing.Kek primary() {
        return ring.primary().orElseThrow(() -> new SealingException(SealingException.Reason.NOT_CONFIGURED, NOT_CONFIGURED));
    }

    private static String name(ObjectMeta meta) {
        return meta.getNamespace() + "/" + meta.getName();
    }

    private static byte[] keyAad(ObjectMeta meta) {
        return ("edgeplane/secret-key/" + name(meta)).getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] dataAad(ObjectMeta meta) {
        return ("edgeplane/secret/" + name(meta)).getBytes(StandardCharsets.UTF_8);
    }

    /** nonce(12) || ciphertext-and-tag. */
    private byte[] encrypt(SecretKey key, byte[] plain, byte[] aad) {
        byte[] nonce = new byte[NONCE_BYTES];
        random.nextBytes(nonce);
        try {
            Cipher cipher = Cipher.getInstance(CIPHER);
            cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, nonce));
            cipher.updateAAD(aad);
            byte[] out = new byte[NONCE_BYTES + cipher.getOutputSize(plain.length)];
            System.arraycopy(nonce, 0, out, 0, NONCE_BYTES);
            cipher.doFinal(plain, 0, plain.length, out, NONCE_BYTES);
            return out;
        } catch (GeneralSecurityException e) {
            // The JDK always has AES-GCM: this is a broken runtime, not a bad input.
            throw new IllegalStateException("AES-GCM encryption failed: " + e.getClass().getSimpleName(), e);
        }
    }

    private static byte[] decrypt(SecretKey key, byte[] sealed, byte[] aad, ObjectMeta meta, String keyId) {
        if (sealed.length < NONCE_BYTES + TAG_BITS / 8) {
            throw failed(meta, keyId);
        }
        try {
            Cipher cipher = Cipher.getInstance(CIPHER);
            cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, sealed, 0, NONCE_BYTES));
            cipher.updateAAD(aad);
            return cipher.doFinal(sealed, NONCE_BYTES, sealed.length - NONCE_BYTES);
        } catch (AEADBadTagException e) {
            throw failed(meta, keyId);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM decryption failed: " + e.getClass().getSimpleName(), e);
        }
    }

    private static SealingException failed(ObjectMeta meta, String keyId) {
        return new SealingException(SealingException.Reason.AUTHENTICATION_FAILED, "secret " + name(meta)
                + " failed authentication under key '" + keyId + "': its sealed form was altered or belongs to another secret");
    }
}
