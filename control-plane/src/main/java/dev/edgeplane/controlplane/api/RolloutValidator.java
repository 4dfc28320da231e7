package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.RolloutStrategies;
import dev.edgeplane.api.v1.AbortCriteria;
import dev.edgeplane.api.v1.AppSpec;
import dev.edgeplane.api.v1.BatchedRelease;
import dev.edgeplane.api.v1.RolloutStrategy;
import java.util.Optional;

/** AppSpec.strategy and the rollout fields beside it, each error naming its field. */
final class RolloutValidator {
    /** Bounds that keep a rollout's timers and history sane. */
    static final int MAX_REVISION_HISTORY = 100;
    static final int MAX_SECONDS = 7 * 24 * 3600;
    static final double MAX_GROWTH = 100;

    private RolloutValidator() {}

    static void validate(AppSpec spec, Validation v) {
        RolloutStrategy strategy = spec.getStrategy();
        String field = "app.spec.strategy";
        if (strategy.getType() == RolloutStrategy.Type.UNRECOGNIZED) {
            v.add(field + ".type", "unknown strategy type");
        }
        RolloutStrategy.Type type = RolloutStrategies.type(spec);
        if (strategy.getPoolByPool() && spec.getPoolsCount() == 0) {
            v.add(field + ".pool_by_pool", "only for apps with spec.pools");
        }
        if (strategy.hasRollingUpdate() && type != RolloutStrategy.Type.ROLLING) {
            v.add(field + ".rolling_update", "only for type ROLLING (type is " + type + ")");
        }
        if (strategy.hasBatched() && type != RolloutStrategy.Type.BATCHED) {
            v.add(field + ".batched", "only for type BATCHED (type is " + type + ")");
        }
        if (type == RolloutStrategy.Type.ROLLING) {
            Optional<RolloutStrategies.CountOrPercent> unavailable = countOrPercent(v, field + ".rolling_update.max_unavailable",
                    RolloutStrategies.maxUnavailableText(spec));
            Optional<RolloutStrategies.CountOrPercent> surge = countOrPercent(v, field + ".rolling_update.max_surge",
                    RolloutStrategies.maxSurgeText(spec));
            if (unavailable.isPresent() && surge.isPresent() && unavailable.get().value() == 0 && surge.get().value() == 0) {
                v.add(field + ".rolling_update", "max_unavailable and max_surge must not both be 0");
            }
            if (spec.getMode() == AppSpec.Mode.EVERY_NODE && surge.isPresent() && surge.get().value() != 0) {
                v.add(field + ".rolling_update.max_surge", "must be 0 for EVERY_NODE apps (one replica per node)");
            }
        }
        if (strategy.hasBatched()) {
            BatchedRelease b = strategy.getBatched();
            String f = field + ".batched";
            if (b.getFirstBatchSize() < 0) {
                v.add(f + ".first_batch_size", "must be 1 or more, or 0 for the default 1 (got " + b.getFirstBatchSize() + ")");
            }
            if (b.getGrowthFactor() < 0 || Double.isNaN(b.getGrowthFactor()) || (b.getGrowthFactor() > 0 && b.getGrowthFactor() < 1)
                    || b.getGrowthFactor() > MAX_GROWTH) {
                v.add(f + ".growth_factor", "must be between 1 and " + (int) MAX_GROWTH + ", or 0 for the default 2 (got "
                        + b.getGrowthFactor() + ")");
            }
            if (b.getMaxBatchPercent() < 0 || b.getMaxBatchPercent() > 100) {
                v.add(f + ".max_batch_percent", "must be 1-100, or 0 for the default 10 (got " + b.getMaxBatchPercent() + ")");
            }
            if (b.hasPauseBetweenBatches() && (b.getPauseBetweenBatches().getSeconds() < 0 || b.getPauseBetweenBatches().getNanos() < 0
                    || b.getPauseBetweenBatches().getSeconds() > MAX_SECONDS)) {
                v.add(f + ".pause_between_batches", "must be between 0 and " + MAX_SECONDS + " s");
            }
        }
        if (strategy.hasAbortCriteria()) {
            AbortCriteria c = strategy.getAbortCriteria();
            String f = field + ".abort_criteria";
            if (type == RolloutStrategy.Type.RECREATE) {
                v.add(f, "only for types ROLLING and BATCHED");
            }
            if (c.getFailureThresholdPercent() < 1 || c.getFailureThresholdPercent() > 100) {
                v.add(f + ".failure_threshold_percent", "must be 1-100 (got " + c.getFailureThresholdPercent() + ")");
            }
            if (c.getMinCompleted() < 0) {
                v.add(f + ".min_completed", "must not be negative (got " + c.getMinCompleted() + ")");
            }
            if (c.getAction() == AbortCriteria.Action.UNRECOGNIZED) {
                v.add(f + ".action", "unknown action");
            }
        }
        if (spec.getMinReadySeconds() < 0 || spec.getMinReadySeconds() > MAX_SECONDS) {
            v.add("app.spec.min_ready_seconds", "must be between 0 and " + MAX_SECONDS + " (got " + spec.getMinReadySeconds() + ")");
        }
        if (spec.hasProgressDeadlineSeconds() && (spec.getProgressDeadlineSeconds() < 1 || spec.getProgressDeadlineSeconds() > MAX_SECONDS)) {
            v.add("app.spec.progress_deadline_seconds", "must be between 1 and " + MAX_SECONDS + " (got "
                    + spec.getProgressDeadlineSeconds() + ")");
        } else if (spec.hasProgressDeadlineSeconds() && spec.getProgressDeadlineSeconds() <= spec.getMinReadySeconds()) {
            v.add("app.spec.progress_deadline_seconds", "must be greater than min_ready_seconds (" + spec.getMinReadySeconds() + ")");
        }
        if (spec.hasRevisionHistoryLimit() && (spec.getRevisionHistoryLimit() < 0 || spec.getRevisionHistoryLimit() > MAX_REVISION_HISTORY)) {
            v.add("app.spec.revision_history_limit", "must be between 0 and " + MAX_REVISION_HISTORY + " (got "
                    + spec.getRevisionHistoryLimit() + ")");
        }
    }

    /** "3" or "0%".."100%" (Kubernetes' IntOrString). */
    private static Optional<RolloutStrategies.CountOrPercent> countOrPercent(Validation v, String field, String value) {
        Optional<RolloutStrategies.CountOrPercent> parsed = RolloutStrategies.parse(value);
        if (parsed.isEmpty()) {
            v.add(field, "must be a count (\"2\") or a percentage (\"25%\"), got \"" + value + "\"");
        } else if (parsed.get().percent() && parsed.get().value() > 100) {
            v.add(field, "a percentage must be 0-100%, got \"" + value + "\"");
        }
        return parsed;
    }
}
