package dev.edgeplane.api;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.PoolReplicas;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * How an App's replicas divide into groups, each sized and named on its own: the whole App
 * ("&lt;app&gt;-&lt;ordinal&gt;") or, with AppSpec.pools, one group per pool ("&lt;app&gt;-&lt;pool&gt;-&lt;ordinal&gt;",
 * placed on that pool's nodes only). Shared by the API (quotas, status), the App controller and
 * edgectl so that all read a replica's pool and the desired counts the same way.
 */
public final class AppPools {
    /** The label a NodePool puts on its members (control plane: Joiner.POOL_LABEL). */
    public static final String POOL_LABEL = "edgeplane.dev/pool";

    private AppPools() {}

    /**
     * One group of an App's replicas.
     *
     * @param pool    the pool its replicas go to; empty for an App without pools
     * @param prefix  its replica names are prefix + "-" + ordinal
     * @param desired how many replicas it is to have
     */
    public record Group(String pool, String prefix, int desired) {
        /** The name's ordinal when the replica is one of this group's, else -1. */
        public long ordinalOf(String replica) {
            if (replica.length() <= prefix.length() + 1 || !replica.startsWith(prefix) || replica.charAt(prefix.length()) != '-') {
                return -1;
            }
            String rest = replica.substring(prefix.length() + 1);
            if (rest.length() > 18 || !rest.chars().allMatch(c -> c >= '0' && c <= '9')) {
                return -1;
            }
            return Long.parseLong(rest);
        }

        public boolean owns(String replica) {
            return ordinalOf(replica) >= 0;
        }

        public String name(long ordinal) {
            return prefix + "-" + ordinal;
        }
    }

    public static boolean has(AppSpec spec) {
        return spec.getPoolsCount() > 0;
    }

    /** A pool's desired replicas: its own count, else the App's (per pool by default). */
    public static int replicas(AppSpec spec, PoolReplicas pool) {
        return Math.max(0, pool.hasReplicas() ? pool.getReplicas() : spec.getReplicas());
    }

    /** REPLICATED: the replicas the App is to have in all (the sum over its pools when it has some). */
    public static long desiredReplicas(AppSpec spec) {
        if (!has(spec)) {
            return Math.max(0, spec.getReplicas());
        }
        long sum = 0;
        for (PoolReplicas pool : spec.getPoolsList()) {
            sum += replicas(spec, pool);
        }
        return sum;
    }

    /** The App's groups in the order of AppSpec.pools (one group without pools). */
    public static List<Group> groups(App app) {
        String name = app.getMetadata().getName();
        AppSpec spec = app.getSpec();
        if (!has(spec)) {
            return List.of(new Group("", name, Math.max(0, spec.getReplicas())));
        }
        List<Group> groups = new ArrayList<>(spec.getPoolsCount());
        for (PoolReplicas pool : spec.getPoolsList()) {
            groups.add(new Group(pool.getName(), name + "-" + pool.getName(), replicas(spec, pool)));
        }
        return groups;
    }

    /** The group a replica name belongs to; empty for a name that none owns (e.g. from before the pools changed). */
    public static Optional<Group> groupOf(List<Group> groups, String replica) {
        for (Group g : groups) {
            if (g.owns(replica)) {
                return Optional.of(g);
            }
        }
        return Optional.empty();
    }
}
