package dev.edgeplane.cli;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * edgectl's config file ({@code ~/.config/edgectl/config.yaml} or {@code $EDGECTL_CONFIG}), kubeconfig-like:
 * settings at the top level (server, token, tokenFile, caFile, insecure) and named {@code contexts}, each
 * with the same settings, of which {@code current-context} is used unless --context or EDGECTL_CONTEXT
 * names another. Read with SnakeYAML alone: Jackson would add ~400 classes to every command's start-up.
 */
final class ConfigFile {
    static final String CURRENT_CONTEXT = "current-context";
    static final String CONTEXTS = "contexts";
    /** The settings a context (or the top level) may hold. */
    static final List<String> SETTINGS = List.of("server", "token", "tokenFile", "caFile", "insecure");

    private final Path path;
    private final Map<String, Object> root;

    private ConfigFile(Path path, Map<String, Object> root) {
        this.path = path;
        this.root = root;
    }

    static Path path(Map<String, String> env) {
        return env.containsKey("EDGECTL_CONFIG")
                ? Path.of(env.get("EDGECTL_CONFIG"))
                : Path.of(System.getProperty("user.home"), ".config", "edgectl", "config.yaml");
    }

    /** The file, or an empty one when there is none yet. */
    static ConfigFile read(Path path) {
        if (!Files.isRegularFile(path)) {
            return new ConfigFile(path, new LinkedHashMap<>());
        }
        try (Reader reader = Files.newBufferedReader(path)) {
            Object loaded = new Yaml(new SafeConstructor(new LoaderOptions())).load(reader);
            if (loaded == null) {
                return new ConfigFile(path, new LinkedHashMap<>());
            }
            if (!(loaded instanceof Map<?, ?> map)) {
                throw new UsageException("config file " + path + " is not a YAML mapping");
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> root = new LinkedHashMap<>((Map<String, Object>) map);
            return new ConfigFile(path, root);
        } catch (IOException | org.yaml.snakeyaml.error.YAMLException e) {
            throw new UsageException("cannot read config file " + path + ": " + e.getMessage());
        }
    }

    Path path() {
        return path;
    }

    /** The top-level settings (and the rest of the file). */
    Map<String, Object> topLevel() {
        return root;
    }

    /** A top-level setting, as text. */
    String text(String field) {
        return text(root, field);
    }

    static String text(Map<String, Object> settings, String field) {
        Object v = settings.get(field);
        return v == null ? null : v.toString();
    }

    String currentContext() {
        return text(CURRENT_CONTEXT);
    }

    /** The contexts in file order: each a mapping with a name. */
    List<Map<String, Object>> contexts() {
        Object list = root.get(CONTEXTS);
        if (list == null) {
            return List.of();
        }
        if (!(list instanceof List<?> items)) {
            throw new UsageException("config file " + path + ": contexts must be a list");
        }
        List<Map<String, Object>> contexts = new ArrayList<>();
        for (Object item : items) {
            if (!(item instanceof Map<?, ?> m) || !(m.get("name") instanceof String)) {
                throw new UsageException("config file " + path + ": every entry of contexts needs a name");
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> context = (Map<String, Object>) m;
            contexts.add(context);
        }
        return contexts;
    }

    Optional<Map<String, Object>> context(String name) {
        return contexts().stream().filter(c -> name.equals(c.get("name"))).findFirst();
    }

    /** Creates the context or changes the settings given (null: left as it is). */
    void setContext(String name, Map<String, Object> settings) {
        List<Map<String, Object>> contexts = new ArrayList<>(contexts());
        Map<String, Object> context = context(name).orElse(null);
        if (context == null) {
            context = new LinkedHashMap<>();
            context.put("name", name);
            contexts.add(context);
        } else {
            context = new LinkedHashMap<>(context);
            contexts.set(contexts.indexOf(context(name).get()), context);
        }
        for (var e : settings.entrySet()) {
            if (e.getValue() != null) {
                context.put(e.getKey(), e.getValue());
            }
        }
        root.put(CONTEXTS, contexts);
    }

    void useContext(String name) {
        if (context(name).isEmpty()) {
            throw new UsageException("no context \"" + name + "\" in " + path + " (edgectl config get-contexts)");
        }
        root.put(CURRENT_CONTEXT, name);
    }

    void deleteContext(String name) {
        List<Map<String, Object>> contexts = new ArrayList<>(contexts());
        if (!contexts.removeIf(c -> name.equals(c.get("name")))) {
            throw new UsageException("no context \"" + name + "\" in " + path);
        }
        root.put(CONTEXTS, contexts);
        if (name.equals(currentContext())) {
            root.remove(CURRENT_CONTEXT);
        }
    }

    /** Written whole to a temp file then moved over the old one, owner-only: it may hold a token. */
    void write() {
        DumperOptions options = new DumperOptions();
        options.setDefaultFlowStyle(DumperOptions.FlowStyle.BLOCK);
        options.setIndicatorIndent(2);
        options.setIndentWithIndicator(true);
        String text = new Yaml(options).dump(root);
        try {
            Path dir = path.toAbsolutePath().getParent();
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, ".config", ".yaml.tmp");
            try {
                if (Files.getFileStore(dir).supportsFileAttributeView("posix")) {
                    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-------"));
                }
                Files.writeString(tmp, text);
                Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new UsageException("cannot write config file " + path + ": " + e.getMessage());
        }
    }
}
