package dev.edgeplane.tunnel.audit;

/**
 * Values of logfmt audit lines (key=value ...): quoted when they need to be, with control characters
 * escaped, so text that came from a peer can neither end a line nor fake a field.
 */
public final class Logfmt {
    private Logfmt() {}

    /** {@code s} as a logfmt value: as is when plain, else quoted with \\, " and control characters escaped. */
    public static String quote(String s) {
        if (!s.isEmpty() && s.chars().noneMatch(c -> c <= ' ' || c == '"' || c == '=' || c == '\\' || escaped((char) c))) {
            return s;
        }
        StringBuilder out = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (escaped(c)) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }

    /** Control characters (C0, DEL, C1) and the Unicode line separators: what could break or fake a line. */
    private static boolean escaped(char c) {
        return c < ' ' || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == 0x2028 || c == 0x2029;
    }
}
