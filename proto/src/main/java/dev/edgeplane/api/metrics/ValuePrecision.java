package dev.edgeplane.api.metrics;

/**
 * How many significant bits of a value the store keeps, and the value codec's integer view of a kept
 * value. Rounding to {@code bits} significant bits (to nearest) bounds the error of a normal double
 * {@code v} by {@code |v| * 2^-bits} (12 bits: 0.024%); zero, infinities and integers below
 * {@code 2^bits} stay exact, every NaN becomes the canonical NaN. {@link #LOSSLESS} (53, a double's
 * whole mantissa) keeps every bit. Rounding is monotone, so a rising sequence never falls.
 *
 * <p>A kept value maps to a long ("index") that counts representable values in order: consecutive
 * kept values one rounding step apart have consecutive indexes, so a slowly moving series encodes as
 * small index deltas whatever its magnitude. {@code dropped} is the number of low mantissa bits a
 * tier does not keep (53 - bits; at least 29 in coarse tiers, whose aggregates are floats).
 */
public final class ValuePrecision {
    public static final int LOSSLESS = 53;
    /** Low mantissa bits a float (the coarse tiers' aggregate) does not have. */
    public static final int FLOAT_DROPPED = 52 - 23;

    private ValuePrecision() {}

    /**
     * Low mantissa bits dropped when keeping {@code bits} significant bits (2..64; 53 and up: none).
     * At least 2, so that NaN keeps its quiet bit apart from infinity.
     */
    public static int dropped(int bits) {
        if (bits < 2 || bits > 64) {
            throw new IllegalArgumentException("precision bits must be 2..64: " + bits);
        }
        return Math.max(0, LOSSLESS - bits);
    }

    /** {@code v} rounded to nearest with its {@code dropped} low mantissa bits cleared. */
    public static double round(double v, int dropped) {
        if (Double.isNaN(v)) {
            return dropped == 0 ? v : Double.NaN;
        }
        if (dropped == 0) {
            return v;
        }
        long bits = Double.doubleToRawLongBits(v);
        long mask = (1L << dropped) - 1;
        long rounded = (bits + (1L << (dropped - 1))) & ~mask;
        if ((rounded & 0x7FF0_0000_0000_0000L) == 0x7FF0_0000_0000_0000L && (bits & 0x7FF0_0000_0000_0000L) != 0x7FF0_0000_0000_0000L) {
            rounded = bits & ~mask; // would round up to infinity: round toward zero instead
        }
        return Double.longBitsToDouble(rounded);
    }

    /** The index of a value already {@link #round rounded} to {@code dropped}. */
    public static long index(double rounded, int dropped) {
        long bits = Double.doubleToRawLongBits(rounded);
        long ordered = bits < 0 ? bits ^ Long.MAX_VALUE : bits;
        return ordered >> dropped;
    }

    /** The value of an {@link #index}. */
    public static double value(long index, int dropped) {
        long ordered = index << dropped;
        if (index < 0) {
            ordered |= (1L << dropped) - 1; // negative values' low bits were ones in the ordered form
        }
        return Double.longBitsToDouble(ordered < 0 ? ordered ^ Long.MAX_VALUE : ordered);
    }

    /** Whether a value is kept exactly as an integer (counters in the exact tier): integral, not -0, |v| <= 2^53. */
    public static boolean isExactInteger(double v) {
        return v == Math.rint(v) && Math.abs(v) <= 0x1p53 && Double.doubleToRawLongBits(v) != Long.MIN_VALUE;
    }
}
