package dev.edgeplane.cli;

import dev.edgeplane.api.v1.CreateStorageClassRequest;
import dev.edgeplane.api.v1.DeleteStorageClassRequest;
import dev.edgeplane.api.v1.GetStorageClassRequest;
import dev.edgeplane.api.v1.ListNodesRequest;
import dev.edgeplane.api.v1.ListNodesResponse;
import dev.edgeplane.api.v1.ListStorageClassesRequest;
import dev.edgeplane.api.v1.ListStorageClassesResponse;
import dev.edgeplane.api.v1.Node;
import dev.edgeplane.api.v1.StorageBackend;
import dev.edgeplane.api.v1.StorageClass;
import dev.edgeplane.api.v1.StorageClassSpec;
import dev.edgeplane.api.v1.UpdateStorageClassRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** edgectl's StorageClass view: get (kubectl's columns), describe (with the nodes that can serve it), apply, delete. */
final class StorageClasses {
    static final List<String> HEADER = List.of("NAME", "BACKEND", "FSTYPE", "RECLAIMPOLICY", "VOLUMEBINDINGMODE",
            "ALLOWVOLUMEEXPANSION", "AGE");

    private StorageClasses() {}

    static void print(ApiClient api, PrintWriter out, Output.Format format, String name, String selector, Instant now) {
        List<StorageClass> items = new ArrayList<>();
        if (name != null) {
            items.add(api.storageClasses().getStorageClass(GetStorageClassRequest.newBuilder().setName(name).build()));
        } else {
            String page = "";
            do {
                ListStorageClassesResponse r = api.storageClasses().listStorageClasses(ListStorageClassesRequest.newBuilder()
                        .setLabelSelector(selector).setPageToken(page).build());
                items.addAll(r.getStorageClassesList());
                page = r.getNextPageToken();
            } while (!page.isEmpty());
        }
        Output.print(out, format, items, HEADER, m -> row((StorageClass) m, now));
    }

    /** kubectl marks the default class "(default)" after its name. */
    static List<String> row(StorageClass c, Instant now) {
        StorageClassSpec spec = c.getSpec();
        return List.of(c.getMetadata().getName() + (spec.getDefaultClass() ? " (default)" : ""), spec.getBackend(),
                spec.getFsType().isEmpty() ? "-" : spec.getFsType(), reclaim(spec), binding(spec),
                Boolean.toString(spec.getAllowVolumeExpansion()), Durations.age(c.getMetadata().getCreateTime(), now));
    }

    private static String reclaim(StorageClassSpec spec) {
        return switch (spec.getReclaimPolicy()) {
            case DELETE -> "Delete";
            default -> "Retain";
        };
    }

    private static String binding(StorageClassSpec spec) {
        return spec.getVolumeBindingMode() == StorageClassSpec.VolumeBindingMode.IMMEDIATE ? "Immediate" : "WaitForFirstConsumer";
    }

    /** The class, then each node whose storage driver serves its backend, with that backend's free and total bytes. */
    static void describe(ApiClient api, PrintWriter out, String name, Instant now) {
        StorageClass c = api.storageClasses().getStorageClass(GetStorageClassRequest.newBuilder().setName(name).build());
        StorageClassSpec spec = c.getSpec();
        out.println("Name:                 " + c.getMetadata().getName());
        out.println("Default class:        " + (spec.getDefaultClass() ? "yes" : "no"));
        out.println("Created:              " + Durations.age(c.getMetadata().getCreateTime(), now) + " ago");
        out.println("Backend:              " + spec.getBackend());
        out.println("Fs type:              " + (spec.getFsType().isEmpty() ? "<the backend's first>" : spec.getFsType()));
        Map<String, String> parameters = new TreeMap<>(spec.getParametersMap());
        out.println("Parameters:           " + (parameters.isEmpty() ? "<none>" : parameters.toString()));
        out.println("Reclaim policy:       " + reclaim(spec));
        out.println("Volume binding mode:  " + binding(spec));
        out.println("Allow expansion:      " + spec.getAllowVolumeExpansion());
        out.println();
        List<List<String>> rows = new ArrayList<>();
        String page = "";
        do {
            ListNodesResponse r = api.nodes().listNodes(ListNodesRequest.newBuilder().setPageToken(page).build());
            for (Node n : r.getNodesList()) {
                for (StorageBackend b : n.getStatus().getStorage().getBackendsList()) {
                    if (b.getName().equals(spec.getBackend()) && (spec.getFsType().isEmpty() || b.getFsTypesList().contains(spec.getFsType()))) {
                        rows.add(List.of(n.getMetadata().getName(), String.join(",", b.getFsTypesList()), mib(b.getFreeBytes()),
                                mib(b.getTotalBytes())));
                    }
                }
            }
            page = r.getNextPageToken();
        } while (!page.isEmpty());
        if (rows.isEmpty()) {
            out.println("Nodes that serve it:  <none reported>");
        } else {
            out.println("Nodes that serve it:");
            Output.table(out, List.of("NODE", "FSTYPES", "FREE", "TOTAL"), rows);
        }
        out.flush();
    }

    private static String mib(long bytes) {
        return (bytes >> 20) + "Mi";
    }

    /** Create if absent, else update labels and spec from the current resource_version (the server refuses what may not change). */
    static String apply(ApiClient api, StorageClass storageClass) {
        String id = "storageclass/" + storageClass.getMetadata().getName();
        StorageClass current;
        try {
            current = api.storageClasses().getStorageClass(GetStorageClassRequest.newBuilder()
                    .setName(storageClass.getMetadata().getName()).build());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
            api.storageClasses().createStorageClass(CreateStorageClassRequest.newBuilder().setStorageClass(storageClass).build());
            return id + " created";
        }
        StorageClass wanted = storageClass.toBuilder().setSpec(withServerDefaults(storageClass.getSpec(), current.getSpec())).build();
        if (current.getSpec().equals(wanted.getSpec())
                && current.getMetadata().getLabelsMap().equals(wanted.getMetadata().getLabelsMap())) {
            return id + " unchanged";
        }
        api.storageClasses().updateStorageClass(UpdateStorageClassRequest.newBuilder().setStorageClass(wanted.toBuilder()
                .setMetadata(wanted.getMetadata().toBuilder().setResourceVersion(current.getMetadata().getResourceVersion()))).build());
        return id + " configured";
    }

    /** Modes a manifest leaves out are what the server filled in, not a change. */
    private static StorageClassSpec withServerDefaults(StorageClassSpec given, StorageClassSpec current) {
        StorageClassSpec.Builder b = given.toBuilder();
        if (given.getVolumeBindingMode() == StorageClassSpec.VolumeBindingMode.VOLUME_BINDING_MODE_UNSPECIFIED) {
            b.setVolumeBindingMode(current.getVolumeBindingMode());
        }
        if (given.getReclaimPolicy() == dev.edgeplane.api.v1.VolumeSpec.ReclaimPolicy.RECLAIM_POLICY_UNSPECIFIED) {
            b.setReclaimPolicy(current.getReclaimPolicy());
        }
        return b.build();
    }

    static void delete(ApiClient api, String name) {
        api.storageClasses().deleteStorageClass(DeleteStorageClassRequest.newBuilder().setName(name).build());
    }
}
