package dev.edgeplane.api;

import java.net.Socket;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.cert.X509Certificate;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.KeyManagerFactorySpi;
import javax.net.ssl.ManagerFactoryParameters;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;

/**
 * One TLS identity (key and certificate chain) that can be replaced while connections are open: a
 * renewed node certificate, a reissued server certificate. Handshakes after {@link #set} present the
 * new one; connections already up keep theirs. Each identity has its own alias, so a caching layer
 * keyed by alias (netty's OpenSSL key material cache) never serves a replaced one.
 */
public final class SwappableKeyManager extends X509ExtendedKeyManager {
    /** A private key and the certificate chain it proves, leaf first. */
    public record Identity(PrivateKey key, X509Certificate[] chain) {
        public Identity {
            Objects.requireNonNull(key, "key");
            if (chain.length == 0) {
                throw new IllegalArgumentException("an identity needs its certificate");
            }
            chain = chain.clone();
        }

        public X509Certificate certificate() {
            return chain[0];
        }

        String alias() {
            return "identity-" + chain[0].getSerialNumber().toString(16);
        }
    }

    private final AtomicReference<Identity> current;

    public SwappableKeyManager(Identity identity) {
        this.current = new AtomicReference<>(identity);
    }

    public Identity get() {
        return current.get();
    }

    public void set(Identity identity) {
        current.set(Objects.requireNonNull(identity));
    }

    /** This key manager as a factory, for TLS builders that take one (netty's SslContextBuilder). */
    public KeyManagerFactory asFactory() {
        KeyManager[] managers = {this};
        return new KeyManagerFactory(new KeyManagerFactorySpi() {
            @Override
            protected void engineInit(KeyStore ks, char[] password) {}

            @Override
            protected void engineInit(ManagerFactoryParameters spec) {}

            @Override
            protected KeyManager[] engineGetKeyManagers() {
                return managers.clone();
            }
        }, PROVIDER, "edgeplane-swappable") {};
    }

    private static final Provider PROVIDER = new Provider("edgeplane-swappable", "1", "a replaceable TLS identity") {};

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
        return new String[] {current.get().alias()};
    }

    @Override
    public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
        return current.get().alias();
    }

    @Override
    public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
        return current.get().alias();
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
        return new String[] {current.get().alias()};
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
        return matches(keyType) ? current.get().alias() : null;
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
        return matches(keyType) ? current.get().alias() : null;
    }

    /** The identity an alias names: the current one, or null for a replaced one (a handshake that raced a swap). */
    private Identity of(String alias) {
        Identity identity = current.get();
        return identity.alias().equals(alias) ? identity : null;
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
        Identity identity = of(alias);
        return identity == null ? null : identity.chain();
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
        Identity identity = of(alias);
        return identity == null ? null : identity.key();
    }

    /** TLS 1.2 servers ask per key type ("EC", "RSA", or "EC_EC"-style names): answer only for the key we hold. */
    private boolean matches(String keyType) {
        String algorithm = current.get().key().getAlgorithm();
        return keyType == null || keyType.startsWith(algorithm) || ("EC".equals(algorithm) && keyType.startsWith("EC"));
    }
}
