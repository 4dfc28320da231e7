package dev.edgeplane.api;

import dev.edgeplane.api.v1.AbortCriteria;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.BatchedRelease;
import dev.edgeplane.api.v1.RolloutStrategy;
import java.time.Duration;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An App's rollout settings with their defaults applied (Kubernetes' for ROLLING: 25% / 25%, a
 * DaemonSet's for EVERY_NODE: 1 / 0; progress deadline 600 s, 10 revisions), shared by the API's
 * validation, the App controller and edgectl so that all three read a strategy the same way.
 */
public final class RolloutStrategies {
    public static final String DEFAULT_MAX_UNAVAILABLE = "25%";
    public static final String DEFAULT_MAX_SURGE = "25%";
    public static final String EVERY_NODE_MAX_UNAVAILABLE = "1";
    public static final String EVERY_NODE_MAX_SURGE = "0";
    public static final int DEFAULT_FIRST_BATCH = 1;
    public static final double DEFAULT_GROWTH = 2.0;
    public static final int DEFAULT_MAX_BATCH_PERCENT = 10;
    public static final int DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;
    public static final int DEFAULT_REVISION_HISTORY = 10;

    private static final Pattern COUNT_OR_PERCENT = Pattern.compile("(\\d{1,9})(%?)");

    private RolloutStrategies() {}

    public static RolloutStrategy.Type type(AppSpec spec) {
        RolloutStrategy.Type type = spec.getStrategy().getType();
        return type == RolloutStrategy.Type.TYPE_UNSPECIFIED || type == RolloutStrategy.Type.UNRECOGNIZED
                ? RolloutStrategy.Type.ROLLING : type;
    }

    private static boolean everyNode(AppSpec spec) {
        return spec.getMode() == AppSpec.Mode.EVERY_NODE;
    }

    /** The max_unavailable as written, or its default. */
    public static String maxUnavailableText(AppSpec spec) {
        String value = spec.getStrategy().getRollingUpdate().getMaxUnavailable();
        return value.isEmpty() ? (everyNode(spec) ? EVERY_NODE_MAX_UNAVAILABLE : DEFAULT_MAX_UNAVAILABLE) : value;
    }

    /** The max_surge as written, or its default. */
    public static String maxSurgeText(AppSpec spec) {
        String value = spec.getStrategy().getRollingUpdate().getMaxSurge();
        return value.isEmpty() ? (everyNode(spec) ? EVERY_NODE_MAX_SURGE : DEFAULT_MAX_SURGE) : value;
    }

    /**
     * Kubernetes' rule: surge rounds up, unavailable rounds down, and when both come to 0 one
     * replica may be unavailable (so a rollout of a small App still moves).
     *
     * @param replicas the desired replicas (EVERY_NODE: the nodes it runs on)
     */
    public static Limits limits(AppSpec spec, int replicas) {
        int surge = everyNode(spec) ? 0 : scaled(maxSurgeText(spec), replicas, true);
        int unavailable = scaled(maxUnavailableText(spec), replicas, false);
        if (surge == 0 && unavailable == 0) {
            unavailable = 1;
        }
        return new Limits(unavailable, surge);
    }

    /** How many replicas may be unavailable and how many may exist above the desired count. */
    public record Limits(int maxUnavailable, int maxSurge) {}

    /** A count or a percentage of {@code total}; an unparsable value (refused by validation) counts as 0. */
    public static int scaled(String value, int total, boolean roundUp) {
        Optional<CountOrPercent> parsed = parse(value);
        if (parsed.isEmpty()) {
            return 0;
        }
        CountOrPercent v = parsed.get();
        if (!v.percent()) {
            return v.value();
        }
        long scaled = (long) v.value() * total;
        return (int) (roundUp ? (scaled + 99) / 100 : scaled / 100);
    }

    /** "3" or "25%"; empty when it is neither. */
    public static Optional<CountOrPercent> parse(String value) {
        Matcher m = COUNT_OR_PERCENT.matcher(value);
        if (!m.matches()) {
            return Optional.empty();
        }
        return Optional.of(new CountOrPercent(Integer.parseInt(m.group(1)), !m.group(2).isEmpty()));
    }

    public record CountOrPercent(int value, boolean percent) {}

    public static int progressDeadlineSeconds(AppSpec spec) {
        return spec.hasProgressDeadlineSeconds() ? spec.getProgressDeadlineSeconds() : DEFAULT_PROGRESS_DEADLINE_SECONDS;
    }

    public static int revisionHistoryLimit(AppSpec spec) {
        return spec.hasRevisionHistoryLimit() ? spec.getRevisionHistoryLimit() : DEFAULT_REVISION_HISTORY;
    }

    public static Optional<AbortCriteria> abortCriteria(AppSpec spec) {
        return spec.getStrategy().hasAbortCriteria() ? Optional.of(spec.getStrategy().getAbortCriteria()) : Optional.empty();
    }

    public static int minCompleted(AbortCriteria criteria) {
        return Math.max(1, criteria.getMinCompleted());
    }

    public static AbortCriteria.Action abortAction(AbortCriteria criteria) {
        return criteria.getAction() == AbortCriteria.Action.PAUSE ? AbortCriteria.Action.PAUSE : AbortCriteria.Action.ROLLBACK;
    }

    /** BATCHED's settings with defaults: how many nodes each batch releases. */
    public record Batches(int first, double growth, int maxPercent, Optional<Duration> pause, boolean manualPause) {
        public static Batches of(AppSpec spec) {
            BatchedRelease b = spec.getStrategy().getBatched();
            Optional<Duration> pause = b.hasPauseBetweenBatches()
                    ? Optional.of(Duration.ofSeconds(b.getPauseBetweenBatches().getSeconds(), b.getPauseBetweenBatches().getNanos()))
                    : Optional.empty();
            return new Batches(b.getFirstBatchSize() > 0 ? b.getFirstBatchSize() : DEFAULT_FIRST_BATCH,
                    b.getGrowthFactor() > 0 ? b.getGrowthFactor() : DEFAULT_GROWTH,
                    b.getMaxBatchPercent() > 0 ? b.getMaxBatchPercent() : DEFAULT_MAX_BATCH_PERCENT, pause, b.getManualPause());
        }

        /** Nodes released by batches 1..{@code batch} together, of {@code nodes}. */
        public int released(int batch, int nodes) {
            int cap = Math.max(1, (int) ((long) maxPercent * nodes / 100));
            long size = first;
            long total = 0;
            for (int k = 1; k <= batch && total < nodes; k++) {
                total += Math.min(size, cap);
                size = Math.min(nodes, (long) Math.ceil(size * growth));
            }
            return (int) Math.min(total, nodes);
        }

        /** How many batches release {@code nodes} nodes. */
        public int count(int nodes) {
            int batches = 0;
            while (released(batches, nodes) < nodes) {
                batches++;
            }
            return Math.max(1, batches);
        }
    }
}
