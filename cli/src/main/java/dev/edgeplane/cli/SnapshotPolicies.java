package dev.edgeplane.cli;

import dev.edgeplane.api.schedule.CronSchedule;
import dev.edgeplane.api.v1.CreateVolumeSnapshotPolicyRequest;
import dev.edgeplane.api.v1.DeleteVolumeSnapshotPolicyRequest;
import dev.edgeplane.api.v1.GetVolumeSnapshotPolicyRequest;
import dev.edgeplane.api.v1.ListVolumeSnapshotPoliciesRequest;
import dev.edgeplane.api.v1.ListVolumeSnapshotPoliciesResponse;
import dev.edgeplane.api.v1.UpdateVolumeSnapshotPolicyRequest;
import dev.edgeplane.api.v1.VolumeSnapshotPolicy;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** edgectl's VolumeSnapshotPolicy view: get (schedule, retention, what it covers), describe (with the next slots), apply, delete. */
final class SnapshotPolicies {
    static final List<String> HEADER =
            List.of("NAMESPACE", "NAME", "SCHEDULE", "TIME-ZONE", "KEEP", "MAX-AGE", "SUSPEND", "VOLUMES", "SNAPSHOTS", "LAST", "AGE");

    private SnapshotPolicies() {}

    static VolumeSnapshotPolicy get(ApiClient api, String namespace, String name) {
        return api.snapshotPolicies().getVolumeSnapshotPolicy(GetVolumeSnapshotPolicyRequest.newBuilder()
                .setNamespace(namespace == null ? "default" : namespace).setName(name).build());
    }

    static void print(ApiClient api, PrintWriter out, Output.Format format, String namespace, String name, String selector, Instant now) {
        List<VolumeSnapshotPolicy> items = new ArrayList<>();
        if (name != null) {
            items.add(get(api, namespace, name));
        } else {
            String page = "";
            do {
                ListVolumeSnapshotPoliciesResponse r = api.snapshotPolicies().listVolumeSnapshotPolicies(
                        ListVolumeSnapshotPoliciesRequest.newBuilder().setNamespace(namespace == null ? "" : namespace)
                                .setLabelSelector(selector).setPageToken(page).build());
                items.addAll(r.getPoliciesList());
                page = r.getNextPageToken();
            } while (!page.isEmpty());
        }
        Output.print(out, format, items, HEADER, m -> row((VolumeSnapshotPolicy) m, now));
    }

    static List<String> row(VolumeSnapshotPolicy p, Instant now) {
        var spec = p.getSpec();
        var s = p.getStatus();
        return List.of(p.getMetadata().getNamespace(), p.getMetadata().getName(), spec.getSchedule(),
                spec.getTimeZone().isEmpty() ? "UTC" : spec.getTimeZone(), Integer.toString(spec.getKeepCount()),
                spec.getKeepAgeSeconds() == 0 ? "-" : spec.getKeepAgeSeconds() + "s", Boolean.toString(spec.getSuspend()),
                Integer.toString(s.getVolumesCount()), Integer.toString(s.getSnapshots()),
                s.getLastScheduledTime().isEmpty() ? "-" : s.getLastScheduledTime(), Durations.age(p.getMetadata().getCreateTime(), now));
    }

    static void describe(PrintWriter out, VolumeSnapshotPolicy p, Instant now) {
        var m = p.getMetadata();
        var spec = p.getSpec();
        out.println("Name:        " + m.getName());
        out.println("Namespace:   " + m.getNamespace());
        out.println("Labels:      " + m.getLabelsMap());
        out.println("Created:     " + Durations.age(m.getCreateTime(), now) + " ago (generation " + m.getGeneration() + ")");
        out.println("Schedule:    " + spec.getSchedule() + " (" + (spec.getTimeZone().isEmpty() ? "UTC" : spec.getTimeZone()) + ")"
                + (spec.getSuspend() ? ", SUSPENDED" : ""));
        try {
            CronSchedule schedule = CronSchedule.parse(spec.getSchedule(), spec.getTimeZone());
            List<String> next = new ArrayList<>();
            Instant t = now;
            for (int i = 0; i < 3; i++) {
                var slot = schedule.next(t);
                if (slot.isEmpty()) {
                    break;
                }
                t = slot.get();
                next.add(t.atZone(schedule.zone()).toOffsetDateTime().toString());
            }
            out.println("Next slots:  " + String.join(", ", next) + " (taken by each node on its own clock)");
        } catch (CronSchedule.InvalidCronException e) {
            out.println("Next slots:  - (" + e.getMessage() + ")");
        }
        out.println("Retention:   keep " + spec.getKeepCount() + " per volume"
                + (spec.getKeepAgeSeconds() == 0 ? "" : ", at most " + spec.getKeepAgeSeconds() + " s old"));
        out.println("Selector:    " + (spec.getVolumeSelectorMap().isEmpty() ? "every volume of the namespace" : spec.getVolumeSelectorMap()));
        out.println("Volumes:     " + (p.getStatus().getVolumesCount() == 0 ? "-" : String.join(", ", p.getStatus().getVolumesList())));
        out.println("Snapshots:   " + p.getStatus().getSnapshots() + (p.getStatus().getLastScheduledTime().isEmpty() ? ""
                : " (newest for " + p.getStatus().getLastScheduledTime() + ")"));
    }

    /** Create if absent, else update labels and spec from the current resource_version. */
    static String apply(ApiClient api, VolumeSnapshotPolicy policy) {
        String ns = policy.getMetadata().getNamespace().isEmpty() ? "default" : policy.getMetadata().getNamespace();
        String id = "volumesnapshotpolicy/" + ns + "/" + policy.getMetadata().getName();
        VolumeSnapshotPolicy current;
        try {
            current = get(api, ns, policy.getMetadata().getName());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
            api.snapshotPolicies().createVolumeSnapshotPolicy(CreateVolumeSnapshotPolicyRequest.newBuilder().setPolicy(policy).build());
            return id + " created";
        }
        if (current.getSpec().equals(policy.getSpec()) && current.getMetadata().getLabelsMap().equals(policy.getMetadata().getLabelsMap())) {
            return id + " unchanged";
        }
        api.snapshotPolicies().updateVolumeSnapshotPolicy(UpdateVolumeSnapshotPolicyRequest.newBuilder().setPolicy(policy.toBuilder()
                .setMetadata(policy.getMetadata().toBuilder().setNamespace(ns)
                        .setResourceVersion(current.getMetadata().getResourceVersion()))).build());
        return id + " configured";
    }

    static void delete(ApiClient api, String namespace, String name) {
        api.snapshotPolicies().deleteVolumeSnapshotPolicy(DeleteVolumeSnapshotPolicyRequest.newBuilder()
                .setNamespace(namespace).setName(name).build());
    }
}
