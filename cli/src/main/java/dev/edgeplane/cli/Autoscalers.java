package dev.edgeplane.cli;

import dev.edgeplane.api.v1.Autoscaler;
import dev.edgeplane.api.v1.AutoscalerCondition;
import dev.edgeplane.api.v1.CreateAutoscalerRequest;
import dev.edgeplane.api.v1.DeleteAutoscalerRequest;
import dev.edgeplane.api.v1.GetAutoscalerRequest;
import dev.edgeplane.api.v1.ListAutoscalersRequest;
import dev.edgeplane.api.v1.ListAutoscalersResponse;
import dev.edgeplane.api.v1.MetricStatus;
import dev.edgeplane.api.v1.MetricTarget;
import dev.edgeplane.api.v1.PoolScalingStatus;
import dev.edgeplane.api.v1.ScalingRecord;
import dev.edgeplane.api.v1.ScheduledBounds;
import dev.edgeplane.api.v1.UpdateAutoscalerRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** edgectl's Autoscaler view: get (target, use against targets, bounds, replicas), describe (conditions, history), apply, delete. */
final class Autoscalers {
    static final List<String> HEADER = List.of("NAMESPACE", "NAME", "TARGET", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "SCHEDULE", "AGE");

    private Autoscalers() {}

    static Autoscaler get(ApiClient api, String namespace, String name) {
        return api.autoscalers().getAutoscaler(GetAutoscalerRequest.newBuilder()
                .setNamespace(namespace == null ? "default" : namespace).setName(name).build());
    }

    static void print(ApiClient api, PrintWriter out, Output.Format format, String namespace, String name, String selector, Instant now) {
        List<Autoscaler> items = new ArrayList<>();
        if (name != null) {
            items.add(get(api, namespace, name));
        } else {
            String page = "";
            do {
                ListAutoscalersResponse r = api.autoscalers().listAutoscalers(ListAutoscalersRequest.newBuilder()
                        .setNamespace(namespace == null ? "" : namespace).setLabelSelector(selector).setPageToken(page).build());
                items.addAll(r.getAutoscalersList());
                page = r.getNextPageToken();
            } while (!page.isEmpty());
        }
        Output.print(out, format, items, HEADER, m -> row((Autoscaler) m, now));
    }

    private static String resource(MetricTarget.Resource r) {
        return r == MetricTarget.Resource.MEMORY ? "memory" : "cpu";
    }

    /** kubectl get hpa's TARGETS: "cpu: 80%/50%", or "<unknown>/50%" before a measurement (or on a non-leader). */
    static String targets(Autoscaler a) {
        List<String> parts = new ArrayList<>();
        for (MetricTarget t : a.getSpec().getMetricsList()) {
            String current = a.getStatus().getCurrentMetricsList().stream().filter(m -> m.getResource() == t.getResource()).findFirst()
                    .map(m -> m.getCurrentAverageUtilization() + "%").orElse("<unknown>");
            parts.add(resource(t.getResource()) + ": " + current + "/" + t.getTargetAverageUtilization() + "%");
        }
        return String.join(", ", parts);
    }

    static List<String> row(Autoscaler a, Instant now) {
        var s = a.getStatus();
        int min = s.getEffectiveMinReplicas() > 0 ? s.getEffectiveMinReplicas() : Math.max(1, a.getSpec().getMinReplicas());
        int max = s.getEffectiveMaxReplicas() > 0 ? s.getEffectiveMaxReplicas() : a.getSpec().getMaxReplicas();
        return List.of(a.getMetadata().getNamespace(), a.getMetadata().getName(), "app/" + a.getSpec().getTargetApp(), targets(a),
                Integer.toString(min), Integer.toString(max), Integer.toString(s.getCurrentReplicas()),
                s.getActiveSchedule().isEmpty() ? "-" : s.getActiveSchedule(), Durations.age(a.getMetadata().getCreateTime(), now));
    }

