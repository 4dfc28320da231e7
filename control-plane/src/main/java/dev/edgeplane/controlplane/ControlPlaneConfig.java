package dev.edgeplane.controlplane;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;
import java.util.List;

/** Everything under {@code edgeplane.*}; each is also settable by env (EDGEPLANE_ETCD_ENDPOINTS, ...). */
@ConfigMapping(prefix = "edgeplane")
public interface ControlPlaneConfig {
    Etcd etcd();

    /** Where the admin token is written once, at first start (mode 0600). */
    @WithDefault("/var/lib/edgeplane/admin-token")
    String adminTokenFile();

    Agent agent();

    Node node();

    Event event();

    interface Etcd {
        @WithDefault("http://127.0.0.1:2379")
        List<String> endpoints();
    }

    interface Agent {
        @WithDefault("7443")
        int port();

        @WithDefault("0.0.0.0")
        String host();

        /** host:port agents dial; its host goes into the server certificate's SANs. */
        @WithDefault("127.0.0.1:7443")
        String advertise();

        /** New Sync streams admitted per second; over it agents get RESOURCE_EXHAUSTED with a retry delay. 0: no limit. */
        @WithDefault("200")
        int maxSyncOpensPerSecond();

        /** How often the nodes' resume cursors are written to etcd (one write for all, only if changed); 0: never. */
        @WithDefault("30s")
        Duration cursorCheckpointInterval();
    }

    interface Node {
        /** A node whose Sync stream has been gone this long becomes UNREACHABLE. */
        @WithDefault("40s")
        Duration unreachableAfter();

        /** The Node status is rewritten at most this often while only heartbeats change. */
        @WithDefault("30s")
        Duration statusWriteInterval();
    }

    interface Event {
        /** How long an event is kept after its last occurrence (etcd lease; EDGEPLANE_EVENT_TTL). */
        @WithDefault("1h")
        Duration ttl();

        /** Repeats of one event are coalesced in memory this long before one etcd write. */
        @WithDefault("1s")
        Duration writeInterval();

        /** At most this many event records are written per interval; the rest wait, still coalescing. */
        @WithDefault("200")
        int maxWritesPerInterval();
    }
}
