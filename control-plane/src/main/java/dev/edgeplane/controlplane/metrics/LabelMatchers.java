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
 *
 * <p>A regex's cost is bounded twice: its length when compiled (so is the compile's cost), and the
 * work of matching: java.util.regex backtracks, and a pattern like {@code (.*a){12}b} takes exponential
 * time on a value of a's. Every character the engine reads is counted against {@code maxRegexSteps}
 * for the whole query; past it, {@link TooCostly} ends the query (its caller answers RESOURCE_EXHAUSTED).
 */
public final class LabelMatchers implements Predicate<SeriesKey> {
    static final Pattern LABEL_NAME = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");
    static final int DEFAULT_MAX_REGEX_BYTES = 1024;
    static final long DEFAULT_MAX_REGEX_STEPS = 50_000_000L;

    /** The query's regex matching read more characters than its budget. */
    public static final class TooCostly extends RuntimeException {
        TooCostly(String message) {
            super(message, null, false, false);
        }
    }

    private record Compiled(String name, LabelMatcher.Op op, String value, Pattern regex) {}

    private final List<Compiled> matchers;
    private final long maxRegexSteps;
    private long regexSteps; // one query, one thread

    private LabelMatchers(List<Compiled> matchers, long maxRegexSteps) {
        this.matchers = List.copyOf(matchers);
        this.maxRegexSteps = maxRegexSteps;
    }

    public static LabelMatchers none() {
        return new LabelMatchers(List.of(), DEFAULT_MAX_REGEX_STEPS);
    }

    /** Compiles {@code matchers} with the default regex bounds. */
    public static LabelMatchers compile(String field, List<LabelMatcher> matchers, Validation v) {
        return compile(field, matchers, v, DEFAULT_MAX_REGEX_BYTES, DEFAULT_MAX_REGEX_STEPS);
    }

    /**
     * Compiles {@code matchers}; problems go into {@code v} under {@code field[i].name|op|value}. A regex
     * longer than {@code maxRegexBytes} is not compiled; matching reads at most {@code maxRegexSteps}
     * characters in all.
     */
    public static LabelMatchers compile(String field, List<LabelMatcher> matchers, Validation v, int maxRegexBytes,
                                        long maxRegexSteps) {
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
            boolean isRegex = m.getOp() == LabelMatcher.Op.REGEX || m.getOp() == LabelMatcher.Op.NOT_REGEX;
            int regexBytes = isRegex ? utf8Length(m.getValue()) : 0;
            if (regexBytes > maxRegexBytes) {
                v.add(at + ".value", "is " + regexBytes + " bytes, over the limit of " + maxRegexBytes
                        + " (edgeplane.limits.max-metrics-regex-bytes)");
                ok = false; // not compiled: its length bounds the compile's cost
            } else if (isRegex) {
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
        return new LabelMatchers(compiled, maxRegexSteps);
    }

    private static int utf8Length(String s) {
        return s.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
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
            if (!matches(m, key)) {
                return false;
            }
        }
        return true;
    }

    private boolean matches(Compiled m, SeriesKey key) {
        String actual = key.label(m.name());
        return switch (m.op()) {
            case NOT_EQUAL -> !actual.equals(m.value());
            case REGEX -> regexMatches(m, actual);
            case NOT_REGEX -> !regexMatches(m, actual);
            default -> actual.equals(m.value());
        };
    }

    private boolean regexMatches(Compiled m, String actual) {
        return m.regex().matcher(new Counted(actual, 0, actual.length())).matches();
    }

    /** A label value that counts the engine's reads against the query's budget. */
    private final class Counted implements CharSequence {
        private final String text;
        private final int from;
        private final int to;

        Counted(String text, int from, int to) {
            this.text = text;
            this.from = from;
            this.to = to;
        }

        @Override
        public char charAt(int index) {
            if (++regexSteps > maxRegexSteps) {
                throw new TooCostly("the label matchers' regular expressions read more than " + maxRegexSteps
                        + " characters; simplify them (avoid nested repetition such as (.*a){12}) or add an exact matcher");
            }
            return text.charAt(from + index);
        }

        @Override
        public int length() {
            return to - from;
        }

        @Override
        public CharSequence subSequence(int start, int end) {
            return new Counted(text, from + start, from + end);
        }

        @Override
        public String toString() {
            return text.substring(from, to);
        }
    }
}
