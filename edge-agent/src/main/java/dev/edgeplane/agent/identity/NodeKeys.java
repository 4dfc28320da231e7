package dev.edgeplane.agent.identity;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;

/** The node's key pair (EC P-256, made here and never sent) and the CSR that asks the CA to certify it. */
public final class NodeKeys {
    /** DER of the OIDs the CSR names: id-at-commonName (2.5.4.3) and ecdsa-with-SHA256 (1.2.840.10045.4.3.2). */
    private static final byte[] COMMON_NAME = {0x06, 0x03, 0x55, 0x04, 0x03};
    private static final byte[] ECDSA_WITH_SHA256 = {0x06, 0x08, 0x2A, (byte) 0x86, 0x48, (byte) 0xCE, 0x3D, 0x04, 0x03, 0x02};

    private NodeKeys() {}

    public static KeyPair generate() {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"));
            return generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("EC P-256 unavailable", e);
        }
    }

    /**
     * A PKCS#10 request (RFC 2986), PEM, with CN = the node name (UTF8String), no attributes, signed
     * with the node key (ecdsa-with-SHA256). DER written here: the JDK has no CSR builder.
     */
    public static String csrPem(KeyPair keys, String nodeName) {
        byte[] subject = sequence(set(sequence(COMMON_NAME, tlv(0x0C, nodeName.getBytes(StandardCharsets.UTF_8)))));
        byte[] info = sequence(new byte[] {0x02, 0x01, 0x00}, subject, keys.getPublic().getEncoded(), new byte[] {(byte) 0xA0, 0x00});
        try {
            Signature signer = Signature.getInstance("SHA256withECDSA");
            signer.initSign(keys.getPrivate());
            signer.update(info);
            byte[] signature = signer.sign();
            byte[] bits = new byte[signature.length + 1]; // no unused bits
            System.arraycopy(signature, 0, bits, 1, signature.length);
            return Pem.block("CERTIFICATE REQUEST", sequence(info, sequence(ECDSA_WITH_SHA256), tlv(0x03, bits)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot sign the CSR", e);
        }
    }

    private static byte[] sequence(byte[]... parts) {
        return tlv(0x30, concat(parts));
    }

    private static byte[] set(byte[]... parts) {
        return tlv(0x31, concat(parts));
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }

    /** Tag, DER length (short or long form), value. */
    private static byte[] tlv(int tag, byte[] value) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(value.length + 6);
        out.write(tag);
        int length = value.length;
        if (length < 0x80) {
            out.write(length);
        } else {
            int bytes = length > 0xFFFFFF ? 4 : length > 0xFFFF ? 3 : length > 0xFF ? 2 : 1;
            out.write(0x80 | bytes);
            for (int i = bytes - 1; i >= 0; i--) {
                out.write(length >>> (8 * i));
            }
        }
        out.writeBytes(value);
        return out.toByteArray();
    }
}
