package dev.edgeplane.cli;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.ConfigMap;
import dev.edgeplane.api.v1.CreateConfigMapRequest;
import dev.edgeplane.api.v1.CreateSecretRequest;
import dev.edgeplane.api.v1.GetConfigMapRequest;
import dev.edgeplane.api.v1.GetSecretRequest;
import dev.edgeplane.api.v1.ListConfigMapsRequest;
import dev.edgeplane.api.v1.ListConfigMapsResponse;
import dev.edgeplane.api.v1.ListSecretsRequest;
import dev.edgeplane.api.v1.ListSecretsResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.api.v1.UpdateConfigMapRequest;
import dev.edgeplane.api.v1.UpdateSecretRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * edgectl's view of ConfigMaps and Secrets: get (key counts, never values in a table), describe (keys
 * and sizes; a secret's values are not shown), apply (create or replace), and the objects `create`
 * builds from literals and files.
 */
final class Configs {
    static final List<String> CONFIG_MAP_HEADER = List.of("NAMESPACE", "NAME", "DATA", "AGE");
    static final List<String> SECRET_HEADER = List.of("NAMESPACE", "NAME", "TYPE", "DATA", "AGE");

    private Configs() {}

    static void printConfigMaps(ApiClient api, PrintWriter out, Output.Format format, String namespace, String name, String selector,
                                Instant now) {
        List<ConfigMap> items = new ArrayList<>();
        if (name != null) {
            items.add(api.configMaps().getConfigMap(GetConfigMapRequest.newBuilder()
                    .setNamespace(namespace == null ? "default" : namespace).setName(name).build()));
        } else {
            String page = "";
            do {
                ListConfigMapsResponse r = api.configMaps().listConfigMaps(ListConfigMapsRequest.newBuilder()
                        .setNamespace(namespace == null ? "" : namespace).setLabelSelector(selector).setPageToken(page).build());
                items.addAll(r.getConfigMapsList());
                page = r.getNextPageToken();
            } while (!page.isEmpty());
        }
        Output.print(out, format, items, CONFIG_MAP_HEADER, m -> row((ConfigMap) m, now));
    }

    static void printSecrets(ApiClient api, PrintWriter out, Output.Format format, String namespace, String name, String selector,
                             Instant now) {
        List<Secret> items = new ArrayList<>();
        if (name != null) {
            items.add(api.secrets().getSecret(GetSecretRequest.newBuilder()
                    .setNamespace(namespace == null ? "default" : namespace).setName(name).build()));
        } else {
            String page = "";
            do {
                ListSecretsResponse r = api.secrets().listSecrets(ListSecretsRequest.newBuilder()
                        .setNamespace(namespace == null ? "" : namespace).setLabelSelector(selector).setPageToken(page).build());
                items.addAll(r.getSecretsList());
                page = r.getNextPageToken();
            } while (!page.isEmpty());
        }
        Output.print(out, format, items, SECRET_HEADER, m -> row((Secret) m, now));
    }

    static List<String> row(ConfigMap c, Instant now) {
        return List.of(c.getMetadata().getNamespace(), c.getMetadata().getName(),
                Integer.toString(c.getDataCount() + c.getBinaryDataCount()), Durations.age(c.getMetadata().getCreateTime(), now));
    }

    static List<String> row(Secret s, Instant now) {
        return List.of(s.getMetadata().getNamespace(), s.getMetadata().getName(), type(s.getType()),
                Integer.toString(s.getDataCount()), Durations.age(s.getMetadata().getCreateTime(), now));
    }

    static String type(Secret.Type type) {
        return type == Secret.Type.TYPE_UNSPECIFIED ? "OPAQUE" : type.name();
    }

    static void describe(PrintWriter out, ConfigMap c, Instant now) {
        header(out, c.getMetadata(), now);
        out.println("Data:");
        Map<String, Integer> sizes = new TreeMap<>();
        c.getDataMap().forEach((k, v) -> sizes.put(k, ByteString.copyFromUtf8(v).size()));
        c.getBinaryDataMap().forEach((k, v) -> sizes.put(k, v.size()));
        sizes.forEach((k, size) -> out.println("  " + k + ": " + size + " bytes"));
    }

    /** Keys and sizes only: a secret's values are shown by `get secret NAME -o yaml` when asked for, never here. */
    static void describe(PrintWriter out, Secret s, Instant now) {
        header(out, s.getMetadata(), now);
        out.println("Type:         " + type(s.getType()));
        out.println("Data:");
        new TreeMap<>(s.getDataMap()).forEach((k, v) -> out.println("  " + k + ": " + v.size() + " bytes"));
    }

    private static void header(PrintWriter out, ObjectMeta m, Instant now) {
        out.println("Name:         " + m.getName());
        out.println("Namespace:    " + m.getNamespace());
        out.println("Labels:       " + (m.getLabelsCount() == 0 ? "<none>" : new TreeMap<>(m.getLabelsMap()).toString()));
        out.println("Age:          " + Durations.age(m.getCreateTime(), now));
        out.println("Version:      " + m.getResourceVersion());
    }

    /** Create if absent, else replace labels and data from the current resource_version. */
    static String apply(ApiClient api, ConfigMap configMap) {
        String ns = namespace(configMap.getMetadata());
        String id = "configmap/" + ns + "/" + configMap.getMetadata().getName();
        ConfigMap current;
        try {
            current = api.configMaps().getConfigMap(GetConfigMapRequest.newBuilder().setNamespace(ns)
                    .setName(configMap.getMetadata().getName()).build());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
            api.configMaps().createConfigMap(CreateConfigMapRequest.newBuilder().setConfigMap(configMap).build());
            return id + " created";
        }
        if (current.getDataMap().equals(configMap.getDataMap()) && current.getBinaryDataMap().equals(configMap.getBinaryDataMap())
                && current.getMetadata().getLabelsMap().equals(configMap.getMetadata().getLabelsMap())) {
            return id + " unchanged";
        }
        api.configMaps().updateConfigMap(UpdateConfigMapRequest.newBuilder().setConfigMap(configMap.toBuilder()
                .setMetadata(configMap.getMetadata().toBuilder().setNamespace(ns)
                        .setResourceVersion(current.getMetadata().getResourceVersion()))).build());
        return id + " configured";
    }

    static String apply(ApiClient api, Secret secret) {
        String ns = namespace(secret.getMetadata());
        String id = "secret/" + ns + "/" + secret.getMetadata().getName();
        Secret current;
        try {
            current = api.secrets().getSecret(GetSecretRequest.newBuilder().setNamespace(ns).setName(secret.getMetadata().getName()).build());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
            api.secrets().createSecret(CreateSecretRequest.newBuilder().setSecret(secret).build());
            return id + " created";
        }
        if (current.getDataMap().equals(secret.getDataMap()) && current.getType() == secret.getType()
                && current.getMetadata().getLabelsMap().equals(secret.getMetadata().getLabelsMap())) {
            return id + " unchanged";
        }
        api.secrets().updateSecret(UpdateSecretRequest.newBuilder().setSecret(secret.toBuilder()
                .setMetadata(secret.getMetadata().toBuilder().setNamespace(ns)
                        .setResourceVersion(current.getMetadata().getResourceVersion()))).build());
        return id + " configured";
    }

    private static String namespace(ObjectMeta meta) {
        return meta.getNamespace().isEmpty() ? "default" : meta.getNamespace();
    }
}
