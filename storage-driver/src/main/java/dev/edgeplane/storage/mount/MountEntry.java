package dev.edgeplane.storage.mount;

import java.nio.file.Path;

/** One line of /proc/self/mountinfo. {@code root} is the path inside the source filesystem. */
public record MountEntry(int id, int parentId, String device, String root, Path mountPoint,
                         String options, String fsType, String source) {

    public boolean readOnly() {
        for (String o : options.split(",")) {
            if (o.equals("ro")) {
                return true;
            }
        }
        return false;
    }
}
