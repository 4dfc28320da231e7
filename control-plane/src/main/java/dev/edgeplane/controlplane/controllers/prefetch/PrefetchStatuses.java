package dev.edgeplane.controlplane.controllers.prefetch;

import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.ImagePrefetch;
import dev.edgeplane.api.v1.ImagePrefetchStatus;
import dev.edgeplane.api.v1.ImagePullReport;
import dev.edgeplane.api.v1.NodeImagePrefetchStatus;
import dev.edgeplane.controlplane.join.Joiner;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The status arithmetic of an ImagePrefetch, pure: the initial status of a resolved target set, the
 * nodes' reports folded in, and {@link #settle} (counts, phase, the deadline, the summary). Both the
 * controller (deadline, phase) and {@link PrefetchReports} (node progress) write through it, so they
 * agree on what a status means whichever writes last.
 */
public final class PrefetchStatuses {
    public static final long DEFAULT_DEADLINE_SECONDS = 600;
    /** Per-node messages kept (clipped): a status stays far below etcd's value limit at 10,000 nodes. */
    static final int MAX_NODE_MESSAGES = 100;
    static final int MAX_MESSAGE_CHARS = 256;

    private PrefetchStatuses() {}

    public static Duration deadline(ImagePrefetch prefetch) {
        long seconds = prefetch.getSpec().getDeadlineSeconds();
        return Duration.ofSeconds(seconds <= 0 ? DEFAULT_DEADLINE_SECONDS : seconds);
    }

    /** A new prefetch's status: every target node PENDING (the resolved set, in name order). */
    public static ImagePrefetchStatus initial(Collection<String> targets, Instant now) {
        ImagePrefetchStatus.Builder status = ImagePrefetchStatus.newBuilder()
                .setPhase(ImagePrefetchStatus.Phase.PENDING)
                .setStartTime(Joiner.timestamp(now));
        targets.stream().sorted().distinct().forEach(node -> status.addNodes(NodeImagePrefetchStatus.newBuilder()
                .setNode(node).setPhase(NodeImagePrefetchStatus.Phase.PENDING)));
        return status.setNodesTotal(status.getNodesCount()).build();
    }

    public static boolean terminal(ImagePrefetchStatus status) {
        return status.getPhase() == ImagePrefetchStatus.Phase.COMPLETE || status.getPhase() == ImagePrefetchStatus.Phase.FAILED;
    }

    private static boolean finished(NodeImagePrefetchStatus node) {
        return node.getPhase() == NodeImagePrefetchStatus.Phase.DONE || node.getPhase() == NodeImagePrefetchStatus.Phase.FAILED;
    }

    /**
     * The nodes' reports (node -> its latest report) applied to the prefetch's status: only target
     * nodes, only reports about this prefetch's uid, nothing after it is COMPLETE or FAILED, and a
     * node's DONE is not undone by a PULLING report (its entry changed, e.g. a pull Secret's new
     * version, and the node checks again: its images are there). A node's FAILED before the deadline
     * is its own report: a newer one (after the entry changed) replaces it.
     */
    public static ImagePrefetchStatus withReports(ImagePrefetch prefetch, Map<String, ImagePullReport> reports, Instant now) {
        ImagePrefetchStatus status = prefetch.getStatus();
        if (terminal(status)) {
            return status;
        }
        String uid = prefetch.getMetadata().getUid();
        ImagePrefetchStatus.Builder next = status.toBuilder();
        Timestamp stamp = Joiner.timestamp(now);
        for (int i = 0; i < next.getNodesCount(); i++) {
            NodeImagePrefetchStatus node = next.getNodes(i);
            ImagePullReport report = reports.get(node.getNode());
            if (report == null || !report.getUid().equals(uid)) {
                continue;
            }
            NodeImagePrefetchStatus.Phase phase = switch (report.getState()) {
                case DONE -> NodeImagePrefetchStatus.Phase.DONE;
                case FAILED -> NodeImagePrefetchStatus.Phase.FAILED;
                default -> NodeImagePrefetchStatus.Phase.PULLING;
            };
            if (node.getPhase() == NodeImagePrefetchStatus.Phase.DONE && phase == NodeImagePrefetchStatus.Phase.PULLING) {
                continue;
            }
            NodeImagePrefetchStatus updated = node.toBuilder().setPhase(phase).setImagesDone(report.getImagesDone())
                    .setMessage(clip(report.getMessage())).build();
            if (!updated.toBuilder().clearUpdateTime().build().equals(node.toBuilder().clearUpdateTime().build())) {
                next.setNodes(i, updated.toBuilder().setUpdateTime(stamp));
            }
        }
        return next.build();
    }

