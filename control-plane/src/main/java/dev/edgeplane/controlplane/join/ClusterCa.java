package dev.edgeplane.controlplane.join;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.SealedSecret;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.controlplane.secrets.SecretSealer;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import jakarta.enterprise.context.ApplicationScoped;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * The cluster CA, loaded from (or created in) etcd at startup. Its private key is kept sealed under
 * the key-encryption key of Secrets (a SealedSecret, as Secrets are), so reading etcd does not give
 * it away; a CA kept in the clear by an earlier version is sealed on the first start that has a key,
 * and one sealed under a rotated-out key is sealed again under the primary. Without a key it stays
 * in the clear, with a warning at every start.
 */
@ApplicationScoped
public class ClusterCa {
    private static final Logger LOG = Logger.getLogger(ClusterCa.class);
    /** Who the sealed CA is, for the seal's associated data: not a Secret any API call can name. */
    static final ObjectMeta SEALED_AS = ObjectMeta.newBuilder().setNamespace("edgeplane-system").setName("cluster-ca").build();
    private static final String PEM_KEY = "ca.pem";

    private final EtcdStore store;
    private final SecretSealer sealer;
    private volatile CertificateAuthority ca;

    public ClusterCa(EtcdStore store, SecretSealer sealer) {
        this.store = store;
        this.sealer = sealer;
    }

    public CertificateAuthority load() {
        ca = loadOrCreate();
        return ca;
    }

    public CertificateAuthority get() {
        CertificateAuthority current = ca;
        if (current == null) {
            synchronized (this) {
                if (ca == null) {
                    ca = loadOrCreate();
                }
                current = ca;
            }
        }
        return current;
    }

    private CertificateAuthority loadOrCreate() {
        for (int attempt = 0; attempt < 5; attempt++) {
            Optional<Entry<byte[]>> existing = store.get(Keys.CA);
            if (existing.isEmpty()) {
                CertificateAuthority created = CertificateAuthority.generate();
                if (store.create(Keys.CA, stored(created)).isPresent()) {
                    LOG.infof("generated the cluster CA (%s)%s", created.hash(), sealer.configured() ? ", its key sealed" : "");
                    warnIfClear();
                    return created;
                }
                continue; // another replica won the race: use its CA
            }
            byte[] raw = existing.get().value();
            if (new String(raw, 0, Math.min(raw.length, 11), StandardCharsets.US_ASCII).equals("-----BEGIN ")) {
                CertificateAuthority clear = CertificateAuthority.parse(new String(raw, StandardCharsets.UTF_8));
                if (sealer.configured() && store.update(Keys.CA, stored(clear), existing.get().modRevision()).isPresent()) {
                    LOG.infof("sealed the cluster CA's key under key '%s' (it was in etcd in the clear)", sealer.primaryKeyId());
                }
                warnIfClear();
                return clear;
            }
            SealedSecret sealed = EtcdStore.decode(SealedSecret.parser(), raw);
            if (!sealer.configured()) {
                throw new IllegalStateException("the cluster CA's key in etcd is sealed under key '" + sealed.getKeyId()
                        + "': start the control plane with its key-encryption key (edgeplane.secrets.key-file)");
            }
            // Opened as the CA whatever name it carries: a Secret's seal copied here fails authentication.
            CertificateAuthority opened = CertificateAuthority.parse(sealer.open(sealed.toBuilder().setMetadata(
                    sealed.getMetadata().toBuilder().setNamespace(SEALED_AS.getNamespace()).setName(SEALED_AS.getName())).build())
                    .getDataOrThrow(PEM_KEY).toStringUtf8());
            if (sealer.needsResealing(sealed) && store.update(Keys.CA, stored(opened), existing.get().modRevision()).isPresent()) {
                LOG.infof("sealed the cluster CA's key again, under key '%s' (it was under '%s')", sealer.primaryKeyId(), sealed.getKeyId());
            }
            return opened;
        }
        throw new IllegalStateException("the cluster CA in etcd kept changing under this start; start again");
    }

    private byte[] stored(CertificateAuthority authority) {
        if (!sealer.configured()) {
            return authority.storedPem().getBytes(StandardCharsets.UTF_8);
        }
        return sealer.seal(Secret.newBuilder().setMetadata(SEALED_AS).setType(Secret.Type.OPAQUE)
                .putData(PEM_KEY, ByteString.copyFromUtf8(authority.storedPem())).build()).toByteArray();
    }

    private void warnIfClear() {
        if (!sealer.configured()) {
            LOG.warn("the cluster CA's private key is kept in etcd in the clear: configure a key-encryption key "
                    + "(edgeplane.secrets.key-file) and it is sealed at the next start");
        }
    }
}
