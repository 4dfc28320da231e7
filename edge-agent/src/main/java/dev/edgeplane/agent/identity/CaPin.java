package dev.edgeplane.agent.identity;

import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * kubeadm-style CA pinning for the first contact: the server's presented chain must contain a
 * certificate whose sha256(DER) is the pinned hash, and the leaf must be a SERVER certificate that CA
 * signed for the name the agent dialled: not a CA, extended key usage serverAuth, the host in its
 * subject alternative names. A node's certificate (clientAuth) from the same CA is refused, so a
 * stolen node identity cannot pose as the control plane and collect join tokens.
 */
public final class CaPin {
    private static final Pattern FORMAT = Pattern.compile("sha256:[0-9a-f]{64}");
    private static final String SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
    private static final int SAN_DNS = 2;
    private static final int SAN_IP = 7;

    private final String hash;

    private CaPin(String hash) {
        this.hash = hash;
    }

    /** Parses "sha256:<64 hex>"; throws IllegalArgumentException with a clear message otherwise. */
    public static CaPin parse(String text) {
        String normalized = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        if (!FORMAT.matcher(normalized).matches()) {
            throw new IllegalArgumentException("--ca-hash must be sha256:<64 hex digits>, got '" + text + "'");
        }
        return new CaPin(normalized);
    }

    public String hash() {
        return hash;
    }

    /** "sha256:" + hex(sha256(DER)). */
    public static String hashOf(X509Certificate certificate) {
        return dev.edgeplane.api.CertificateHashes.sha256(certificate);
    }

    public boolean matches(X509Certificate certificate) {
        return hash.equals(hashOf(certificate));
    }

    /** A trust manager for the join call to {@code host}; remembers why it refused so the CLI can say so. */
    public PinningTrustManager trustManager(String host) {
        return new PinningTrustManager(this, host);
    }

    /** The one certificate of {@code certificates} with the pinned hash, if any. */
    public java.util.Optional<X509Certificate> find(java.util.List<X509Certificate> certificates) {
        return certificates.stream().filter(this::matches).findFirst();
    }

    /** Thrown (inside the TLS handshake) when no presented certificate has the pinned hash. */
    public static final class PinMismatchException extends CertificateException {
        PinMismatchException(String message) {
            super(message);
        }
    }

    public static final class PinningTrustManager extends X509ExtendedTrustManager {
        private final CaPin pin;
        private final String host;
        private final AtomicReference<CertificateException> refusal = new AtomicReference<>();

        private PinningTrustManager(CaPin pin, String host) {
            this.pin = pin;
            this.host = host;
        }

        /** Why the server was refused, if it was. */
        public CertificateException refusal() {
            return refusal.get();
        }

        void verify(X509Certificate[] chain) throws CertificateException {
            try {
                verifyChain(chain);
            } catch (CertificateException e) {
                refusal.set(e);
                throw e;
            }
        }

        private void verifyChain(X509Certificate[] chain) throws CertificateException {
            if (chain == null || chain.length == 0) {
                throw new CertificateException("the server presented no certificate");
            }
            X509Certificate ca = null;
            for (X509Certificate certificate : chain) {
                if (pin.matches(certificate)) {
                    ca = certificate;
                    break;
                }
            }
            if (ca == null) {
                throw new PinMismatchException("the server's CA does not match --ca-hash " + pin.hash
                        + " (it presented " + hashOf(chain[chain.length - 1]) + ")");
            }
            X509Certificate leaf = chain[0];
            if (leaf.getBasicConstraints() != -1) {
                throw new CertificateException("the server presented a CA certificate, not a server certificate");
            }
            java.util.List<String> usages = leaf.getExtendedKeyUsage();
            if (usages == null || !usages.contains(SERVER_AUTH)) {
                throw new CertificateException("the server's certificate (" + leaf.getSubjectX500Principal().getName()
                        + ") is not for server authentication: not the control plane's");
            }
            java.util.List<String> names = names(leaf);
            if (!names.contains(normalise(host))) {
                throw new CertificateException("the server's certificate is for " + names + ", not " + host
                        + ": join with --server naming one of them (the control plane's edgeplane.agent.advertise host)");
            }
            try {
                leaf.checkValidity();
                ca.checkValidity();
                leaf.verify(ca.getPublicKey());
            } catch (GeneralSecurityException e) {
                throw new CertificateException("the server certificate is not validly signed by the pinned CA: " + e.getMessage(), e);
            }
        }

        /** The DNS names (lower case) and IP addresses (normalised) the certificate is for. */
        private static java.util.List<String> names(X509Certificate leaf) throws CertificateException {
            java.util.List<String> names = new java.util.ArrayList<>();
            java.util.Collection<java.util.List<?>> sans = leaf.getSubjectAlternativeNames();
            if (sans != null) {
                for (java.util.List<?> san : sans) {
                    int type = (Integer) san.get(0);
                    if (type == SAN_DNS || type == SAN_IP) {
                        names.add(normalise((String) san.get(1)));
                    }
                }
            }
            return names;
        }

        /** An IP literal in one form (IPv6 has several); a DNS name in lower case. */
        private static String normalise(String name) {
            String bare = name.startsWith("[") && name.endsWith("]") ? name.substring(1, name.length() - 1) : name;
            if (bare.contains(":") || bare.matches("[0-9.]+")) {
                try {
                    return java.net.InetAddress.getByName(bare).getHostAddress(); // a literal: no lookup
                } catch (java.net.UnknownHostException e) {
                    return bare;
                }
            }
            return bare.toLowerCase(Locale.ROOT);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            verify(chain);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            verify(chain);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            verify(chain);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            throw new CertificateException("client side only");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            throw new CertificateException("client side only");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            throw new CertificateException("client side only");
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
