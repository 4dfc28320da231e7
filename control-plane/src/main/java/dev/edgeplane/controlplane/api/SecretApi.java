package dev.edgeplane.controlplane.api;

import com.google.protobuf.ByteString;
import dev.edgeplane.api.ConfigRefs;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.CreateSecretRequest;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.DeleteSecretRequest;
import dev.edgeplane.api.v1.GetSecretRequest;
import dev.edgeplane.api.v1.ListSecretsRequest;
import dev.edgeplane.api.v1.ListSecretsResponse;
import dev.edgeplane.api.v1.SealedSecret;
import dev.edgeplane.api.v1.Secret;
import dev.edgeplane.api.v1.SecretServiceGrpc;
import dev.edgeplane.api.v1.UpdateSecretRequest;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.secrets.SealingException;
import dev.edgeplane.controlplane.secrets.SecretSealer;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.OptionalLong;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * SecretService: Secrets sealed at rest ({@link SecretSealer}) at /edgeplane/secrets/&lt;ns&gt;/&lt;name&gt;.
 * Get opens one; List shows key names only. Values never reach a log: only names are logged, and a
 * Secret message (whose toString prints its data) is never handed to a logger.
 */
@GrpcService
@Blocking
public class SecretApi extends SecretServiceGrpc.SecretServiceImplBase {
    private static final Logger LOG = Logger.getLogger(SecretApi.class);
    static final String DOCKER_CONFIG = ".dockerconfigjson";

    private final EtcdStore store;
    private final StateCaches caches;
    private final SecretSealer sealer;
    private final ApiLimits limits;

    public SecretApi(EtcdStore store, StateCaches caches, SecretSealer sealer, ControlPlaneConfig config) {
        this.store = store;
        this.caches = caches;
        this.sealer = sealer;
        this.limits = ApiLimits.of(config.limits());
    }

    private static String describe(String namespace, String name) {
        return "secret \"" + namespace + "/" + name + "\"";
    }

    static Validation validate(Secret secret, ApiLimits limits) {
        Validation v = ConfigObjects.meta("secret", secret.getMetadata(), limits);
        ConfigObjects.total(v, "secret.data", ConfigObjects.data(v, "secret.data", secret.getDataMap()));
        switch (secret.getType()) {
            case OPAQUE -> { }
            case REGISTRY_CREDENTIALS -> registryCredentials(v, secret.getDataMap().get(DOCKER_CONFIG));
            case TLS -> {
                for (String required : new String[] {"tls.crt", "tls.key"}) {
                    if (!secret.getDataMap().containsKey(required)) {
                        v.add("secret.data[\"" + required + "\"]", "is required for type TLS (PEM)");
                    }
                }
            }
            default -> v.add("secret.type", "must be OPAQUE, REGISTRY_CREDENTIALS or TLS");
        }
        return v;
    }

    /** {"auths": {...}} as Kubernetes' dockerconfigjson; the description never quotes the value. */
    private static void registryCredentials(Validation v, ByteString json) {
        String field = "secret.data[\"" + DOCKER_CONFIG + "\"]";
        if (json == null) {
            v.add(field, "is required for type REGISTRY_CREDENTIALS");
            return;
        }
        try {
            if (!(new JsonObject(json.toString(StandardCharsets.UTF_8)).getValue("auths") instanceof JsonObject)) {
                v.add(field, "must hold an object \"auths\" ({\"auths\": {\"<registry>\": {\"username\": .., \"password\": ..}}})");
            }
        } catch (DecodeException | ClassCastException e) {
            v.add(field, "is not a JSON object");
        }
    }

    /** TYPE_UNSPECIFIED is OPAQUE; namespace "default" if none. */
    private static Secret normalise(Secret secret) {
        Secret.Builder b = secret.toBuilder().setMetadata(secret.getMetadata().toBuilder()
                .setNamespace(Calls.orDefault(secret.getMetadata().getNamespace())));
        if (secret.getType() == Secret.Type.TYPE_UNSPECIFIED) {
            b.setType(Secret.Type.OPAQUE);
        }
        return b.build();
    }

    private static Secret shown(Secret secret, long modRevision) {
        return secret.toBuilder().setMetadata(ConfigObjects.shown(secret.getMetadata(), modRevision)).build();
    }

    /**
     * Runs a Secret call: FAILED_PRECONDITION without a key-encryption key or when a secret is under
     * a key that is not configured, DATA_LOSS when a sealed value fails authentication.
     */
    private <T> void sealing(StreamObserver<T> observer, Supplier<T> handler) {
        Calls.unary(observer, () -> {
            try {
                sealer.requireConfigured();
                return handler.get();
            } catch (SealingException e) {
                Status status = e.reason() == SealingException.Reason.AUTHENTICATION_FAILED ? Status.DATA_LOSS : Status.FAILED_PRECONDITION;
                throw status.withDescription(e.getMessage()).asRuntimeException();
            }
        });
    }

