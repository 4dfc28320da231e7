package dev.edgeplane.storage.host;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;

/** The effective Linux capabilities of this process (CapEff in /proc/self/status). */
public final class Capabilities {
    public static final int CAP_SYS_RESOURCE = 24;

    private Capabilities() {
    }

    public static BitSetView effective() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("CapEff:")) {
                    long bits = Long.parseUnsignedLong(line.substring("CapEff:".length()).strip(), 16);
                    return new BitSetView(BitSet.valueOf(new long[]{bits}));
                }
            }
        } catch (IOException | NumberFormatException e) {
            // fall through: assume nothing
        }
        return new BitSetView(new BitSet());
    }

    /** A read-only capability set. */
    public record BitSetView(BitSet bits) {
        public boolean contains(int capability) {
            return bits.get(capability);
        }
    }
}
