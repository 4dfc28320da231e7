package dev.edgeplane.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import dev.edgeplane.api.v1.App;
import dev.edgeplane.api.v1.JoinToken;
import java.io.IOException;
import java.io.Reader;
import java.util.ArrayList;
import java.util.List;

/**
  * Reads resource manifests: YAML (or JSON) documents with a {@code kind} and the resource in the
  * API's own JSON mapping ({@code metadata}, {@code spec}), so a manifest means exactly what the
  * API means and there is no second schema to keep in step.
  */
final class Manifests {

    /** One resource read from a manifest. */
    sealed interface Manifest permits AppManifest, JoinTokenManifest, VolumeManifest, VolumeSnapshotManifest, VolumeSnapshotPolicyManifest, QuotaManifest, CronJobManifest, JobManifest,
            ConfigMapManifest, SecretManifest, NodePoolManifest, ImagePrefetchManifest, StorageClassManifest, AutoscalerManifest {}

    record AppManifest(App app) implements Manifest {}

    record JoinTokenManifest(JoinToken token) implements Manifest {}

    record VolumeManifest(dev.edgeplane.api.v1.Volume volume) implements Manifest {}

    record VolumeSnapshotManifest(dev.edgeplane.api.v1.VolumeSnapshot snapshot) implements Manifest {}

    record VolumeSnapshotPolicyManifest(dev.edgeplane.api.v1.VolumeSnapshotPolicy policy) implements Manifest {}
    record JobManifest(dev.edgeplane.api.v1.Job job) implements Manifest {}

    record CronJobManifest(dev.edgeplane.api.v1.CronJob cronJob) implements Manifest {}

    record QuotaManifest(dev.edgeplane.api.v1.Quota quota) implements Manifest {}

    record ConfigMapManifest(dev.edgeplane.api.v1.ConfigMap configMap) implements Manifest {}

    record SecretManifest(dev.edgeplane.api.v1.Secret secret) implements Manifest {}

    record NodePoolManifest(dev.edgeplane.api.v1.NodePool nodePool) implements Manifest {}

    record ImagePrefetchManifest(dev.edgeplane.api.v1.ImagePrefetch prefetch) implements Manifest {}

    record StorageClassManifest(dev.edgeplane.api.v1.StorageClass storageClass) implements Manifest {}

    record AutoscalerManifest(dev.edgeplane.api.v1.Autoscaler autoscaler) implements Manifest {}

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final ObjectMapper JSON = new ObjectMapper();

    private Manifests() {}

    static List<Manifest> read(Reader source, String origin) {
        List<Manifest> out = new ArrayList<>();
        try (MappingIterator<JsonNode> docs = YAML.readerFor(JsonNode.class).readValues(source)) {
            int index = 0;
            while (docs.hasNext()) {
                JsonNode doc = docs.next();
                index++;
                if (doc == null || doc.isNull() || doc.isEmpty()) {
                    continue;
                }
                out.add(parse(doc, origin + " document " + index));
            }
        } catch (IOException e) {
            throw new UsageException(origin + ": not valid YAML: " + e.getMessage());
        }
        return out;
    }

    private static Manifest parse(JsonNode doc, String where) {
        if (!(doc instanceof ObjectNode object) || !object.hasNonNull("kind")) {
            throw new UsageException(where + ": missing 'kind' (" + KINDS + ")");
        }
        String kind = object.remove("kind").asText();
        object.remove("apiVersion");
        return switch (kind) {
            case "App" -> new AppManifest(merge(object, App.newBuilder(), where).build());
            case "JoinToken" -> new JoinTokenManifest(merge(object, JoinToken.newBuilder(), where).build());
            case "Volume" -> new VolumeManifest(merge(object, dev.edgeplane.api.v1.Volume.newBuilder(), where).build());
            case "VolumeSnapshot" -> new VolumeSnapshotManifest(
                    merge(object, dev.edgeplane.api.v1.VolumeSnapshot.newBuilder(), where).build());
            case "StorageClass" -> new StorageClassManifest(merge(object, dev.edgeplane.api.v1.StorageClass.newBuilder(), where).build());
            case "NodePool" -> new NodePoolManifest(merge(object, dev.edgeplane.api.v1.NodePool.newBuilder(), where).build());
            case "CronJob" -> new CronJobManifest(merge(object, dev.edgeplane.api.v1.CronJob.newBuilder(), where).build());
            case "VolumeSnapshotPolicy" -> new VolumeSnapshotPolicyManifest(
                    merge(object, dev.edgeplane.api.v1.VolumeSnapshotPolicy.newBuilder(), where).build());
            case "Quota" -> new QuotaManifest(merge(object, dev.edgeplane.api.v1.Quota.newBuilder(), where).build());
            case "ConfigMap" -> new ConfigMapManifest(merge(object, dev.edgeplane.api.v1.ConfigMap.newBuilder(), where).build());
            case "Secret" -> new SecretManifest(merge(withStringData(object, where), dev.edgeplane.api.v1.Secret.newBuilder(), where).build());
            case "Job" -> new JobManifest(merge(object, dev.edgeplane.api.v1.Job.newBuilder(), where).build());
            case "Autoscaler" -> new AutoscalerManifest(merge(object, dev.edgeplane.api.v1.Autoscaler.newBuilder(), where).build());
            case "ImagePrefetch" -> new ImagePrefetchManifest(merge(object, dev.edgeplane.api.v1.ImagePrefetch.newBuilder(), where).build());
            default -> throw new UsageException(where + ": unknown kind '" + kind + "' (" + KINDS + ")");
        };
    }

    private static final String KINDS = "App, JoinToken, NodePool, StorageClass, Volume, VolumeSnapshot, VolumeSnapshotPolicy, Job, CronJob, Autoscaler, Quota, ConfigMap, Secret or ImagePrefetch";

    /**
     * A Secret's {@code data} values are base64, as in the API's JSON and in Kubernetes; Kubernetes'
     * {@code stringData} (plain text, winning over data) is accepted too and turned into data here.
     */
    private static ObjectNode withStringData(ObjectNode secret, String where) {
        JsonNode plain = secret.remove("stringData");
        if (plain == null || plain.isNull()) {
            return secret;
        }
        if (!plain.isObject()) {
            throw new UsageException(where + ": stringData must be a map of strings");
        }
        ObjectNode data = secret.has("data") && secret.get("data").isObject() ? (ObjectNode) secret.get("data") : secret.putObject("data");
        plain.fields().forEachRemaining(e -> data.put(e.getKey(),
                java.util.Base64.getEncoder().encodeToString(e.getValue().asText().getBytes(java.nio.charset.StandardCharsets.UTF_8))));
        return secret;
    }

    private static <B extends Message.Builder> B merge(ObjectNode object, B builder, String where) {
        try {
            JsonFormat.parser().merge(JSON.writeValueAsString(object), builder);
            return builder;
        } catch (InvalidProtocolBufferException | JsonProcessingException e) {
            throw new UsageException(where + ": " + e.getMessage());
        }
    }
}
