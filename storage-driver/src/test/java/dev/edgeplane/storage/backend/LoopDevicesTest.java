package dev.edgeplane.storage.backend;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class LoopDevicesTest {
    @Test
    void unescapesLosetupRawOutput() {
        assertEquals("/tmp/sp ace.img", LoopDevices.unescapeRaw("/tmp/sp\\x20ace.img"));
        assertEquals("/plain/file.img", LoopDevices.unescapeRaw("/plain/file.img"));
        assertEquals("/odd\\xZZ", LoopDevices.unescapeRaw("/odd\\xZZ"));
    }
}
