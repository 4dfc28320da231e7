package dev.edgeplane.controlplane.sync;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * Puts the client certificate verified by the TLS handshake (if any) into the call's Context. (A
 * lambda, not a ServerInterceptor class: Quarkus would take such a class for one of its own.)
 */
final class PeerCertificates {
    static final Context.Key<X509Certificate> CLIENT_CERTIFICATE = Context.key("edgeplane-client-certificate");
    /** The caller's address as the server saw it (audit records, per-address limits); null if unknown. */
    static final Context.Key<java.net.SocketAddress> REMOTE_ADDRESS = Context.key("edgeplane-remote-address");

    private PeerCertificates() {}

    static ServerInterceptor interceptor() {
        return PeerCertificates::interceptCall;
    }

    /** The host part of a caller's address ("10.0.0.7"), or "unknown". */
    static String host(java.net.SocketAddress address) {
        if (address instanceof java.net.InetSocketAddress inet && inet.getAddress() != null) {
            return inet.getAddress().getHostAddress();
        }
        return address == null ? "unknown" : address.toString();
    }

    private static <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
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
        java.net.SocketAddress remote = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
        return Contexts.interceptCall(Context.current().withValues(CLIENT_CERTIFICATE, certificate,
                REMOTE_ADDRESS, remote), call, headers, next);
    }
}
