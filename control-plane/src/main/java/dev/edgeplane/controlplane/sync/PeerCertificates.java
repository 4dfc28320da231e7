package dev.edgeplane.controlplane.sync;

import dev.edgeplane.controlplane.join.CertificateAuthority;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import javax.net.ssl.X509TrustManager;

/**
 * Puts the client certificate of the call's TLS session (if any) into the call's Context. (A method
 * reference, not a ServerInterceptor class: Quarkus would take such a class for one of its own.)
 *
 * <p>The certificate is checked again by the endpoint's trust, once per connection, at its first
 * call: a session resumed from a TLS ticket skipped the handshake's check (grpc-java makes its own
 * SslHandler, so Netty's re-check of resumed sessions never runs), and the certificate in the ticket
 * may have expired, or its CA be trusted no more, since. With the recorded certificate hash the check
 * costs a hash lookup.
 *
 * <p>The node a certificate names (its CN) and the certificate's hash are worked out at that check
 * and kept in the session as its verdict: an agent's connection carries a heartbeat every 30 s
 * (~630 calls a second at 19,000 nodes), and each call parsed the name and hashed the certificate
 * again.
 */
final class PeerCertificates {
    static final Context.Key<X509Certificate> CLIENT_CERTIFICATE = Context.key("edgeplane-client-certificate");
    /** The node of the call's client certificate (null without one): its CN and the certificate's hash. */
    static final Context.Key<NodePeer> NODE_PEER = Context.key("edgeplane-node-peer");
    /** The caller's address as the server saw it (audit records, per-address limits); null if unknown. */
    static final Context.Key<java.net.SocketAddress> REMOTE_ADDRESS = Context.key("edgeplane-remote-address");

    /** The session value that holds the connection's {@link NodePeer} once its certificate passed the check. */
    private static final String CHECKED = "edgeplane.client-certificate-checked";

    /** The node on the other end of an agent connection: its certificate's CN and sha256 ("sha256:hex"). */
    record NodePeer(String node, String certificateHash) {
        static NodePeer of(X509Certificate certificate) {
            return new NodePeer(CertificateAuthority.commonName(certificate), CertificateAuthority.hashOf(certificate));
        }
    }

    private final X509TrustManager trust;

    private PeerCertificates(X509TrustManager trust) {
        this.trust = trust;
    }

    /** @param trust the endpoint's trust in client certificates (the one its TLS uses) */
    static ServerInterceptor interceptor(X509TrustManager trust) {
        return new PeerCertificates(trust)::interceptCall;
    }

    /** The host part of a caller's address ("10.0.0.7"), or "unknown". */
    static String host(java.net.SocketAddress address) {
        if (address instanceof java.net.InetSocketAddress inet && inet.getAddress() != null) {
            return inet.getAddress().getHostAddress();
        }
        return address == null ? "unknown" : address.toString();
    }

    private <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        X509Certificate certificate = null;
        SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
        if (session != null) {
            try {
                Certificate[] chain = session.getPeerCertificates();
                if (chain.length > 0 && chain[0] instanceof X509Certificate x509) {
                    certificate = x509;
                }
            } catch (SSLPeerUnverifiedException e) {
                // no client certificate: fine for Join, refused by Sync
            }
        }
        NodePeer peer = null;
        if (certificate != null) {
            if (session.getValue(CHECKED) instanceof NodePeer known) {
                peer = known;
            } else {
                try {
                    trust.checkClientTrusted(new X509Certificate[] {certificate}, "session");
                } catch (CertificateException e) {
                    call.close(Status.UNAUTHENTICATED.withDescription("the client certificate of this TLS session is not accepted: "
                            + e.getMessage()), new Metadata());
                    return new ServerCall.Listener<>() {};
                }
                peer = NodePeer.of(certificate);
                session.putValue(CHECKED, peer);
            }
        }
        java.net.SocketAddress remote = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
        return Contexts.interceptCall(Context.current().withValues(CLIENT_CERTIFICATE, certificate, NODE_PEER, peer,
                REMOTE_ADDRESS, remote), call, headers, next);
    }
}
