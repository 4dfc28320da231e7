package dev.edgeplane.controlplane.api;

import com.google.protobuf.Any;
import com.google.rpc.BadRequest;
import com.google.rpc.Code;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Collects field violations and turns them into INVALID_ARGUMENT with a google.rpc.BadRequest
 * detail, so a caller learns every problem at once.
 */
public final class Validation {
    private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
    private static final Pattern DNS_SUBDOMAIN = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
    private static final Pattern LABEL_NAME = Pattern.compile("[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?");
    private static final Pattern CONFIG_KEY = Pattern.compile("[-._a-zA-Z0-9]+");
    private static final Pattern ENV_NAME = Pattern.compile("[-._a-zA-Z][-._a-zA-Z0-9]*");
    /** A container image reference (the distribution project's grammar): [domain[:port]/]path[:tag][@digest]. */
    private static final Pattern IMAGE_REFERENCE = Pattern.compile(
            "(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?/)?"
                    + "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
                    + "(?::[\\w][\\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?");

    /**
     * Violations reported in one error, and characters per field or description: the status travels in
     * HTTP/2 trailers, which clients cap (grpc-java: 8 KiB), so an abusive request must not make a reply
     * that cannot be delivered. The rest are counted in the message.
     */
    static final int MAX_REPORTED = 8;
    static final int MAX_TEXT = 200;

    private final List<BadRequest.FieldViolation> violations = new ArrayList<>();
    private int unreported;

    public Validation add(String field, String description) {
        if (violations.size() == MAX_REPORTED) {
            unreported++;
            return this;
        }
        violations.add(BadRequest.FieldViolation.newBuilder().setField(clip(field)).setDescription(clip(description)).build());
        return this;
    }

    private static String clip(String text) {
        return text.length() <= MAX_TEXT ? text : text.substring(0, MAX_TEXT - 3) + "...";
    }

    public boolean ok() {
        return violations.isEmpty();
    }

    /** Adds a violation when {@code count} is over {@code max}; the description names the setting. */
    public Validation atMost(String field, int count, int max, String setting) {
        if (count > max) {
            add(field, "has " + count + " entries, over the limit of " + max + " (edgeplane.limits." + setting + ")");
        }
        return this;
    }

    /** Adds a violation when {@code value} is longer than {@code max} bytes (UTF-8); the description names the setting. */
    public Validation maxBytes(String field, String value, int max, String setting) {
        // A char is at most 3 UTF-8 bytes: only strings near the limit need counting.
        if ((long) value.length() * 3 > max) {
            int bytes = value.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
            if (bytes > max) {
                add(field, "is " + bytes + " bytes, over the limit of " + max + " (edgeplane.limits." + setting + ")");
            }
        }
        return this;
    }

    /** Labels as {@link #labels(String, Map)}, and at most {@code max} of them. */
    public Validation labels(String field, Map<String, String> labels, int max) {
        atMost(field, labels.size(), max, "max-labels");
        return labels.size() > max ? this : labels(field, labels);
    }

    /**
     * Annotations as in Kubernetes: keys follow the label key rules, values are free, and keys and
     * values together are at most {@code maxBytes}.
     */
    public Validation annotations(String field, Map<String, String> annotations, int maxBytes) {
        long total = 0;
        for (Map.Entry<String, String> a : annotations.entrySet()) {
            total += a.getKey().getBytes(java.nio.charset.StandardCharsets.UTF_8).length
                    + a.getValue().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        }
        if (total > maxBytes) {
            return add(field, "are " + total + " bytes, over the limit of " + maxBytes + " (edgeplane.limits.max-annotations-bytes)");
        }
        for (String key : annotations.keySet()) {
            if (key.isEmpty() || !new Validation().labels(field, Map.of(key, "")).ok()) {
                add(field + "[" + key + "]", "annotation key must be [DNS subdomain prefix/]name, as a label key");
            }
        }
        return this;
    }

    public List<BadRequest.FieldViolation> violations() {
        return List.copyOf(violations);
    }

    /** Throws INVALID_ARGUMENT naming every violation, if there is any. */
    public void throwIfInvalid() {
        if (ok()) {
            return;
        }
        StringBuilder message = new StringBuilder();
        for (BadRequest.FieldViolation v : violations) {
            message.append(message.length() == 0 ? "" : "; ").append(v.getField()).append(": ").append(v.getDescription());
        }
        if (unreported > 0) {
            message.append("; and ").append(unreported).append(" more");
        }
        throw invalid(message.toString(), violations);
    }

    public static StatusRuntimeException invalid(String field, String description) {
        return invalid(field + ": " + description,
                List.of(BadRequest.FieldViolation.newBuilder().setField(field).setDescription(description).build()));
    }

    /**
     * RESOURCE_EXHAUSTED naming the limit: {@code subject} is the limit (a setting such as
     * "edgeplane.limits.max-template-bytes", or "quota ns/name"), carried as a google.rpc.QuotaFailure.
     */
    public static StatusRuntimeException exhausted(String subject, String description) {
        com.google.rpc.Status status = com.google.rpc.Status.newBuilder()
                .setCode(Code.RESOURCE_EXHAUSTED_VALUE)
                .setMessage(subject + ": " + description)
                .addDetails(Any.pack(com.google.rpc.QuotaFailure.newBuilder().addViolations(
                        com.google.rpc.QuotaFailure.Violation.newBuilder().setSubject(subject).setDescription(description)).build()))
                .build();
        return StatusProto.toStatusRuntimeException(status);
    }

