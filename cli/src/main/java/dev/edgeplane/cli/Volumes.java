package dev.edgeplane.cli;

import dev.edgeplane.api.v1.CreateVolumeRequest;
import dev.edgeplane.api.v1.CreateVolumeSnapshotRequest;
import dev.edgeplane.api.v1.DeleteVolumeRequest;
import dev.edgeplane.api.v1.DeleteVolumeSnapshotRequest;
import dev.edgeplane.api.v1.GetVolumeRequest;
import dev.edgeplane.api.v1.GetVolumeSnapshotRequest;
import dev.edgeplane.api.v1.ListVolumeSnapshotsRequest;
import dev.edgeplane.api.v1.ListVolumeSnapshotsResponse;
import dev.edgeplane.api.v1.ListVolumesRequest;
import dev.edgeplane.api.v1.ListVolumesResponse;
import dev.edgeplane.api.v1.UpdateVolumeRequest;
import dev.edgeplane.api.v1.Volume;
import dev.edgeplane.api.v1.VolumeNodeStatus;
import dev.edgeplane.api.v1.VolumeSnapshot;
import dev.edgeplane.api.v1.VolumeStatus;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * edgectl's Volume and VolumeSnapshot views: get (tables show phase, node, capacity against the size
 * requested, a resize under way, and readiness), describe, apply, delete.
 */
final class Volumes {
    static final List<String> VOLUME_HEADER =
            List.of("NAMESPACE", "NAME", "PHASE", "NODE", "ON-NODE", "CAPACITY", "REQUESTED", "CLASS", "RECLAIM", "SOURCE", "RESIZE",
                    "MESSAGE", "AGE");
    static final List<String> SNAPSHOT_HEADER =
            List.of("NAMESPACE", "NAME", "VOLUME", "READY", "SIZE", "NODE", "SNAPSHOT-ID", "MESSAGE", "AGE");

    private Volumes() {}

    static void printVolumes(ApiClient api, PrintWriter out, Output.Format format, String namespace, String name,
                             String selector, Instant now) {
        List<Volume> items = new ArrayList<>();
        if (name != null) {
            items.add(api.volumes().getVolume(GetVolumeRequest.newBuilder()
                    .setNamespace(namespace == null ? "default" : namespace).setName(name).build()));
        } else {
            String page = "";
            do {
                ListVolumesResponse r = api.volumes().listVolumes(ListVolumesRequest.newBuilder()
                        .setNamespace(namespace == null ? "" : namespace).setLabelSelector(selector).setPageToken(page).build());
                items.addAll(r.getVolumesList());
                page = r.getNextPageToken();
            } while (!page.isEmpty());
        }
        Output.print(out, format, items, VOLUME_HEADER, m -> volumeRow((Volume) m, now));
    }

    static List<String> volumeRow(Volume v, Instant now) {
        var s = v.getStatus();
        VolumeNodeStatus onNode = s.getNodeStatus();
        String message = !onNode.getMessage().isEmpty() ? onNode.getMessage() : s.getMessage();
        return List.of(v.getMetadata().getNamespace(), v.getMetadata().getName(),
                s.getPhase().name().replace("PHASE_UNSPECIFIED", "UNKNOWN"), dash(s.getNode()),
                onNode.getState() == VolumeNodeStatus.State.STATE_UNSPECIFIED ? "-" : onNode.getState().name(),
                s.getCapacityBytes() == 0 ? "-" : bytes(s.getCapacityBytes()), bytes(v.getSpec().getSizeBytes()),
                v.getSpec().getStorageClass(), v.getSpec().getReclaimPolicy().name().replace("RECLAIM_POLICY_UNSPECIFIED", "RETAIN"),
                dash(v.getSpec().getSourceSnapshot()),
                s.getResizeState() == VolumeStatus.ResizeState.NONE ? "-" : s.getResizeState().name(),
                dash(message), Durations.age(v.getMetadata().getCreateTime(), now));
    }

