package dev.edgeplane.agent.images;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import com.google.protobuf.ByteString;
import dev.edgeplane.agent.configs.AssignedConfigs;
import dev.edgeplane.api.v1.ConfigData;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.cri.v1.AuthConfig;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The credentials to pull an image with, from the Secrets a pod names in image_pull_secrets
 * (REGISTRY_CREDENTIALS, Kubernetes' dockerconfigjson), matched as the kubelet's keyring matches: the
 * image's registry (none: docker.io) must be an auths key's host[:port], and the key's path, if it
 * has one, a prefix of the image's repository path (whole segments); the longest such path wins, and
 * between equals the Secret named first. Pure: no I/O and no logging, since what it reads is secret.
 */
public final class RegistryCredentials {
    /** The Secret key that holds the dockerconfigjson. */
    public static final String DOCKER_CONFIG_JSON = ".dockerconfigjson";
    private static final String DOCKER_HUB = "docker.io";
    private static final Pattern JSON_POSITION = Pattern.compile("line \\d+ column \\d+");
    // What containerd (and CRI-O) say when the registry answers 401 or 403.
    private static final Pattern REFUSED = Pattern.compile(
            "401 Unauthorized|403 Forbidden|\\bunauthorized\\b|failed to authorize|authorization failed|access denied|denied:",
            Pattern.CASE_INSENSITIVE);

    private RegistryCredentials() {}

    /**
     * How to pull one image. {@code auth} empty: anonymously; {@code secret}: the Secret the
     * credentials came from; {@code problems}: named Secrets that were missing or unreadable (each
     * ignored, as the kubelet does, and said in the status and an event).
     */
    public record Pull(String registry, Optional<AuthConfig> auth, String secret, List<String> problems) {
        public Pull {
            problems = List.copyOf(problems);
        }

        /** The status message for a failed pull: says when the registry refused (wrong or no credentials). */
        public String explain(String runtimeError) {
            StringBuilder message = new StringBuilder();
            if (REFUSED.matcher(runtimeError).find()) {
                message.append(auth.isPresent()
                        ? "registry " + registry + " refused the credentials of image pull secret \"" + secret + "\""
                        : "registry " + registry + " refused the pull: it needs credentials and no image pull secret has any for it")
                        .append(" (").append(runtimeError).append(")");
            } else {
                message.append(runtimeError);
            }
            problems.forEach(p -> message.append("; ").append(p));
            return message.toString();
        }

        @Override
        public String toString() {
            // Never the credentials: a record's own toString would print the AuthConfig.
            return "Pull[registry=" + registry + ", secret=" + (auth.isPresent() ? secret : "(none)") + ", problems=" + problems + "]";
        }
    }

    /** An image's registry and repository path, e.g. busybox -> docker.io, library/busybox. */
    record ImageName(String registry, String path) {
        static ImageName parse(String image) {
            String name = image.contains("@") ? image.substring(0, image.indexOf('@')) : image;
            int slash = name.indexOf('/');
            String first = slash < 0 ? "" : name.substring(0, slash);
            // Docker's rule: the first part names a registry only if it has a dot or a port, or is localhost.
            boolean hasRegistry = first.contains(".") || first.contains(":") || first.equals("localhost");
            String path = hasRegistry ? name.substring(slash + 1) : slash < 0 ? "library/" + name : name;
            int tag = path.lastIndexOf(':');
            if (tag > path.lastIndexOf('/')) {
                path = path.substring(0, tag);
            }
            return new ImageName(hasRegistry ? canonicalHost(first) : DOCKER_HUB, path);
        }
    }

    /** An auths key as host[:port] and an optional repository path prefix. */
    record RegistryKey(String host, String path) {
        /** "https://index.docker.io/v1/" -> docker.io; "http://r.example:5000/team/" -> r.example:5000, team. */
        static RegistryKey parse(String key) {
            String k = key.trim();
            for (String scheme : List.of("https://", "http://")) {
                if (k.regionMatches(true, 0, scheme, 0, scheme.length())) {
                    k = k.substring(scheme.length());
                }
            }
            while (k.endsWith("/")) {
                k = k.substring(0, k.length() - 1);
            }
            int slash = k.indexOf('/');
            String host = slash < 0 ? k : k.substring(0, slash);
            String path = slash < 0 ? "" : k.substring(slash + 1);
            // /v1/ and /v2/ name the registry API, not a repository (docker's ResolveAuthConfig, the kubelet).
            if (path.equals("v1") || path.equals("v2")) {
                path = "";
            } else if (path.startsWith("v1/") || path.startsWith("v2/")) {
                path = path.substring(3);
            }
            return new RegistryKey(canonicalHost(host), path);
        }

        boolean matches(ImageName image) {
            return host.equals(image.registry())
                    && (path.isEmpty() || image.path().equals(path) || image.path().startsWith(path + "/"));
        }
    }

    private static String canonicalHost(String host) {
        String h = host.toLowerCase(Locale.ROOT);
        return h.equals("index.docker.io") ? DOCKER_HUB : h;
    }

    /**
     * The credentials for {@code image} from the Secrets named (in image_pull_secrets order), looked up
     * in the assignment's config_data. Never throws for bad Secret contents: they become problems.
     */
    public static Pull forImage(String image, List<String> secretNames, List<ConfigData> configData) {
        ImageName name = ImageName.parse(image);
        List<String> problems = new ArrayList<>();
        AuthConfig best = null;
        String bestSecret = "";
        int bestLength = -1;
        for (String secret : secretNames) {
            Optional<ConfigData> data = AssignedConfigs.find(configData, ConfigRef.Kind.SECRET, secret);
            if (data.isEmpty()) {
                problems.add("image pull secret \"" + secret + "\" does not exist; pulling without it");
                continue;
            }
            try {
                for (Candidate candidate : candidates(data.get(), name)) {
                    // Strictly longer: between equals, the earlier Secret (and entry) stays.
                    if (candidate.key().path().length() > bestLength) {
                        best = candidate.auth();
                        bestSecret = secret;
                        bestLength = candidate.key().path().length();
                    }
                }
            } catch (Unreadable e) {
                problems.add("image pull secret \"" + secret + "\" " + e.getMessage() + "; ignored");
            }
        }
        return new Pull(name.registry(), Optional.ofNullable(best), bestSecret, problems);
    }

    private record Candidate(RegistryKey key, AuthConfig auth) {}

    /** The entries of one Secret that match the image, in the order it lists them. */
    private static List<Candidate> candidates(ConfigData secret, ImageName image) throws Unreadable {
        if (secret.getSecretType() != Secret.Type.REGISTRY_CREDENTIALS) {
            throw new Unreadable("is of type " + secret.getSecretType() + ", not REGISTRY_CREDENTIALS");
        }
        ByteString json = secret.getDataMap().get(DOCKER_CONFIG_JSON);
        if (json == null) {
            throw new Unreadable("has no " + DOCKER_CONFIG_JSON);
        }
        JsonElement root;
        try {
            root = JsonParser.parseString(json.toString(StandardCharsets.UTF_8));
        } catch (JsonParseException e) {
            // Gson's message may quote the input: only its position goes out.
            Matcher at = JSON_POSITION.matcher(String.valueOf(e.getMessage()));
            throw new Unreadable("has a " + DOCKER_CONFIG_JSON + " that is not valid JSON" + (at.find() ? " (at " + at.group() + ")" : ""));
        }
        JsonElement auths = root.isJsonObject() ? root.getAsJsonObject().get("auths") : null;
        if (auths == null || !auths.isJsonObject()) {
            throw new Unreadable("has a " + DOCKER_CONFIG_JSON + " without an \"auths\" object");
        }
        List<Candidate> matching = new ArrayList<>();
        for (Map.Entry<String, JsonElement> entry : auths.getAsJsonObject().entrySet()) {
            RegistryKey key = RegistryKey.parse(entry.getKey());
            if (key.matches(image)) {
                matching.add(new Candidate(key, authOf(entry.getKey(), entry.getValue())));
            }
        }
        return matching;
    }

    /**
     * "auth" (base64 of user:password) if there, else username and password. server_address stays
     * empty, meaning "for this pull", which is what the match decided: containerd 1.6 url-parses it,
     * fails the pull on the kubelet's "host:port" ("first path segment in URL cannot contain colon")
     * and drops the credentials unless the URL's host is the host it pulls from.
     */
    private static AuthConfig authOf(String key, JsonElement value) throws Unreadable {
        String where = "has an entry for \"" + key + "\" ";
        if (!value.isJsonObject()) {
            throw new Unreadable(where + "that is not an object");
        }
        JsonObject entry = value.getAsJsonObject();
        String auth = string(entry, "auth", where);
        if (!auth.isEmpty()) {
            String decoded;
            try {
                decoded = new String(Base64.getDecoder().decode(auth.trim()), StandardCharsets.UTF_8);
            } catch (IllegalArgumentException e) {
                throw new Unreadable(where + "whose \"auth\" is not base64");
            }
            int colon = decoded.indexOf(':');
            if (colon <= 0) {
                throw new Unreadable(where + "whose \"auth\" is not base64 of user:password");
            }
            return AuthConfig.newBuilder().setUsername(decoded.substring(0, colon)).setPassword(decoded.substring(colon + 1)).build();
        }
        String username = string(entry, "username", where);
        if (username.isEmpty()) {
            throw new Unreadable(where + "with neither \"auth\" nor \"username\"");
        }
        return AuthConfig.newBuilder().setUsername(username).setPassword(string(entry, "password", where)).build();
    }

    private static String string(JsonObject entry, String field, String where) throws Unreadable {
        JsonElement value = entry.get(field);
        if (value == null || value.isJsonNull()) {
            return "";
        }
        if (value instanceof JsonPrimitive p && p.isString()) {
            return p.getAsString();
        }
        throw new Unreadable(where + "whose \"" + field + "\" is not a string");
    }

    /** A Secret whose contents cannot be used; the message never quotes them. */
    private static final class Unreadable extends Exception {
        Unreadable(String message) {
            super(message, null, false, false);
        }
    }
}
