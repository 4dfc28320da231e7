package dev.edgeplane.agent.pods;

import com.google.protobuf.CodedOutputStream;
import dev.edgeplane.api.v1.PodTemplate;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** A short, stable hash of a pod template: a pod whose label differs from its assignment's is replaced. */
public final class TemplateHash {
    private TemplateHash() {}

    public static String of(PodTemplate template) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            CodedOutputStream out = CodedOutputStream.newInstance(bytes);
            out.useDeterministicSerialization(); // map order must not change the hash
            template.writeTo(out);
            out.flush();
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(bytes.toByteArray());
            return HexFormat.of().formatHex(digest, 0, 8);
        } catch (IOException | NoSuchAlgorithmException e) {
            throw new IllegalStateException("cannot hash a pod template", e);
        }
    }
}
