package dev.edgeplane.controlplane.join;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Optional;
import java.util.regex.Pattern;

/** Bootstrap tokens "<id>.<secret>" (kubeadm-style): the id is public, only the secret's hash is kept. */
public final class JoinTokens {
    /** Annotation on the stored JoinToken holding sha256(secret); never returned by the API. */
    public static final String SECRET_HASH_ANNOTATION = "edgeplane.dev/secret-sha256";
    private static final String ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
    private static final Pattern TOKEN = Pattern.compile("([a-z0-9]{6})\\.([a-z0-9]{16})");

    public record Token(String id, String secret) {
        @Override
        public String toString() {
            return id + "." + secret;
        }
    }

    private final SecureRandom random = new SecureRandom();

    public Token generate() {
        return new Token(randomString(6), randomString(16));
    }

    public static Optional<Token> parse(String text) {
        var matcher = TOKEN.matcher(text == null ? "" : text.trim());
        return matcher.matches() ? Optional.of(new Token(matcher.group(1), matcher.group(2))) : Optional.empty();
    }

    public static String hash(String secret) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(secret.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Constant-time comparison of a presented secret with a stored hash. */
    public static boolean matches(String secret, String storedHash) {
        return MessageDigest.isEqual(hash(secret).getBytes(StandardCharsets.US_ASCII), storedHash.getBytes(StandardCharsets.US_ASCII));
    }

    private String randomString(int length) {
        StringBuilder out = new StringBuilder(length);
        for (int i = 0; i < length; i++) {
            out.append(ALPHABET.charAt(random.nextInt(ALPHABET.length())));
        }
        return out.toString();
    }
}
