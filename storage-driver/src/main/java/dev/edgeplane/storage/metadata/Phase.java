package dev.edgeplane.storage.metadata;

/**
 * Where a multi-step operation stands. Intent is written before the first side effect, so every
 * loop device, subvolume or mount the driver ever made is named by some record when it crashes.
 */
public enum Phase {
    /** Intent recorded; side effects may be partly done. Restart rolls it back. */
    PENDING,
    /** Done and verified. */
    DONE,
    /** Being removed; restart finishes the removal. */
    DELETING
}
