package dev.edgeplane.cli;

import java.util.Locale;

/** The resource kinds edgectl knows, by any of the names an operator would type. */
enum ResourceKind {
    APP, NODE, POOL, TOKEN, EVENT, VOLUME, VOLUMESNAPSHOT, VOLUMESNAPSHOTPOLICY, STORAGECLASS, QUOTA, CONFIGMAP, SECRET, IMAGEPREFETCH, JOB, CRONJOB, AUTOSCALER;

    static ResourceKind parse(String text) {
        return switch (text.toLowerCase(Locale.ROOT)) {
            case "app", "apps" -> APP;
            case "node", "nodes", "no" -> NODE;
            case "pool", "pools", "nodepool", "nodepools", "np" -> POOL;
            case "token", "tokens", "jointoken", "jointokens" -> TOKEN;
            case "event", "events", "ev" -> EVENT;
            case "volume", "volumes", "vol" -> VOLUME;
            case "volumesnapshot", "volumesnapshots", "snapshot", "snapshots", "vs" -> VOLUMESNAPSHOT;
            case "volumesnapshotpolicy", "volumesnapshotpolicies", "snapshotpolicy", "snapshotpolicies", "vsp" -> VOLUMESNAPSHOTPOLICY;
            case "storageclass", "storageclasses", "sc" -> STORAGECLASS;
            case "quota", "quotas" -> QUOTA;
            case "configmap", "configmaps", "cm" -> CONFIGMAP;
            case "secret", "secrets" -> SECRET;
            case "prefetch", "prefetches", "imageprefetch", "imageprefetches" -> IMAGEPREFETCH;
            case "job", "jobs" -> JOB;
            case "cronjob", "cronjobs", "cj" -> CRONJOB;
            case "autoscaler", "autoscalers", "hpa", "hpas" -> AUTOSCALER;
            default -> throw new UsageException(
                    "unknown resource type '" + text + "' (apps, nodes, pools, tokens, events, volumes, volumesnapshots, volumesnapshotpolicies, storageclasses, quotas, configmaps, secrets, prefetches, jobs, cronjobs, autoscalers)");
        };
    }
}
