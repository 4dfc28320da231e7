package dev.edgeplane.storage.mount;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The kernel's view of what is mounted where: the truth that metadata is reconciled against. */
public final class MountTable {
    private final Path mountInfo;

    public MountTable() {
        this(Path.of("/proc/self/mountinfo"));
    }

    public MountTable(Path mountInfo) {
        this.mountInfo = mountInfo;
    }

    public List<MountEntry> entries() {
        try {
            return parse(Files.readAllLines(mountInfo));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + mountInfo, e);
        }
    }

    /** Every mount stacked on this exact path, bottom first. */
    public List<MountEntry> at(Path mountPoint) {
        Path wanted = mountPoint.toAbsolutePath().normalize();
        List<MountEntry> result = new ArrayList<>();
        for (MountEntry e : entries()) {
            if (e.mountPoint().equals(wanted)) {
                result.add(e);
            }
        }
        return result;
    }

    /** Every mount whose source is this device (e.g. /dev/loop3), wherever it is. */
    public List<MountEntry> ofSource(String source) {
        List<MountEntry> result = new ArrayList<>();
        for (MountEntry e : entries()) {
            if (e.source().equals(source)) {
                result.add(e);
            }
        }
        return result;
    }

    static List<MountEntry> parse(List<String> lines) {
        List<MountEntry> result = new ArrayList<>();
        for (String line : lines) {
            // id parent major:minor root mount-point options [optional fields...] - fstype source super-options
            String[] f = line.split(" ");
            int dash = -1;
            for (int i = 6; i < f.length; i++) {
                if (f[i].equals("-")) {
                    dash = i;
                    break;
                }
            }
            if (f.length < 7 || dash < 0 || dash + 2 >= f.length) {
                continue;
            }
            result.add(new MountEntry(Integer.parseInt(f[0]), Integer.parseInt(f[1]), f[2], unescape(f[3]),
                    Path.of(unescape(f[4])), f[5], f[dash + 1], unescape(f[dash + 2])));
        }
        return result;
    }

    /** mountinfo writes space, tab, newline and backslash as \ooo octal escapes. */
    static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && isOctal(s, i + 1)) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    private static boolean isOctal(String s, int from) {
        if (from + 3 > s.length()) {
            return false;
        }
        for (int i = from; i < from + 3; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '7') {
                return false;
            }
        }
        return true;
    }
}
