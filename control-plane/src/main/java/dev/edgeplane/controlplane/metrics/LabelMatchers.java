package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.v1.LabelMatcher;
import dev.edgeplane.controlplane.api.Validation;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Label matchers as Prometheus has them: =, !=, =~, !~, regexes anchored at both ends, and a missing
 * label matching as "".
 */
public final class LabelMatchers implements Predicate<SeriesKey> {
    static final Pattern LABEL_NAME = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");

    private record Compiled(String name, LabelMatcher.Op op, String value, Pattern regex) {
        boolean matches(SeriesKey key) {
            String actual = key.label(name);
            return switch (op) {
                case NOT_EQUAL -> !actual.equals(value);
                case REGEX -> regex.matcher(actual).matches();
                case NOT_REGEX -> !regex.matcher(actual).matches();
                default -> actual.equals(value);
            };
        }
    }

    private final List<Compiled> matchers;

    private LabelMatchers(List<Compiled> matchers) {
        this.matchers = List.copyOf(matchers);
    }

    public static LabelMatchers none() {
        return new LabelMatchers(List.of());
    }

    /** Compiles {@code matchers}; problems go into {@code v} under {@code field[i].name|op|value}. */
    public static LabelMatchers compile(String field, List<LabelMatcher> matchers, Validation v) {
        List<Compiled> compiled = new ArrayList<>();
        for (int i = 0; i < matchers.size(); i++) {
            LabelMatcher m = matchers.get(i);
            String at = field + "[" + i + "]";
            boolean ok = true;
            if (!LABEL_NAME.matcher(m.getName()).matches()) {
                v.add(at + ".name", "\"" + m.getName() + "\" is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)");
                ok = false;
            }
            if (m.getOp() == LabelMatcher.Op.UNRECOGNIZED) {
                v.add(at + ".op", "unknown operator " + m.getOpValue());
                ok = false;
            }
            Pattern regex = null;
            if (m.getOp() == LabelMatcher.Op.REGEX || m.getOp() == LabelMatcher.Op.NOT_REGEX) {
                try {
                    regex = Pattern.compile(m.getValue());
                } catch (PatternSyntaxException e) {
                    v.add(at + ".value", "invalid regular expression: " + e.getDescription() + " near index " + e.getIndex());
                    ok = false;
                }
            }
            if (ok) {
                compiled.add(new Compiled(m.getName(), m.getOp(), m.getValue(), regex));
            }
        }
        return new LabelMatchers(compiled);
    }

    /** The value an EQUAL matcher requires of {@code label}, if there is one (lets the store use its node index). */
    public java.util.Optional<String> required(String label) {
        for (Compiled m : matchers) {
            if (m.name().equals(label) && (m.op() == LabelMatcher.Op.EQUAL || m.op() == LabelMatcher.Op.OP_UNSPECIFIED)) {
                return java.util.Optional.of(m.value());
            }
        }
        return java.util.Optional.empty();
    }

    @Override
    public boolean test(SeriesKey key) {
        for (Compiled m : matchers) {
            if (!m.matches(key)) {
                return false;
            }
        }
        return true;
    }
}
