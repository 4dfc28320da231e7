package dev.edgeplane.controlplane.tunnel;

import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.SyncResponse;
import dev.edgeplane.controlplane.join.ClusterCa;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import dev.edgeplane.controlplane.sync.AssignmentIndex;
import dev.edgeplane.controlplane.sync.SyncSession;
import dev.edgeplane.tunnel.audit.AuditLog;
import dev.edgeplane.tunnel.grant.GrantSigner;
import dev.edgeplane.tunnel.hub.HubSettings;
import dev.edgeplane.tunnel.hub.TunnelHub;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * The control plane's end of the ops tunnel: the hub (grants signed with the cluster CA key that
 * agents pinned at join), OpenTunnel delivered on the node's Sync stream, and replicas found in
 * the assignments cache. A node whose Sync stream is not on this replica is "not connected".
 */
@ApplicationScoped
public class OpsTunnel {
    private static final Logger LOG = Logger.getLogger(OpsTunnel.class);

    private final ClusterCa ca;
    private final AssignmentIndex index;
    private final StateCaches caches;
    private final HubSettings settings;
    private final Optional<Path> auditFile;
    private volatile TunnelHub hub;

    public OpsTunnel(ClusterCa ca, AssignmentIndex index, StateCaches caches,
                     @ConfigProperty(name = "edgeplane.tunnel.dial-timeout", defaultValue = "10s") Duration dialTimeout,
                     @ConfigProperty(name = "edgeplane.tunnel.idle-timeout", defaultValue = "30m") Duration idleTimeout,
                     @ConfigProperty(name = "edgeplane.tunnel.max-sessions-per-node", defaultValue = "64") int maxPerNode,
                     @ConfigProperty(name = "edgeplane.tunnel.grant-lifetime", defaultValue = "60s") Duration grantLifetime,
                     @ConfigProperty(name = "edgeplane.tunnel.audit-log") Optional<Path> auditFile) {
        this.ca = ca;
        this.index = index;
        this.caches = caches;
        this.settings = new HubSettings(dialTimeout, idleTimeout, maxPerNode, grantLifetime);
        this.auditFile = auditFile;
    }

    /** The hub, made on first use (the CA is loaded by then). */
    public TunnelHub hub() {
        TunnelHub current = hub;
        if (current == null) {
            synchronized (this) {
                if (hub == null) {
                    hub = new TunnelHub(this::deliver, new GrantSigner(new GrantSigningKey(ca, Clock.systemUTC())::current, settings.grantLifetime(), Clock.systemUTC()),
                            settings, new AuditLog(auditFile), Clock.systemUTC());
                    LOG.infof("ops tunnel hub ready: %s", settings);
                }
                current = hub;
            }
        }
        return current;
    }

    private boolean deliver(String node, dev.edgeplane.api.v1.OpenTunnel open) {
        List<SyncSession> sessions = index.sessionsOf(node);
        if (sessions.isEmpty()) {
            return false;
        }
        // The newest stream is the live one when an agent reconnects before the old stream is reaped.
        // A small control message: it goes before any data waiting on the stream (false: the agent reads nothing).
        return sessions.get(sessions.size() - 1).sendControl(SyncResponse.newBuilder().setOpenTunnel(open).build());
    }

    /** The node a replica is assigned to, from the assignments cache. */
    public Optional<String> nodeOf(String namespace, String replica) {
        String suffix = "/" + namespace + "/" + replica;
        for (Entry<Assignment> entry : caches.assignments().all()) {
            if (entry.key().endsWith(suffix)) {
                String rest = Keys.suffix(entry.key(), Keys.ASSIGNMENTS);
                int slash = rest.indexOf('/');
                if (slash > 0 && rest.substring(slash).equals(suffix)) {
                    return Optional.of(rest.substring(0, slash));
                }
            }
        }
        return Optional.empty();
    }

    void stop(@Observes ShutdownEvent event) {
        TunnelHub current = hub;
        if (current != null) {
            current.close();
        }
    }
}
