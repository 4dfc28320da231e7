package dev.edgeplane.cli;

import dev.edgeplane.api.v1.CreateQuotaRequest;
import dev.edgeplane.api.v1.DeleteQuotaRequest;
import dev.edgeplane.api.v1.GetQuotaRequest;
import dev.edgeplane.api.v1.ListQuotasRequest;
import dev.edgeplane.api.v1.ListQuotasResponse;
import dev.edgeplane.api.v1.Quota;
import dev.edgeplane.api.v1.QuotaAmounts;
import dev.edgeplane.api.v1.UpdateQuotaRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/** edgectl's Quota view: get (used/hard per amount), apply, delete. */
final class Quotas {
    static final List<String> HEADER = List.of("NAMESPACE", "NAME", "APPS", "REPLICAS", "CPU", "MEMORY", "STORAGE", "VOLUMES",
            "SNAPSHOTS");

    private Quotas() {}

    static void print(ApiClient api, PrintWriter out, Output.Format format, String namespace, String name, String selector) {
        List<Quota> items = new ArrayList<>();
        if (name != null) {
            items.add(api.quotas().getQuota(GetQuotaRequest.newBuilder()
                    .setNamespace(namespace == null ? "default" : namespace).setName(name).build()));
        } else {
            String page = "";
            do {
                ListQuotasResponse r = api.quotas().listQuotas(ListQuotasRequest.newBuilder()
                        .setNamespace(namespace == null ? "" : namespace).setLabelSelector(selector).setPageToken(page).build());
                items.addAll(r.getQuotasList());
                page = r.getNextPageToken();
            } while (!page.isEmpty());
        }
        Output.print(out, format, items, HEADER, m -> row((Quota) m));
    }

    /** "used/hard" per amount; "-" for a hard limit not set. cpu in millicores ("500m"), memory in binary units. */
    static List<String> row(Quota q) {
        QuotaAmounts hard = q.getSpec().getHard();
        QuotaAmounts used = q.getStatus().getUsed();
        return List.of(q.getMetadata().getNamespace(), q.getMetadata().getName(),
                used.getApps() + "/" + (hard.hasApps() ? Long.toString(hard.getApps()) : "-"),
                used.getReplicas() + "/" + (hard.hasReplicas() ? Long.toString(hard.getReplicas()) : "-"),
                used.getCpuMillis() + "m/" + (hard.hasCpuMillis() ? hard.getCpuMillis() + "m" : "-"),
                Volumes.bytes(used.getMemoryBytes()) + "/" + (hard.hasMemoryBytes() ? Volumes.bytes(hard.getMemoryBytes()) : "-"),
                Volumes.bytes(used.getStorageBytes()) + "/" + (hard.hasStorageBytes() ? Volumes.bytes(hard.getStorageBytes()) : "-"),
                used.getVolumes() + "/" + (hard.hasVolumes() ? Long.toString(hard.getVolumes()) : "-"),
                used.getVolumeSnapshots() + "/" + (hard.hasVolumeSnapshots() ? Long.toString(hard.getVolumeSnapshots()) : "-"));
    }

    /** Create if absent, else update labels and hard limits from the current resource_version. */
    static String apply(ApiClient api, Quota quota) {
        String ns = quota.getMetadata().getNamespace().isEmpty() ? "default" : quota.getMetadata().getNamespace();
        String id = "quota/" + ns + "/" + quota.getMetadata().getName();
        Quota current;
        try {
            current = api.quotas().getQuota(GetQuotaRequest.newBuilder().setNamespace(ns).setName(quota.getMetadata().getName()).build());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
            api.quotas().createQuota(CreateQuotaRequest.newBuilder().setQuota(quota).build());
            return id + " created";
        }
        if (current.getSpec().equals(quota.getSpec()) && current.getMetadata().getLabelsMap().equals(quota.getMetadata().getLabelsMap())) {
            return id + " unchanged";
        }
        api.quotas().updateQuota(UpdateQuotaRequest.newBuilder().setQuota(quota.toBuilder().setMetadata(quota.getMetadata().toBuilder()
                .setNamespace(ns).setResourceVersion(current.getMetadata().getResourceVersion()))).build());
        return id + " configured";
    }

    static void delete(ApiClient api, String namespace, String name) {
        api.quotas().deleteQuota(DeleteQuotaRequest.newBuilder().setNamespace(namespace).setName(name).build());
    }
}
