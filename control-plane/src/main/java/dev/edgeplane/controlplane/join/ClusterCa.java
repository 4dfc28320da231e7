package dev.edgeplane.controlplane.join;

import dev.edgeplane.controlplane.store.EtcdStore;
import jakarta.enterprise.context.ApplicationScoped;

/** Holds the cluster CA once it is loaded from (or created in) etcd at startup. */
@ApplicationScoped
public class ClusterCa {
    private final EtcdStore store;
    private volatile CertificateAuthority ca;

    public ClusterCa(EtcdStore store) {
        this.store = store;
    }

    public CertificateAuthority load() {
        ca = CertificateAuthority.loadOrCreate(store);
        return ca;
    }

    public CertificateAuthority get() {
        CertificateAuthority current = ca;
        if (current == null) {
            synchronized (this) {
                if (ca == null) {
                    ca = CertificateAuthority.loadOrCreate(store);
                }
                current = ca;
            }
        }
        return current;
    }
}
