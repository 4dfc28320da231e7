package dev.edgeplane.cli;

import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.AppPoolStatus;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The rows of `edgectl get apps`: NAMESPACE NAME MODE DESIRED READY AVAILABLE AGE, and with -o wide
 * UPDATED (replicas on the current template) before AVAILABLE, and POOLS when an App listed has pools
 * ("site-a 3/3, site-b 1/2": ready of desired per pool).
 */
final class AppRows {
    private AppRows() {}

    static List<String> header(boolean wide, List<App> apps) {
        if (!wide) {
            return List.of("NAMESPACE", "NAME", "MODE", "DESIRED", "READY", "AVAILABLE", "AGE");
        }
        List<String> header = new ArrayList<>(List.of("NAMESPACE", "NAME", "MODE", "DESIRED", "READY", "UPDATED", "AVAILABLE"));
        if (anyPools(apps)) {
            header.add("POOLS");
        }
        header.add("AGE");
        return header;
    }

    static List<String> row(App a, boolean wide, List<App> apps, Instant now) {
        var s = a.getStatus();
        String mode = a.getSpec().getMode().name().replace("MODE_UNSPECIFIED", "REPLICATED");
        String age = Durations.age(a.getMetadata().getCreateTime(), now);
        if (!wide) {
            return List.of(a.getMetadata().getNamespace(), a.getMetadata().getName(), mode, str(s.getDesiredReplicas()),
                    str(s.getReadyReplicas()), str(s.getAvailableReplicas()), age);
        }
        List<String> row = new ArrayList<>(List.of(a.getMetadata().getNamespace(), a.getMetadata().getName(), mode,
                str(s.getDesiredReplicas()), str(s.getReadyReplicas()), str(s.getUpdatedReplicas()), str(s.getAvailableReplicas())));
        if (anyPools(apps)) {
            row.add(pools(a));
        }
        row.add(age);
        return row;
    }

    /** "site-a 3/3, site-b 1/2" (ready/desired per pool), or "" for an App without pools. */
    static String pools(App a) {
        List<String> parts = new ArrayList<>();
        if (a.getStatus().getPoolsCount() > 0) {
            for (AppPoolStatus p : a.getStatus().getPoolsList()) {
                parts.add(p.getName() + " " + p.getReadyReplicas() + "/" + p.getDesiredReplicas());
            }
        } else {
            a.getSpec().getPoolsList().forEach(p -> parts.add(p.getName()));
        }
        return String.join(", ", parts);
    }

    private static boolean anyPools(List<App> apps) {
        return apps.stream().anyMatch(a -> a.getSpec().getPoolsCount() > 0);
    }

    private static String str(int n) {
        return Integer.toString(n);
    }
}
