package dev.edgeplane.controlplane.store;

import dev.edgeplane.controlplane.ControlPlaneConfig;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.Map;

/** An {@link EtcdStore} outside CDI, for plain JUnit tests against a testkit etcd. */
public final class TestStores {
    private TestStores() {}

    public static EtcdStore store(String endpoint) {
        ControlPlaneConfig.Etcd etcd = config(ControlPlaneConfig.Etcd.class, Map.of("endpoints", List.of(endpoint)));
        return new EtcdStore(config(ControlPlaneConfig.class, Map.of("etcd", etcd)));
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
