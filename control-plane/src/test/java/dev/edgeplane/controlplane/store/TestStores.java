package dev.edgeplane.controlplane.store;

import dev.edgeplane.controlplane.ControlPlaneConfig;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** An {@link EtcdStore} outside CDI, for plain JUnit tests against a testkit etcd. */
public final class TestStores {
    private TestStores() {}

    public static EtcdStore store(String endpoint) {
        return new EtcdStore(config(ControlPlaneConfig.class, Map.of("etcd", etcd(endpoint))));
    }

    /** The etcd settings for a plain-http etcd at {@code endpoint}: no TLS files. */
    public static ControlPlaneConfig.Etcd etcd(String endpoint) {
        return etcd(List.of(endpoint), null, null, null);
    }

    /** The etcd settings with these TLS files (null: unset). */
    public static ControlPlaneConfig.Etcd etcd(List<String> endpoints, Path caFile, Path certFile, Path keyFile) {
        return config(ControlPlaneConfig.Etcd.class, Map.of("endpoints", endpoints,
                "caFile", Optional.ofNullable(caFile).map(Path::toString),
                "certFile", Optional.ofNullable(certFile).map(Path::toString),
                "keyFile", Optional.ofNullable(keyFile).map(Path::toString)));
    }

    /** A config mapping (or one of its groups) answering {@code answers} by method name; any other method fails. */
    @SuppressWarnings("unchecked")
    public static <T> T config(Class<T> type, Map<String, Object> answers) {
        return (T) Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, (self, m, args) -> {
            if (answers.containsKey(m.getName())) {
                return answers.get(m.getName());
            }
            throw new UnsupportedOperationException(m.getName() + " is not configured in this test");
        });
    }
}
