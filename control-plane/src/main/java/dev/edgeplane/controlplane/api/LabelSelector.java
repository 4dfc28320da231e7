package dev.edgeplane.controlplane.api;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** "k=v,k!=v,k,!k": every requirement must hold. */
public record LabelSelector(List<Requirement> requirements) {

    public sealed interface Requirement {
        String key();

        boolean matches(Map<String, String> labels);
    }

    public record Equals(String key, String value) implements Requirement {
        public boolean matches(Map<String, String> labels) {
            return value.equals(labels.get(key));
        }
    }

    public record NotEquals(String key, String value) implements Requirement {
        public boolean matches(Map<String, String> labels) {
            return !value.equals(labels.get(key));
        }
    }

    public record Exists(String key) implements Requirement {
        public boolean matches(Map<String, String> labels) {
            return labels.containsKey(key);
        }
    }

    public record Absent(String key) implements Requirement {
        public boolean matches(Map<String, String> labels) {
            return !labels.containsKey(key);
        }
    }

    public static final LabelSelector EVERYTHING = new LabelSelector(List.of());

    /** Parses a selector; INVALID_ARGUMENT on {@code field} if it is malformed. */
    public static LabelSelector parse(String field, String text) {
        if (text == null || text.isBlank()) {
            return EVERYTHING;
        }
        List<Requirement> requirements = new ArrayList<>();
        for (String raw : text.split(",")) {
            String part = raw.trim();
            Requirement requirement;
            if (part.contains("!=")) {
                int i = part.indexOf("!=");
                requirement = new NotEquals(part.substring(0, i).trim(), part.substring(i + 2).trim());
            } else if (part.contains("=")) {
                int i = part.indexOf('=');
                String value = part.substring(i + 1).trim();
                if (value.startsWith("=")) {
                    value = value.substring(1).trim(); // "k==v"
                }
                requirement = new Equals(part.substring(0, i).trim(), value);
            } else if (part.startsWith("!")) {
                requirement = new Absent(part.substring(1).trim());
            } else {
                requirement = new Exists(part);
            }
            String key = requirement.key();
            if (key.isEmpty() || !new Validation().labels(field, Map.of(key, "")).ok()) {
                throw Validation.invalid(field, "cannot parse \"" + part + "\" (expected k=v, k!=v, k or !k, comma-separated)");
            }
            requirements.add(requirement);
        }
        return new LabelSelector(List.copyOf(requirements));
    }

    public boolean matches(Map<String, String> labels) {
        for (Requirement r : requirements) {
            if (!r.matches(labels)) {
                return false;
            }
        }
        return true;
    }
}