    /** edgectl describe volume: where it is, its sizes, and where a resize stands (Kubernetes' conditions). */
    static void describe(PrintWriter out, Volume v, Instant now) {
        var m = v.getMetadata();
        var s = v.getStatus();
        VolumeNodeStatus onNode = s.getNodeStatus();
        out.println("Name:          " + m.getName());
        out.println("Namespace:     " + m.getNamespace());
        out.println("Labels:        " + m.getLabelsMap());
        out.println("Created:       " + Durations.age(m.getCreateTime(), now) + " ago (generation " + m.getGeneration() + ")");
        out.println("Class:         " + v.getSpec().getStorageClass() + ", reclaim "
                + v.getSpec().getReclaimPolicy().name().replace("RECLAIM_POLICY_UNSPECIFIED", "RETAIN")
                + (v.getSpec().getSourceSnapshot().isEmpty() ? "" : ", restored from " + v.getSpec().getSourceSnapshot()));
        out.println("Phase:         " + s.getPhase().name().replace("PHASE_UNSPECIFIED", "UNKNOWN")
                + (s.getMessage().isEmpty() ? "" : " (" + s.getMessage() + ")"));
        out.println("Node:          " + dash(s.getNode()) + (s.getReplica().isEmpty() ? "" : ", used by replica " + s.getReplica()));
        out.println("On node:       " + (onNode.getState() == VolumeNodeStatus.State.STATE_UNSPECIFIED ? "-"
                : onNode.getState().name() + " " + onNode.getVolumeId()) + (onNode.getMessage().isEmpty() ? "" : " (" + onNode.getMessage() + ")"));
        out.println("Requested:     " + bytes(v.getSpec().getSizeBytes()));
        out.println("Allocated:     " + (s.getAllocatedBytes() == 0 ? "-" : bytes(s.getAllocatedBytes())));
        out.println("Capacity:      " + (s.getCapacityBytes() == 0 ? "-" : bytes(s.getCapacityBytes())));
        out.println("Resize:        " + s.getResizeState().name() + (s.getResizeMessage().isEmpty() ? "" : ": " + s.getResizeMessage()));
    }

    static void printSnapshots(ApiClient api, PrintWriter out, Output.Format format, String namespace, String name, Instant now) {
        List<VolumeSnapshot> items = new ArrayList<>();
        if (name != null) {
            items.add(api.volumes().getVolumeSnapshot(GetVolumeSnapshotRequest.newBuilder()
                    .setNamespace(namespace == null ? "default" : namespace).setName(name).build()));
        } else {
            String page = "";
            do {
                ListVolumeSnapshotsResponse r = api.volumes().listVolumeSnapshots(ListVolumeSnapshotsRequest.newBuilder()
                        .setNamespace(namespace == null ? "" : namespace).setPageToken(page).build());
                items.addAll(r.getSnapshotsList());
                page = r.getNextPageToken();
            } while (!page.isEmpty());
        }
        Output.print(out, format, items, SNAPSHOT_HEADER, m -> snapshotRow((VolumeSnapshot) m, now));
    }

    static List<String> snapshotRow(VolumeSnapshot v, Instant now) {
        var s = v.getStatus();
        return List.of(v.getMetadata().getNamespace(), v.getMetadata().getName(), v.getSpec().getVolume(),
                Boolean.toString(s.getReadyToUse()), s.getSizeBytes() == 0 ? "-" : bytes(s.getSizeBytes()), dash(s.getNode()),
                dash(s.getSnapshotId()), dash(s.getMessage()), Durations.age(v.getMetadata().getCreateTime(), now));
    }

