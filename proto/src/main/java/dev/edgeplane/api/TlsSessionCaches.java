package dev.edgeplane.api;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSessionContext;

/** What a TLS client remembers to resume its sessions with. */
public final class TlsSessionCaches {
    private TlsSessionCaches() {}

    /**
     * Forgets every session {@code cache} holds, so the next handshake is a full one. A client whose
     * certificate was renewed calls it: a resumed session would present the old certificate again
     * (the server takes the client's certificate from the session), one its server may refuse by now.
     *
     * @return how many sessions were forgotten
     */
    public static int forget(SSLSessionContext cache) {
        // Copied first: invalidating removes from the cache being enumerated.
        List<byte[]> ids = new ArrayList<>(Collections.list(cache.getIds()));
        int forgotten = 0;
        for (byte[] id : ids) {
            SSLSession session = cache.getSession(id);
            if (session != null) {
                session.invalidate();
                forgotten++;
            }
        }
        return forgotten;
    }
}