    @Override
    public void createSecret(CreateSecretRequest request, StreamObserver<Secret> responseObserver) {
        sealing(responseObserver, () -> {
            Secret secret = normalise(request.getSecret());
            validate(secret, limits).throwIfInvalid();
            Secret stored = secret.toBuilder().setMetadata(ConfigObjects.created(secret.getMetadata())).build();
            String ns = stored.getMetadata().getNamespace();
            String name = stored.getMetadata().getName();
            OptionalLong revision = store.create(Keys.secret(ns, name), sealer.seal(stored).toByteArray());
            if (revision.isEmpty()) {
                throw Calls.exists(describe(ns, name));
            }
            LOG.infof("created %s (%s, sealed under key '%s')", describe(ns, name), stored.getType(), sealer.primaryKeyId());
            return shown(stored, revision.getAsLong());
        });
    }

    @Override
    public void getSecret(GetSecretRequest request, StreamObserver<Secret> responseObserver) {
        sealing(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            String key = Keys.secret(ns, request.getName());
            Entry<SealedSecret> entry = store.get(key, SealedSecret.parser()).orElseThrow(() -> Calls.notFound(describe(ns, request.getName())));
            return shown(sealer.openStored(key, entry.value()), entry.modRevision());
        });
    }

    @Override
    public void listSecrets(ListSecretsRequest request, StreamObserver<ListSecretsResponse> responseObserver) {
        sealing(responseObserver, () -> {
            Listing.Page<SealedSecret> page = Listing.list(store, limits, Listing.prefix(Keys.SECRETS, request.getNamespace()),
                    request.getPageSize(), request.getPageToken(), request.getLabelSelector(), SealedSecret.parser(),
                    s -> s.getMetadata().getLabelsMap());
            ListSecretsResponse.Builder response = ListSecretsResponse.newBuilder().setNextPageToken(page.nextPageToken());
            page.items().forEach(e -> response.addSecrets(shown(keysOnly(e), e.modRevision())));
            return response.build();
        });
    }

    /**
     * The secret with its key names and empty values. One that cannot be opened is listed without keys
     * (and logged) rather than failing the whole list; Get names its problem.
     */
    private Secret keysOnly(Entry<SealedSecret> entry) {
        Secret.Builder listed = Secret.newBuilder().setMetadata(entry.value().getMetadata()).setType(entry.value().getType());
        try {
            sealer.openStored(entry.key(), entry.value()).getDataMap().keySet().forEach(k -> listed.putData(k, ByteString.EMPTY));
        } catch (SealingException e) {
            LOG.warnf("listing without its keys: %s", e.getMessage());
        }
        return listed.build();
    }

    @Override
    public void updateSecret(UpdateSecretRequest request, StreamObserver<Secret> responseObserver) {
        sealing(responseObserver, () -> {
            Secret secret = normalise(request.getSecret());
            validate(secret, limits).throwIfInvalid();
            String ns = secret.getMetadata().getNamespace();
            String name = secret.getMetadata().getName();
            String key = Keys.secret(ns, name);
            long given = secret.getMetadata().getResourceVersion();
            Entry<SealedSecret> current = ConfigObjects.current(store, key, SealedSecret.parser(), given, describe(ns, name));
            Secret.Type was = current.value().getType() == Secret.Type.TYPE_UNSPECIFIED ? Secret.Type.OPAQUE : current.value().getType();
            if (secret.getType() != was) {
                throw Validation.invalid("secret.type", "is immutable (it is " + was + ")");
            }
            // Data is replaced without opening the old one (it may be under a key since removed): every update is a new generation.
            Secret stored = secret.toBuilder()
                    .setMetadata(ConfigObjects.updated(current.value().getMetadata(), secret.getMetadata(), true)).build();
            long revision = ConfigObjects.written(store.update(key, sealer.seal(stored).toByteArray(), current.modRevision()),
                    given, describe(ns, name));
            return shown(stored, revision);
        });
    }

    @Override
    public void deleteSecret(DeleteSecretRequest request, StreamObserver<DeleteResponse> responseObserver) {
        sealing(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            return ConfigObjects.delete(store, caches.apps(), ns, new ConfigRefs.Name(ConfigRef.Kind.SECRET, request.getName()),
                    Keys.secret(ns, request.getName()), request.getResourceVersion(), describe(ns, request.getName()));
        });
    }
}
