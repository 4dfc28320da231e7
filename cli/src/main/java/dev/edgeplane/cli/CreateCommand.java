package dev.edgeplane.cli;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.ConfigMap;
import dev.edgeplane.api.v1.CreateConfigMapRequest;
import dev.edgeplane.api.v1.CreateSecretRequest;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.Secret;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** kubectl's `create configmap` and `create secret`: an object from literals, files and registry credentials. */
@Command(name = "create", description = "Create a configmap or secret from literals and files, or a job from a cronjob: "
        + "edgectl create job NAME --from=cronjob/CRONJOB; "
        + "edgectl create configmap|secret NAME [--from-literal KEY=VALUE]... [--from-file [KEY=]PATH]... "
        + "[--type opaque|registry-credentials|tls] [--docker-server S --docker-username U --docker-password P]")
final class CreateCommand implements Callable<Integer> {
    @ParentCommand Edgectl root;
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "TYPE", description = "configmap, secret or job")
    String type;

    @Parameters(index = "1", paramLabel = "NAME")
    String name;

    @Option(names = {"-n", "--namespace"}, defaultValue = "default")
    String namespace;

    @Option(names = "--from-literal", paramLabel = "KEY=VALUE", description = "A key and its value (repeatable).")
    List<String> literals = new ArrayList<>();

    @Option(names = "--from-file", paramLabel = "[KEY=]PATH", description = "A file's content under its name or KEY (repeatable).")
    List<String> files = new ArrayList<>();

    @Option(names = "--type", description = "Secret type: opaque (default), registry-credentials or tls.")
    String secretType = "opaque";

    @Option(names = "--from", paramLabel = "cronjob/NAME", description = "A job: made now from this CronJob's job_template (kubectl create job --from).")
    String from;

    @Option(names = "--docker-server", description = "Registry credentials: the registry host[:port].")
    String dockerServer;

    @Option(names = "--docker-username")
    String dockerUsername;

    @Option(names = "--docker-password")
    String dockerPassword;

    @Override
    public Integer call() throws Exception {
        if (type.equals("job") || type.equals("jobs")) {
            if (from == null || !from.startsWith("cronjob/") && !from.startsWith("cronjobs/") && !from.startsWith("cj/")) {
                throw new UsageException("create job needs --from=cronjob/NAME");
            }
            try (ApiClient api = root.connect()) {
                var job = CronJobs.trigger(api, namespace, from.substring(from.indexOf('/') + 1), name);
                spec.commandLine().getOut().println("job/" + namespace + "/" + job.getMetadata().getName() + " created");
            }
            return 0;
        }
        ResourceKind kind = ResourceKind.parse(type);
        Map<String, ByteString> data = data();
        ObjectMeta meta = ObjectMeta.newBuilder().setNamespace(namespace).setName(name).build();
        try (ApiClient api = root.connect()) {
            if (kind == ResourceKind.CONFIGMAP) {
                ConfigMap.Builder configMap = ConfigMap.newBuilder().setMetadata(meta);
                data.forEach((k, v) -> {
                    if (v.isValidUtf8()) {
                        configMap.putData(k, v.toStringUtf8());
                    } else {
                        configMap.putBinaryData(k, v);
                    }
                });
                api.configMaps().createConfigMap(CreateConfigMapRequest.newBuilder().setConfigMap(configMap).build());
            } else if (kind == ResourceKind.SECRET) {
                Secret.Type secret = secretType(secretType);
                if (dockerServer != null) {
                    secret = Secret.Type.REGISTRY_CREDENTIALS;
                    data.put(".dockerconfigjson", ByteString.copyFromUtf8(dockerConfigJson(dockerServer, dockerUsername, dockerPassword)));
                }
                api.secrets().createSecret(CreateSecretRequest.newBuilder().setSecret(Secret.newBuilder().setMetadata(meta)
                        .setType(secret).putAllData(data)).build());
            } else {
                throw new UsageException("create makes configmaps and secrets (other resources: edgectl apply -f)");
            }
        }
        spec.commandLine().getOut().println(kind.name().toLowerCase() + "/" + namespace + "/" + name + " created");
        return 0;
    }

    private Map<String, ByteString> data() throws IOException {
        Map<String, ByteString> data = new LinkedHashMap<>();
        for (String literal : literals) {
            int eq = literal.indexOf('=');
            if (eq <= 0) {
                throw new UsageException("--from-literal takes KEY=VALUE (got '" + literal + "')");
            }
            data.put(literal.substring(0, eq), ByteString.copyFromUtf8(literal.substring(eq + 1)));
        }
        for (String file : files) {
            int eq = file.indexOf('=');
            Path path = Path.of(eq > 0 ? file.substring(eq + 1) : file);
            if (!Files.isRegularFile(path)) {
                throw new UsageException("--from-file: no such file: " + path);
            }
            data.put(eq > 0 ? file.substring(0, eq) : path.getFileName().toString(), ByteString.copyFrom(Files.readAllBytes(path)));
        }
        return data;
    }

    static Secret.Type secretType(String text) {
        return switch (text) {
            case "opaque", "generic" -> Secret.Type.OPAQUE;
            case "registry-credentials", "docker-registry" -> Secret.Type.REGISTRY_CREDENTIALS;
            case "tls" -> Secret.Type.TLS;
            default -> throw new UsageException("unknown secret type '" + text + "' (opaque, registry-credentials, tls)");
        };
    }

    /** Kubernetes' .dockerconfigjson for one registry: username, password and their base64 "auth". */
    static String dockerConfigJson(String server, String username, String password) {
        if (username == null || password == null) {
            throw new UsageException("--docker-server needs --docker-username and --docker-password");
        }
        String auth = Base64.getEncoder().encodeToString((username + ":" + password).getBytes(StandardCharsets.UTF_8));
        var json = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode();
        json.putObject("auths").putObject(server).put("username", username).put("password", password).put("auth", auth);
        return json.toString();
    }
}