    static void describe(PrintWriter out, Autoscaler a, Instant now) {
        var m = a.getMetadata();
        var spec = a.getSpec();
        var s = a.getStatus();
        out.println("Name:             " + m.getName());
        out.println("Namespace:        " + m.getNamespace());
        out.println("Labels:           " + m.getLabelsMap());
        out.println("Created:          " + Durations.age(m.getCreateTime(), now) + " ago (generation " + m.getGeneration() + ")");
        out.println("Target:           app/" + spec.getTargetApp());
        out.println("Metrics:          " + targets(a) + " (current/target of the requests)");
        out.println("Min/max replicas: " + Math.max(1, spec.getMinReplicas()) + "/" + spec.getMaxReplicas()
                + (s.getActiveSchedule().isEmpty() ? "" : "; now " + s.getEffectiveMinReplicas() + "/" + s.getEffectiveMaxReplicas()
                + " by schedule " + s.getActiveSchedule()));
        for (ScheduledBounds b : spec.getSchedulesList()) {
            out.println("  Schedule " + b.getName() + ": \"" + b.getSchedule() + "\" (" + (b.getTimeZone().isEmpty() ? "UTC" : b.getTimeZone())
                    + ") for " + b.getDurationSeconds() + " s: min " + (b.hasMinReplicas() ? b.getMinReplicas() : "-") + ", max "
                    + (b.hasMaxReplicas() ? b.getMaxReplicas() : "-"));
        }
        var up = spec.getBehavior().getScaleUp();
        var down = spec.getBehavior().getScaleDown();
        out.println("Behavior:         scale up window " + (up.hasStabilizationWindowSeconds() ? up.getStabilizationWindowSeconds() : 0)
                + " s" + (up.getPoliciesCount() == 0 ? " (max(4 pods, 100%) per 15 s)" : ", " + up.getPoliciesCount() + " policies")
                + "; scale down window " + (down.hasStabilizationWindowSeconds() ? down.getStabilizationWindowSeconds() : 300) + " s"
                + (down.getPoliciesCount() == 0 ? " (100% per 15 s)" : ", " + down.getPoliciesCount() + " policies"));
        out.println("Replicas:         " + s.getCurrentReplicas() + " current / " + s.getDesiredReplicas() + " desired"
                + (s.hasLastScaleTime() ? "; last scaled " + Durations.age(s.getLastScaleTime(), now) + " ago" : ""));
        for (PoolScalingStatus p : s.getPoolsList()) {
            List<String> use = new ArrayList<>();
            for (MetricStatus ms : p.getCurrentMetricsList()) {
                use.add(resource(ms.getResource()) + " " + ms.getCurrentAverageUtilization() + "%");
            }
            out.println("  Pool " + p.getName() + ": " + p.getCurrentReplicas() + " current / " + p.getDesiredReplicas() + " desired"
                    + (use.isEmpty() ? "" : " (" + String.join(", ", use) + ")"));
        }
        out.println("Conditions:");
        List<List<String>> rows = new ArrayList<>();
        for (AutoscalerCondition c : s.getConditionsList()) {
            rows.add(List.of(c.getType(), c.getStatus(), c.getReason(), c.getMessage()));
        }
        printRows(out, List.of("TYPE", "STATUS", "REASON", "MESSAGE"), rows);
        out.println("History (newest first):");
        rows = new ArrayList<>();
        for (ScalingRecord r : s.getHistoryList()) {
            rows.add(List.of(Durations.age(r.getTime(), now) + " ago", r.getPool().isEmpty() ? "-" : r.getPool(),
                    r.getFromReplicas() + " -> " + r.getToReplicas(), r.getReason()));
        }
        printRows(out, List.of("WHEN", "POOL", "REPLICAS", "REASON"), rows);
    }

    private static void printRows(PrintWriter out, List<String> header, List<List<String>> rows) {
        if (rows.isEmpty()) {
            out.println("  <none>");
            return;
        }
        int[] width = new int[header.size()];
        List<List<String>> all = new ArrayList<>();
        all.add(header);
        all.addAll(rows);
        for (List<String> row : all) {
            for (int i = 0; i < row.size(); i++) {
                width[i] = Math.max(width[i], row.get(i).length());
            }
        }
        for (List<String> row : all) {
            StringBuilder line = new StringBuilder("  ");
            for (int i = 0; i < row.size(); i++) {
                line.append(i == row.size() - 1 ? row.get(i) : String.format("%-" + width[i] + "s  ", row.get(i)));
            }
            out.println(line);
        }
    }

    /** Create if absent, else update labels and spec from the current resource_version. */
    static String apply(ApiClient api, Autoscaler autoscaler) {
        String ns = autoscaler.getMetadata().getNamespace().isEmpty() ? "default" : autoscaler.getMetadata().getNamespace();
        String id = "autoscaler/" + ns + "/" + autoscaler.getMetadata().getName();
        Autoscaler current;
        try {
            current = get(api, ns, autoscaler.getMetadata().getName());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
            api.autoscalers().createAutoscaler(CreateAutoscalerRequest.newBuilder().setAutoscaler(autoscaler).build());
            return id + " created";
        }
        if (current.getSpec().equals(autoscaler.getSpec())
                && current.getMetadata().getLabelsMap().equals(autoscaler.getMetadata().getLabelsMap())) {
            return id + " unchanged";
        }
        api.autoscalers().updateAutoscaler(UpdateAutoscalerRequest.newBuilder().setAutoscaler(autoscaler.toBuilder()
                .setMetadata(autoscaler.getMetadata().toBuilder().setNamespace(ns)
                        .setResourceVersion(current.getMetadata().getResourceVersion()))).build());
        return id + " configured";
    }

    static void delete(ApiClient api, String namespace, String name) {
        api.autoscalers().deleteAutoscaler(DeleteAutoscalerRequest.newBuilder().setNamespace(namespace).setName(name).build());
    }
}
