package dev.edgeplane.storage.mount;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MountTableTest {
    @Test
    void parsesMountinfoWithOptionalFieldsAndEscapes() {
        List<MountEntry> entries = MountTable.parse(List.of(
                "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
                "42 27 0:39 /pool/volumes/x /tmp/t ro,relatime - btrfs /dev/loop0 rw,subvolid=258",
                "garbage"));
        assertEquals(2, entries.size());
        assertEquals(Path.of("/mnt/with space"), entries.get(0).mountPoint());
        assertEquals("ext3", entries.get(0).fsType());
        assertEquals("/dev/root", entries.get(0).source());
        assertEquals("/pool/volumes/x", entries.get(1).root());
        assertTrue(entries.get(1).readOnly());
    }
}
