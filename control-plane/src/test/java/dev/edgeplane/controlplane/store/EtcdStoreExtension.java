package dev.edgeplane.controlplane.store;

import dev.edgeplane.testkit.EtcdServer;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real etcd and an {@link EtcdStore} on it for one test class, outside CDI: register it as
 * {@code @RegisterExtension static final EtcdStoreExtension etcd = new EtcdStoreExtension();}.
 * Started before the class's own {@code @BeforeAll}, stopped after its {@code @AfterAll}.
 */
public final class EtcdStoreExtension implements BeforeAllCallback, AfterAllCallback {
    private EtcdServer etcd;
    private EtcdStore store;

    @Override
    public void beforeAll(ExtensionContext context) {
        etcd = EtcdServer.start();
        store = TestStores.store(etcd.endpoint());
    }

    @Override
    public void afterAll(ExtensionContext context) {
        if (store != null) {
            store.close();
        }
        if (etcd != null) {
            etcd.close();
        }
    }

    public EtcdStore store() {
        return store;
    }

    public EtcdServer server() {
        return etcd;
    }

    public String endpoint() {
        return etcd.endpoint();
    }
}
