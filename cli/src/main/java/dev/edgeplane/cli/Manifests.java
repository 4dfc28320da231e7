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
    sealed interface Manifest permits AppManifest, JoinTokenManifest, VolumeManifest, VolumeSnapshotManifest, QuotaManifest {}

    record AppManifest(App app) implements Manifest {}

    record JoinTokenManifest(JoinToken token) implements Manifest {}

    record VolumeManifest(dev.edgeplane.api.v1.Volume volume) implements Manifest {}

    record VolumeSnapshotManifest(dev.edgeplane.api.v1.VolumeSnapshot snapshot) implements Manifest {}

    record QuotaManifest(dev.edgeplane.api.v1.Quota quota) implements Manifest {}

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
            throw new UsageException(where + ": missing 'kind' (App, JoinToken, Volume, VolumeSnapshot or Quota)");
        }
        String kind = object.remove("kind").asText();
        object.remove("apiVersion");
        return switch (kind) {
            case "App" -> new AppManifest(merge(object, App.newBuilder(), where).build());
            case "JoinToken" -> new JoinTokenManifest(merge(object, JoinToken.newBuilder(), where).build());
            case "Volume" -> new VolumeManifest(merge(object, dev.edgeplane.api.v1.Volume.newBuilder(), where).build());
            case "VolumeSnapshot" -> new VolumeSnapshotManifest(
                    merge(object, dev.edgeplane.api.v1.VolumeSnapshot.newBuilder(), where).build());
            case "Quota" -> new QuotaManifest(merge(object, dev.edgeplane.api.v1.Quota.newBuilder(), where).build());
            default -> throw new UsageException(where + ": unknown kind '" + kind + "' (App, JoinToken, Volume, VolumeSnapshot or Quota)");
        };
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
