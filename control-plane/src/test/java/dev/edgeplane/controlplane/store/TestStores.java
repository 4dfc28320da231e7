package dev.edgeplane.controlplane.store;

import dev.edgeplane.controlplane.ControlPlaneConfig;
import java.lang.reflect.Proxy;
import java.util.List;

/** An {@link EtcdStore} outside CDI, for plain JUnit tests against a testkit etcd. */
final class TestStores {
    private TestStores() {}

    static EtcdStore store(String endpoint) {
        ControlPlaneConfig.Etcd etcd = proxy(ControlPlaneConfig.Etcd.class, "endpoints", List.of(endpoint));
        return new EtcdStore(proxy(ControlPlaneConfig.class, "etcd", etcd));
    }

    @SuppressWarnings("unchecked")
    private static <T> T proxy(Class<T> type, String method, Object answer) {
        return (T) Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, (self, m, args) -> {
            if (m.getName().equals(method)) {
                return answer;
            }
            throw new UnsupportedOperationException(m.getName() + " is not configured in this test");
        });
    }
}