    /**
     * Counts, phase and summary of {@code status}; past the deadline every unfinished node is FAILED
     * (an unreachable node is pending until then). {@code told}: the nodes' tasks are written.
     */
    public static ImagePrefetchStatus settle(ImagePrefetchStatus status, boolean told, Duration deadline, Instant now) {
        if (terminal(status)) {
            return status;
        }
        ImagePrefetchStatus.Builder next = status.toBuilder();
        Instant start = status.hasStartTime() ? Joiner.toInstant(status.getStartTime()) : now;
        boolean late = !now.isBefore(start.plus(deadline));
        int done = 0;
        int failed = 0;
        int withMessage = 0;
        int messagesDropped = 0;
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < next.getNodesCount(); i++) {
            NodeImagePrefetchStatus node = next.getNodes(i);
            if (late && !finished(node)) {
                String why = node.getPhase() == NodeImagePrefetchStatus.Phase.PENDING
                        ? "not heard from within the deadline (" + deadline.toSeconds() + "s): unreachable or slow"
                        : "still pulling at the deadline (" + deadline.toSeconds() + "s)"
                                + (node.getMessage().isEmpty() ? "" : ": " + node.getMessage());
                node = node.toBuilder().setPhase(NodeImagePrefetchStatus.Phase.FAILED).setMessage(clip(why))
                        .setUpdateTime(Joiner.timestamp(now)).build();
            }
            if (!node.getMessage().isEmpty()) {
                if (withMessage < MAX_NODE_MESSAGES) {
                    withMessage++;
                } else {
                    node = node.toBuilder().clearMessage().build();
                    messagesDropped++;
                }
            }
            next.setNodes(i, node);
            if (node.getPhase() == NodeImagePrefetchStatus.Phase.DONE) {
                done++;
            } else if (node.getPhase() == NodeImagePrefetchStatus.Phase.FAILED) {
                failed++;
                if (failures.size() < 3) { // the first with its message, two more by name
                    failures.add(failures.isEmpty() && !node.getMessage().isEmpty() ? node.getNode() + ": " + clip(node.getMessage(), 120)
                            : node.getNode());
                }
            }
        }
        int total = next.getNodesCount();
        next.setNodesTotal(total).setNodesDone(done).setNodesFailed(failed);
        boolean allFinished = done + failed == total;
        ImagePrefetchStatus.Phase phase = allFinished ? (failed == 0 ? ImagePrefetchStatus.Phase.COMPLETE : ImagePrefetchStatus.Phase.FAILED)
                : told || status.getPhase() == ImagePrefetchStatus.Phase.PULLING ? ImagePrefetchStatus.Phase.PULLING
                : ImagePrefetchStatus.Phase.PENDING;
        next.setPhase(phase);
        if (terminal(next.build()) && !next.hasCompletionTime()) {
            next.setCompletionTime(Joiner.timestamp(now));
        }
        StringBuilder message = new StringBuilder().append(done).append(" of ").append(total).append(" nodes done");
        if (failed > 0) {
            message.append(", ").append(failed).append(" failed (").append(String.join("; ", failures))
                    .append(failed > failures.size() ? "; and " + (failed - failures.size()) + " more" : "").append(")");
        }
        if (messagesDropped > 0) {
            message.append("; messages of ").append(messagesDropped).append(" more nodes left out");
        }
        next.setMessage(clip(message.toString()));
        return next.build();
    }

    /** The status without its per-node entries (List answers, summaries). */
    public static ImagePrefetch summary(ImagePrefetch prefetch) {
        return prefetch.toBuilder().setStatus(prefetch.getStatus().toBuilder().clearNodes()).build();
    }

    static String clip(String text) {
        return clip(text, MAX_MESSAGE_CHARS);
    }

    private static String clip(String text, int max) {
        return text.length() <= max ? text : text.substring(0, max - 3) + "...";
    }

    /** The per-node entry of {@code node}, if it is a target. */
    public static Optional<NodeImagePrefetchStatus> node(ImagePrefetchStatus status, String node) {
        return status.getNodesList().stream().filter(n -> n.getNode().equals(node)).findFirst();
    }
}