    private static StatusRuntimeException invalid(String message, List<BadRequest.FieldViolation> violations) {
        com.google.rpc.Status status = com.google.rpc.Status.newBuilder()
                .setCode(Code.INVALID_ARGUMENT_VALUE)
                .setMessage(message)
                .addDetails(Any.pack(BadRequest.newBuilder().addAllFieldViolations(violations).build()))
                .build();
        return StatusProto.toStatusRuntimeException(status);
    }

    public static boolean isDnsLabel(String s) {
        return s != null && s.length() >= 1 && s.length() <= 63 && DNS_LABEL.matcher(s).matches();
    }

    /** Checks a DNS-1123 label (lower-case alphanumerics and '-', 1-63 characters). */
    public Validation dnsLabel(String field, String value) {
        if (value == null || value.isEmpty()) {
            return add(field, "must not be empty");
        }
        if (!isDnsLabel(value)) {
            return add(field, "\"" + (value.length() > 70 ? value.substring(0, 67) + "..." : value) + "\" is not a DNS-1123 label (1-63 lower-case alphanumerics or '-', starting and ending alphanumeric)");
        }
        return this;
    }

    /** Checks a container image reference ("busybox", "registry:5000/team/app:1.2", "app@sha256:..."), at most 512 bytes. */
    public Validation imageReference(String field, String value) {
        if (value == null || value.isEmpty()) {
            return add(field, "must not be empty");
        }
        if (value.length() > 512 || !IMAGE_REFERENCE.matcher(value).matches()) {
            return add(field, "\"" + (value.length() > 70 ? value.substring(0, 67) + "..." : value)
                    + "\" is not an image reference ([registry[:port]/]path[:tag][@digest], lower-case path)");
        }
        return this;
    }

    /** Label keys "[prefix/]name" and values as in Kubernetes. */
    public Validation labels(String field, Map<String, String> labels) {
        for (Map.Entry<String, String> label : labels.entrySet()) {
            String key = label.getKey();
            String name = key;
            int slash = key.indexOf('/');
            if (slash >= 0) {
                String prefix = key.substring(0, slash);
                name = key.substring(slash + 1);
                if (prefix.isEmpty() || prefix.length() > 253 || !DNS_SUBDOMAIN.matcher(prefix).matches()) {
                    add(field + "[" + key + "]", "label key prefix must be a DNS subdomain");
                    continue;
                }
            }
            if (name.isEmpty() || name.length() > 63 || !LABEL_NAME.matcher(name).matches()) {
                add(field + "[" + key + "]", "label key must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric");
                continue;
            }
            String value = label.getValue();
            if (!isLabelValue(value)) {
                add(field + "[" + key + "]", "label value must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric");
            }
        }
        return this;
    }

    /** A Kubernetes label value: at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric (or empty). */
    public static boolean isLabelValue(String value) {
        return value.length() <= 63 && (value.isEmpty() || LABEL_NAME.matcher(value).matches());
    }

    public Validation labelKey(String field, String key) {
        Validation probe = new Validation().labels(field, Map.of(key, ""));
        if (key.isEmpty()) {
            return add(field, "must not be empty");
        }
        if (!probe.ok()) {
            add(field, "\"" + key + "\" is not a valid label key");
        }
        return this;
    }

    /** A taint as Kubernetes has it: a label key, an effect; its value checked by the caller where it must be a label value. */
    public Validation taint(String field, dev.edgeplane.api.v1.Taint taint) {
        labelKey(field + ".key", taint.getKey());
        if (taint.getEffect() == dev.edgeplane.api.v1.Taint.Effect.EFFECT_UNSPECIFIED
                || taint.getEffect() == dev.edgeplane.api.v1.Taint.Effect.UNRECOGNIZED) {
            add(field + ".effect", "must be NO_SCHEDULE, PREFER_NO_SCHEDULE or NO_EXECUTE");
        }
        return this;
    }

    /**
     * A key of ConfigMap or Secret data, which becomes a file name in a volume: [-._a-zA-Z0-9]+, at
     * most 253 bytes, not "." or ".." and not starting with ".." (the volume's own ..data entries).
     */
    public Validation configKey(String field, String key) {
        if (key.isEmpty() || key.length() > 253 || !CONFIG_KEY.matcher(key).matches()) {
            add(field, "key must be 1-253 of a-z, A-Z, 0-9, '-', '_' and '.'");
        } else if (key.equals(".") || key.startsWith("..")) {
            add(field, "key must not be \".\" or start with \"..\"");
        }
        return this;
    }

    public Validation envName(String field, String name) {
        if (name.isEmpty() || !ENV_NAME.matcher(name).matches()) {
            add(field, "\"" + name + "\" is not a valid environment variable name");
        }
        return this;
    }

    /** Makes a DNS-1123 label from free text (a hostname), or "" if nothing usable remains. */
    public static String toDnsLabel(String text) {
        String s = text == null ? "" : text.toLowerCase().replaceAll("[^a-z0-9-]", "-");
        int dot = s.indexOf('.');
        if (text != null && text.indexOf('.') > 0) {
            s = s.substring(0, text.indexOf('.'));
        } else if (dot >= 0) {
            s = s.substring(0, dot);
        }
        s = s.replaceAll("^-+", "").replaceAll("-+$", "");
        if (s.length() > 63) {
            s = s.substring(0, 63).replaceAll("-+$", "");
        }
        return s;
    }
}