    /** Create if absent, else update labels, size and reclaim policy from the current resource_version. */
    static String apply(ApiClient api, Volume volume) {
        String ns = volume.getMetadata().getNamespace().isEmpty() ? "default" : volume.getMetadata().getNamespace();
        String id = "volume/" + ns + "/" + volume.getMetadata().getName();
        Volume current;
        try {
            current = api.volumes().getVolume(GetVolumeRequest.newBuilder().setNamespace(ns)
                    .setName(volume.getMetadata().getName()).build());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
            api.volumes().createVolume(CreateVolumeRequest.newBuilder().setVolume(volume).build());
            return id + " created";
        }
        // What the API filled in (defaults) counts as unchanged when the manifest leaves it out.
        var spec = volume.getSpec().toBuilder();
        var was = current.getSpec();
        if (spec.getSizeBytes() == 0) {
            spec.setSizeBytes(was.getSizeBytes());
        }
        if (spec.getStorageClass().isEmpty()) {
            spec.setStorageClass(was.getStorageClass());
        }
        if (spec.getAccessModeValue() == 0) {
            spec.setAccessMode(was.getAccessMode());
        }
        if (spec.getReclaimPolicyValue() == 0) {
            spec.setReclaimPolicy(was.getReclaimPolicy());
        }
        if (was.equals(spec.build()) && current.getMetadata().getLabelsMap().equals(volume.getMetadata().getLabelsMap())) {
            return id + " unchanged";
        }
        api.volumes().updateVolume(UpdateVolumeRequest.newBuilder().setVolume(volume.toBuilder().setSpec(spec)
                .setMetadata(volume.getMetadata().toBuilder().setNamespace(ns)
                        .setResourceVersion(current.getMetadata().getResourceVersion()))).build());
        return id + " configured";
    }

    /** Snapshots are immutable: created if absent, else left as they are. */
    static String apply(ApiClient api, VolumeSnapshot snapshot) {
        String ns = snapshot.getMetadata().getNamespace().isEmpty() ? "default" : snapshot.getMetadata().getNamespace();
        String id = "volumesnapshot/" + ns + "/" + snapshot.getMetadata().getName();
        try {
            api.volumes().createVolumeSnapshot(CreateVolumeSnapshotRequest.newBuilder().setSnapshot(snapshot).build());
            return id + " created";
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.ABORTED && e.getStatus().getDescription() != null
                    && e.getStatus().getDescription().contains("already exists")) {
                return id + " unchanged";
            }
            throw e;
        }
    }

    /**
     * Deletes the volume and says what happened: a volume on a node is only DELETING until its node
     * has deleted the data and confirmed, so "deleted" would be a promise not yet kept.
     */
    static String deleteVolume(ApiClient api, String namespace, String name) {
        api.volumes().deleteVolume(DeleteVolumeRequest.newBuilder().setNamespace(namespace).setName(name).build());
        try {
            Volume left = api.volumes().getVolume(GetVolumeRequest.newBuilder().setNamespace(namespace).setName(name).build());
            if (left.getStatus().getPhase() == VolumeStatus.Phase.DELETING) {
                return "deleting: node " + left.getStatus().getNode() + " deletes its data first (edgectl get volumes shows progress)";
            }
            return "deleted";
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.NOT_FOUND) {
                return "deleted";
            }
            throw e;
        }
    }

    static void deleteSnapshot(ApiClient api, String namespace, String name) {
        api.volumes().deleteVolumeSnapshot(DeleteVolumeSnapshotRequest.newBuilder().setNamespace(namespace).setName(name).build());
    }

    /** 33554432 -> "32Mi", 1610612736 -> "1.5Gi": binary units, as sizes are given. */
    static String bytes(long n) {
        String[] units = {"", "Ki", "Mi", "Gi", "Ti"};
        int unit = 0;
        double value = n;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit++;
        }
        return (value == Math.rint(value) ? Long.toString((long) value) : String.format(java.util.Locale.ROOT, "%.1f", value)) + units[unit];
    }

    private static String dash(String s) {
        return s == null || s.isEmpty() ? "-" : s;
    }
}
