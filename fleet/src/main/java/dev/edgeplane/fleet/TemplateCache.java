package dev.edgeplane.fleet;

import dev.edgeplane.api.TemplateHashes;
import dev.edgeplane.api.v1.PodTemplate;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Pod templates by content hash, verified before they are kept. One per simulator JVM, shared by its
 * agents to keep them small; each agent still tracks which hashes it was sent (what its Hello lists).
 */
final class TemplateCache {
    private final ConcurrentHashMap<String, PodTemplate> byHash = new ConcurrentHashMap<>();

    /** False when the template does not hash to {@code hash} (nothing is kept then). */
    boolean verifyAndPut(String hash, PodTemplate template) {
        PodTemplate known = byHash.get(hash);
        if (known != null && known.equals(template)) {
            return true;
        }
        if (!TemplateHashes.of(template).equals(hash)) {
            return false;
        }
        byHash.putIfAbsent(hash, template);
        return true;
    }

    PodTemplate get(String hash) {
        return byHash.get(hash);
    }

    int size() {
        return byHash.size();
    }
}
