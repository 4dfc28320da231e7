package dev.edgeplane.cli;

import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.UpdateNodeRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.UnaryOperator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * label and taint of a node, in kubectl's syntax, as a read-modify-write through UpdateNode with the
 * node's resource_version: a concurrent change (ABORTED) is retried once on a fresh read.
 */
final class LabelCommand {
    private LabelCommand() {}

    /** "k=v" sets a label, "k-" removes it. */
    record LabelChange(String key, String value, boolean remove) {
        static LabelChange parse(String text) {
            if (text.endsWith("-") && !text.contains("=")) {
                return new LabelChange(requireKey(text.substring(0, text.length() - 1), text), null, true);
            }
            int eq = text.indexOf('=');
            if (eq < 0) {
                throw new UsageException("'" + text + "' is neither KEY=VALUE nor KEY- (a label to set or to remove)");
            }
            return new LabelChange(requireKey(text.substring(0, eq), text), text.substring(eq + 1), false);
        }
    }

    /** "k=v:Effect" or "k:Effect" adds a taint; "k-" removes the key's taints, "k:Effect-" only that effect's. */
    record TaintChange(dev.edgeplane.api.v1.Taint taint, boolean remove, boolean anyEffect) {
        static TaintChange parse(String text) {
            boolean remove = text.endsWith("-");
            String body = remove ? text.substring(0, text.length() - 1) : text;
            int colon = body.lastIndexOf(':');
            String keyValue = colon < 0 ? body : body.substring(0, colon);
            if (colon < 0 && !remove) {
                throw new UsageException("'" + text + "' needs an effect: KEY[=VALUE]:NoSchedule|PreferNoSchedule|NoExecute");
            }
            var taint = dev.edgeplane.api.v1.Taint.newBuilder();
            if (colon >= 0) {
                taint.setEffect(effect(body.substring(colon + 1), text));
            }
            int eq = keyValue.indexOf('=');
            taint.setKey(requireKey(eq < 0 ? keyValue : keyValue.substring(0, eq), text));
            if (eq >= 0) {
                taint.setValue(keyValue.substring(eq + 1));
            }
            return new TaintChange(taint.build(), remove, colon < 0);
        }

        boolean matches(dev.edgeplane.api.v1.Taint t) {
            return t.getKey().equals(taint.getKey()) && (anyEffect || t.getEffect() == taint.getEffect());
        }
    }

