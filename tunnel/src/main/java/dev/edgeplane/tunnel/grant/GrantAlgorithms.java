package dev.edgeplane.tunnel.grant;

import java.security.Key;

/** The signature algorithm for a key: ECDSA for the CA's EC key, Ed25519 where one is used. */
final class GrantAlgorithms {
    private GrantAlgorithms() {}

    static String signatureFor(Key key) {
        return switch (key.getAlgorithm()) {
            case "EC", "ECDSA" -> "SHA256withECDSA";
            case "Ed25519", "EdDSA" -> "Ed25519";
            case "RSA" -> "SHA256withRSA";
            default -> throw new IllegalArgumentException("no grant signature for " + key.getAlgorithm() + " keys");
        };
    }
}
