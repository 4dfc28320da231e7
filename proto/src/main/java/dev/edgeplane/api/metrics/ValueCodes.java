package dev.edgeplane.api.metrics;

import dev.edgeplane.api.v1.ValueCoding;

/**
 * The metrics wire's value codings ({@code ValueCoding} in metrics.proto): a value and its integer
 * code, computed the same way by the agent that sends and the control plane that reads. A sample
 * travels as the difference between its code and its series' previous one, so what matters is that
 * a steady or slowly moving series has codes close together:
 * <ul>
 * <li>exact decimals: {@code value = code / 10^decimals}, bit for bit (byte counters, load averages,
 *     seconds at millisecond resolution);</li>
 * <li>rounded: the value at {@code precision_bits} significant bits, coded as its rank
 *     ({@link ValuePrecision#index}), for gauges the store rounds the same way anyway.</li>
 * </ul>
 */
public final class ValueCodes {
    /** The most decimals a coding may say (10^9 keeps codes of values up to ~9e6 exact). */
    public static final int MAX_DECIMALS = 9;
    /** Returned by {@link #decimalCode} for a value that does not come back exactly. */
    public static final long NOT_EXACT = Long.MIN_VALUE;
    private static final double[] POWERS_OF_TEN = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    /** Codes beyond 2^53 are not all integers a double can hold. */
    private static final double MAX_CODE = 0x1p53;

    private ValueCodes() {}

    /** The code of {@code value} with {@code decimals} decimals, or {@link #NOT_EXACT} if decoding it would not give {@code value} back bit for bit. */
    public static long decimalCode(double value, int decimals) {
        double scaled = Math.rint(value * POWERS_OF_TEN[decimals]);
        if (!(Math.abs(scaled) <= MAX_CODE)) { // NaN and infinities too
            return NOT_EXACT;
        }
        long code = (long) scaled;
        return Double.doubleToRawLongBits(decimalValue(code, decimals)) == Double.doubleToRawLongBits(value) ? code : NOT_EXACT;
    }

    public static double decimalValue(long code, int decimals) {
        return code / POWERS_OF_TEN[decimals];
    }

    /** The fewest decimals, from {@code atLeast} up to {@code atMost}, with which {@code value} is exact; -1 if none. */
    public static int decimalsFor(double value, int atLeast, int atMost) {
        for (int d = atLeast; d <= atMost; d++) {
            if (decimalCode(value, d) != NOT_EXACT) {
                return d;
            }
        }
        return -1;
    }

    public static long roundedCode(double value, int precisionBits) {
        int dropped = ValuePrecision.dropped(precisionBits);
        return ValuePrecision.index(ValuePrecision.round(value, dropped), dropped);
    }

    public static double roundedValue(long code, int precisionBits) {
        return ValuePrecision.value(code, ValuePrecision.dropped(precisionBits));
    }

    /** The code of {@code value} under {@code coding}, or {@link #NOT_EXACT} (exact decimals only). */
    public static long code(ValueCoding coding, double value) {
        return coding.getCodingCase() == ValueCoding.CodingCase.DECIMALS
                ? decimalCode(value, coding.getDecimals())
                : roundedCode(value, coding.getPrecisionBits());
    }

    /** The value of a code under a {@link #problem valid} coding. */
    public static double value(ValueCoding coding, long code) {
        return coding.getCodingCase() == ValueCoding.CodingCase.DECIMALS
                ? decimalValue(code, coding.getDecimals())
                : roundedValue(code, coding.getPrecisionBits());
    }

    /** What is wrong with a coding a peer sent ("field: reason"), or null when it is usable. */
    public static String problem(ValueCoding coding) {
        return switch (coding.getCodingCase()) {
            case DECIMALS -> coding.getDecimals() <= MAX_DECIMALS ? null : "decimals: must be 0.." + MAX_DECIMALS;
            case PRECISION_BITS -> coding.getPrecisionBits() >= 2 && coding.getPrecisionBits() < ValuePrecision.LOSSLESS
                    ? null : "precision_bits: must be 2.." + (ValuePrecision.LOSSLESS - 1);
            case CODING_NOT_SET -> "coding: set decimals or precision_bits (or leave the whole field unset for doubles)";
        };
    }

    public static ValueCoding decimals(int decimals) {
        return ValueCoding.newBuilder().setDecimals(decimals).build();
    }

    public static ValueCoding rounded(int precisionBits) {
        return ValueCoding.newBuilder().setPrecisionBits(precisionBits).build();
    }
}
