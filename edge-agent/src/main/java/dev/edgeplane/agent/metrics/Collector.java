package dev.edgeplane.agent.metrics;

/** One source of series (the node, the containers, the agent itself), asked once per sampling pass. */
public interface Collector {
    /** Adds this pass's values; a failure of one collector must not cost the others theirs. */
    void collect(Samples out) throws Exception;

    String name();
}
