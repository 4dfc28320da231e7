package dev.edgeplane.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.Container;
import dev.edgeplane.api.v1.PodTemplate;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TemplateHashesTest {
    private static PodTemplate template(Map<String, String> labels) {
        return PodTemplate.newBuilder().putAllLabels(labels)
                .addContainers(Container.newBuilder().setName("main").setImage("web:1")).build();
    }

    @Test
    void theSameTemplateBuiltWithMapEntriesInAnotherOrderHasTheSameHash() throws Exception {
        Map<String, String> forward = new LinkedHashMap<>();
        forward.put("a", "1");
        forward.put("m", "2");
        forward.put("z", "3");
        Map<String, String> backward = new LinkedHashMap<>();
        backward.put("z", "3");
        backward.put("m", "2");
        backward.put("a", "1");
        PodTemplate one = template(forward);
        PodTemplate other = template(backward);
        assertEquals(TemplateHashes.of(one), TemplateHashes.of(other));
        // As a receiver has it: parsed from whatever order the sender wrote.
        assertEquals(TemplateHashes.of(one), TemplateHashes.of(PodTemplate.parseFrom(other.toByteArray())));
    }

    @Test
    void anyDifferenceChangesTheHashAndHashesAreWellFormed() {
        String hash = TemplateHashes.of(template(Map.of("a", "1")));
        assertNotEquals(hash, TemplateHashes.of(template(Map.of("a", "2"))));
        assertTrue(TemplateHashes.isWellFormed(hash), hash);
        assertTrue(hash.startsWith("sha256:") && hash.length() == 71, hash);
        assertFalse(TemplateHashes.isWellFormed("sha256:" + "A".repeat(64)), "upper case is not what we produce");
        assertFalse(TemplateHashes.isWellFormed(hash.substring(0, 70)));
        assertFalse(TemplateHashes.isWellFormed("md5:" + hash.substring(7)));
    }
}
