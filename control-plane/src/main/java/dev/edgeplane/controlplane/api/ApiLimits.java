package dev.edgeplane.controlplane.api;

import dev.edgeplane.controlplane.ControlPlaneConfig;

/**
 * The admission limits of the public API as plain values (from {@code edgeplane.limits.*}), so
 * validators stay pure functions that tests can call with any limits.
 */
public record ApiLimits(int maxReplicas, int maxTemplateBytes, int maxContainers, int maxListItems, int maxStringBytes,
                        int maxLabels, int maxAnnotationsBytes, int defaultPageSize, int maxPageSize,
                        int maxLabelSelectorBytes) {
    /** The documented defaults (ControlPlaneConfig.Limits). */
    public static final ApiLimits DEFAULTS = new ApiLimits(10_000, 256 * 1024, 32, 256, 16 * 1024, 64, 64 * 1024, 100, 1000, 4096);

    public static ApiLimits of(ControlPlaneConfig.Limits config) {
        return new ApiLimits(config.maxReplicas(), config.maxTemplateBytes(), config.maxContainers(), config.maxListItems(),
                config.maxStringBytes(), config.maxLabels(), config.maxAnnotationsBytes(), config.defaultPageSize(),
                Math.max(config.maxPageSize(), 1), config.maxLabelSelectorBytes());
    }

    /** The page size to serve: the default for 0, at most the maximum; negative is INVALID_ARGUMENT. */
    public int pageSize(int requested) {
        if (requested < 0) {
            throw Validation.invalid("page_size", "must not be negative");
        }
        return requested == 0 ? Math.min(defaultPageSize, maxPageSize) : Math.min(requested, maxPageSize);
    }

    /** Parses a label selector no longer than the limit. */
    public LabelSelector labelSelector(String field, String text) {
        if (text != null && text.length() > maxLabelSelectorBytes) {
            throw Validation.invalid(field, "is " + text.length() + " characters, over the limit of " + maxLabelSelectorBytes
                    + " (edgeplane.limits.max-label-selector-bytes)");
        }
        return LabelSelector.parse(field, text);
    }
}
