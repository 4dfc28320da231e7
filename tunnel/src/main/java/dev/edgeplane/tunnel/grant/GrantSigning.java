package dev.edgeplane.tunnel.grant;

/** What marks a certificate as a grant signer's: an extended key usage the CA puts on no other certificate. */
public final class GrantSigning {
    /**
     * A private OID (ITU-T X.667 UUID arc 2.25): "may sign ops-tunnel session grants". Node certificates
     * carry clientAuth only and the endpoint's serverAuth only, so neither can pass as a grant signer,
     * whatever name a node chose.
     */
    public static final String OID = "2.25.261578318233395536431347094834853815437";

    private GrantSigning() {}
}