    static dev.edgeplane.api.v1.Taint.Effect effect(String name, String text) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "noschedule" -> dev.edgeplane.api.v1.Taint.Effect.NO_SCHEDULE;
            case "prefernoschedule" -> dev.edgeplane.api.v1.Taint.Effect.PREFER_NO_SCHEDULE;
            case "noexecute" -> dev.edgeplane.api.v1.Taint.Effect.NO_EXECUTE;
            default -> throw new UsageException("'" + text + "': unknown taint effect '" + name
                    + "' (NoSchedule, PreferNoSchedule or NoExecute)");
        };
    }

    private static String requireKey(String key, String text) {
        if (key.isEmpty()) {
            throw new UsageException("'" + text + "' has no key");
        }
        return key;
    }

    /** The labels changed; a key that is already set to another value only with overwrite (kubectl --overwrite). */
    static Node applyLabels(Node node, List<LabelChange> changes, boolean overwrite, java.io.PrintWriter err) {
        var meta = node.getMetadata().toBuilder();
        for (LabelChange c : changes) {
            String old = meta.getLabelsMap().get(c.key());
            if (c.remove()) {
                if (old == null) {
                    err.println("label \"" + c.key() + "\" not found.");
                }
                meta.removeLabels(c.key());
            } else {
                if (old != null && !old.equals(c.value()) && !overwrite) {
                    throw new UsageException("'" + c.key() + "' already has a value (" + old + "), and --overwrite is false");
                }
                meta.putLabels(c.key(), c.value());
            }
        }
        return node.toBuilder().setMetadata(meta).build();
    }

    /** The taints changed: removing one that is not there is an error, as is adding one whose key and effect exist unless overwrite. */
    static Node applyTaints(Node node, List<TaintChange> changes, boolean overwrite) {
        List<dev.edgeplane.api.v1.Taint> taints = new ArrayList<>(node.getSpec().getTaintsList());
        for (TaintChange c : changes) {
            if (c.remove()) {
                if (!taints.removeIf(c::matches)) {
                    throw new UsageException("taint \"" + c.taint().getKey() + (c.anyEffect() ? "" : ":" + NodePools.effect(c.taint().getEffect()))
                            + "\" not found");
                }
            } else {
                int at = -1;
                for (int i = 0; i < taints.size(); i++) {
                    if (c.matches(taints.get(i))) {
                        at = i;
                    }
                }
                if (at >= 0 && !overwrite) {
                    throw new UsageException("node " + node.getMetadata().getName() + " already has a taint with key ("
                            + c.taint().getKey() + ") and effect (" + NodePools.effect(c.taint().getEffect()) + "), and --overwrite is false");
                }
                if (at >= 0) {
                    taints.set(at, c.taint());
                } else {
                    taints.add(c.taint());
                }
            }
        }
        return node.toBuilder().setSpec(node.getSpec().toBuilder().clearTaints().addAllTaints(taints)).build();
    }

    /** Read, change, UpdateNode with the read's resource_version; on ABORTED once more from a fresh read. */
    static Node update(ApiClient api, String name, UnaryOperator<Node> change) {
        for (int attempt = 1; ; attempt++) {
            Node node = api.nodes().getNode(GetNodeRequest.newBuilder().setName(name).build());
            try {
                return api.nodes().updateNode(UpdateNodeRequest.newBuilder().setNode(change.apply(node)).build());
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() != Status.Code.ABORTED || attempt == 2) {
                    throw e;
                }
            }
        }
    }

    /** kubectl's optional resource type: "label node NAME ..." as well as "label NAME ...". */
    static List<String> withoutNodeKind(List<String> args) {
        if (args.size() >= 2 && List.of("node", "nodes", "no").contains(args.get(0))
                && !args.get(1).contains("=") && !args.get(1).contains(":") && !args.get(1).endsWith("-")) {
            return args.subList(1, args.size());
        }
        return args;
    }

    @Command(name = "label", description = "Set or remove a node's labels: edgectl label NODE KEY=VALUE... KEY-...")
    static final class Label implements Callable<Integer> {
        @ParentCommand Edgectl root;
        @Spec CommandSpec spec;
        @Parameters(arity = "2..*", paramLabel = "NODE KEY=VALUE|KEY-") List<String> args;
        @Option(names = "--overwrite", description = "Allow changing the value of a label that is already set.") boolean overwrite;

        @Override
        public Integer call() throws InterruptedException {
            List<String> a = withoutNodeKind(args);
            if (a.size() < 2) {
                throw new UsageException("label needs a node and at least one KEY=VALUE or KEY-");
            }
            String name = a.get(0);
            List<LabelChange> changes = a.subList(1, a.size()).stream().map(LabelChange::parse).toList();
            try (ApiClient api = root.connect()) {
                update(api, name, n -> applyLabels(n, changes, overwrite, spec.commandLine().getErr()));
            }
            boolean onlyRemovals = changes.stream().allMatch(LabelChange::remove);
            spec.commandLine().getOut().println("node/" + name + (onlyRemovals ? " unlabeled" : " labeled"));
            return 0;
        }
    }

    @Command(name = "taint", description = "Add or remove a node's taints: edgectl taint NODE KEY[=VALUE]:EFFECT... KEY[:EFFECT]-...")
    static final class Taint implements Callable<Integer> {
        @ParentCommand Edgectl root;
        @Spec CommandSpec spec;
        @Parameters(arity = "2..*", paramLabel = "NODE KEY[=VALUE]:EFFECT|KEY[:EFFECT]-") List<String> args;
        @Option(names = "--overwrite", description = "Allow replacing a taint with the same key and effect.") boolean overwrite;

        @Override
        public Integer call() throws InterruptedException {
            List<String> a = withoutNodeKind(args);
            if (a.size() < 2) {
                throw new UsageException("taint needs a node and at least one KEY[=VALUE]:EFFECT or KEY-");
            }
            String name = a.get(0);
            List<TaintChange> changes = a.subList(1, a.size()).stream().map(TaintChange::parse).toList();
            try (ApiClient api = root.connect()) {
                update(api, name, n -> applyTaints(n, changes, overwrite));
            }
            boolean onlyRemovals = changes.stream().allMatch(TaintChange::remove);
            spec.commandLine().getOut().println("node/" + name + (onlyRemovals ? " untainted" : " tainted"));
            return 0;
        }
    }
}
