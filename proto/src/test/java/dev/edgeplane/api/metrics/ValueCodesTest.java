package dev.edgeplane.api.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.ValueCoding;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The wire's value codings: what decodes comes back bit for bit, or is refused, never silently changed. */
class ValueCodesTest {

    @Test
    void decimalCodesComeBackBitForBit() {
        Random r = new Random(7);
        for (int i = 0; i < 200_000; i++) {
            double v = switch (i % 4) {
                case 0 -> (double) (r.nextLong() >> r.nextInt(64)); // byte counters of any size
                case 1 -> r.nextInt(100_000) / 100.0; // load averages, /proc/uptime
                case 2 -> r.nextLong(1L << 40) / 1e3; // seconds at millisecond resolution
                default -> Double.longBitsToDouble(r.nextLong()); // anything at all
            };
            int decimals = ValueCodes.decimalsFor(v, 0, ValueCodes.MAX_DECIMALS);
            if (decimals >= 0) {
                long code = ValueCodes.decimalCode(v, decimals);
                assertEquals(Double.doubleToRawLongBits(v), Double.doubleToRawLongBits(ValueCodes.decimalValue(code, decimals)), "value " + v);
            } else {
                assertTrue(i % 4 == 3 || i % 4 == 0, "a value made with few decimals is exact with few decimals: " + v);
            }
        }
        assertEquals(0, ValueCodes.decimalsFor(1e9, 0, 9));
        assertEquals(2, ValueCodes.decimalsFor(0.07, 0, 9));
        assertEquals(3, ValueCodes.decimalsFor(12_345.678, 0, 9));
        assertEquals(3, ValueCodes.decimalsFor(12_345.678, 3, 9), "from a floor up");
        assertEquals(-1, ValueCodes.decimalsFor(12_345.678, 0, 2));
    }

    @Test
    void valuesADecimalCannotSayAreRefused() {
        for (double v : new double[] {-0.0, Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 0x1p54, Math.PI, 1e300}) {
            assertEquals(-1, ValueCodes.decimalsFor(v, 0, ValueCodes.MAX_DECIMALS), "" + v);
        }
        assertEquals(ValueCodes.NOT_EXACT, ValueCodes.decimalCode(0.125, 2));
        assertEquals(125, ValueCodes.decimalCode(0.125, 3));
    }

    @Test
    void roundedCodesAreTheStoresRounding() {
        Random r = new Random(11);
        for (int bits : new int[] {2, 12, 24, 52}) {
            int dropped = ValuePrecision.dropped(bits);
            for (int i = 0; i < 50_000; i++) {
                double v = i % 2 == 0 ? r.nextGaussian() * Math.pow(10, r.nextInt(30) - 15) : Double.longBitsToDouble(r.nextLong());
                double expected = ValuePrecision.round(v, dropped);
                double decoded = ValueCodes.value(ValueCodes.rounded(bits), ValueCodes.code(ValueCodes.rounded(bits), v));
                assertEquals(Double.doubleToRawLongBits(expected), Double.doubleToRawLongBits(decoded), v + " at " + bits + " bits");
            }
        }
        // Neighbouring values at the precision have neighbouring codes (2^22 moves in steps of 2^11 at 12 bits).
        assertEquals(1, ValueCodes.roundedCode(0x1p22 + 0x1p11, 12) - ValueCodes.roundedCode(0x1p22, 12));
        assertEquals(0, ValueCodes.roundedCode(0x1p22 + 1000, 12) - ValueCodes.roundedCode(0x1p22, 12));
    }

    @Test
    void codingsOutOfRangeAreNamed() {
        assertNull(ValueCodes.problem(ValueCodes.decimals(0)));
        assertNull(ValueCodes.problem(ValueCodes.decimals(9)));
        assertNull(ValueCodes.problem(ValueCodes.rounded(12)));
        assertTrue(ValueCodes.problem(ValueCodes.decimals(10)).startsWith("decimals:"));
        assertTrue(ValueCodes.problem(ValueCodes.rounded(1)).startsWith("precision_bits:"));
        assertTrue(ValueCodes.problem(ValueCodes.rounded(53)).startsWith("precision_bits:"));
        assertNotNull(ValueCodes.problem(ValueCoding.getDefaultInstance()));
    }
}
