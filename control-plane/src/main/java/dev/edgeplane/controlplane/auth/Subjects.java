package dev.edgeplane.controlplane.auth;

import io.grpc.Metadata;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** Who a public API caller is, as audit records name it: never the token itself. */
public final class Subjects {
    private Subjects() {}

    /** "admin:" and the first 12 hex digits of the bearer token's sha256, or "anonymous" without one. */
    public static String of(Metadata headers) {
        String header = headers.get(BearerAuthInterceptor.AUTHORIZATION);
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return "anonymous";
        }
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(header.substring(7).trim().getBytes(StandardCharsets.UTF_8));
            return "admin:" + HexFormat.of().formatHex(digest, 0, 6);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }
}
