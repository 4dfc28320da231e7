package dev.edgeplane.controlplane.api;

import com.google.protobuf.ByteString;
import com.google.protobuf.Timestamp;
import dev.edgeplane.api.v1.AccessServiceGrpc;
import dev.edgeplane.api.v1.ApiToken;
import dev.edgeplane.api.v1.CreateApiTokenRequest;
import dev.edgeplane.api.v1.CreateApiTokenResponse;
import dev.edgeplane.api.v1.CreateRoleBindingRequest;
import dev.edgeplane.api.v1.DeleteApiTokenRequest;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.DeleteRoleBindingRequest;
import dev.edgeplane.api.v1.GetApiTokenRequest;
import dev.edgeplane.api.v1.GetRoleBindingRequest;
import dev.edgeplane.api.v1.ListApiTokensRequest;
import dev.edgeplane.api.v1.ListApiTokensResponse;
import dev.edgeplane.api.v1.ListRoleBindingsRequest;
import dev.edgeplane.api.v1.ListRoleBindingsResponse;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.api.v1.RevokeApiTokenRequest;
import dev.edgeplane.api.v1.Role;
import dev.edgeplane.api.v1.RoleBinding;
import dev.edgeplane.api.v1.StoredApiToken;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.auth.AdminTokens;
import dev.edgeplane.controlplane.auth.Authorizer;
import dev.edgeplane.controlplane.join.Joiner;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.OptionalLong;
import org.jboss.logging.Logger;

/**
 * AccessService: named API tokens at /edgeplane/apitokens/&lt;name&gt; (metadata and the secret's
 * sha256 only) and role bindings at /edgeplane/rolebindings/&lt;name&gt;. Authentication and
 * authorisation read them from the watched caches (auth.AccessIndex), not from here.
 */
@GrpcService
@Blocking
public class AccessApi extends AccessServiceGrpc.AccessServiceImplBase {
    private static final Logger LOG = Logger.getLogger(AccessApi.class);
    /** Bounds what each replica holds in memory and rebuilds per change (see AccessIndex). */
    static final int MAX_API_TOKENS = 10_000;
    static final int MAX_ROLE_BINDINGS = 10_000;
    static final Duration DEFAULT_LIFETIME = Duration.ofDays(90);
    static final Duration MAX_LIFETIME = Duration.ofDays(365);
    /** A requested expiry this close past the cap is clamped rather than refused (client clocks, rounding). */
    private static final Duration LIFETIME_SLACK = Duration.ofMinutes(5);
    static final int MAX_DESCRIPTION_BYTES = 256;
    static final int MAX_SUBJECT_CHARS = 256;
    private static final int REVOKE_ATTEMPTS = 5;

    private final EtcdStore store;
    private final StateCaches caches;
    private final ApiLimits limits;
    private final SecureRandom random = new SecureRandom();

    public AccessApi(EtcdStore store, StateCaches caches, ControlPlaneConfig config) {
        this.store = store;
        this.caches = caches;
        this.limits = ApiLimits.of(config.limits());
    }

    private static String describeToken(String name) {
        return "API token \"" + name + "\"";
    }

    private static String describeBinding(String name) {
        return "role binding \"" + name + "\"";
    }

    // ---- API tokens

    static Validation validate(ApiToken token, Instant now, ApiLimits limits) {
        Validation v = new Validation();
        ObjectMeta meta = token.getMetadata();
        v.dnsLabel("api_token.metadata.name", meta.getName());
        if (!meta.getNamespace().isEmpty()) {
            v.add("api_token.metadata.namespace", "must be empty: API tokens are cluster-scoped");
        }
        v.labels("api_token.metadata.labels", meta.getLabelsMap(), limits.maxLabels());
        v.annotations("api_token.metadata.annotations", meta.getAnnotationsMap(), limits.maxAnnotationsBytes());
        if (token.getDescription().getBytes(StandardCharsets.UTF_8).length > MAX_DESCRIPTION_BYTES) {
            v.add("api_token.description", "is over " + MAX_DESCRIPTION_BYTES + " bytes");
        }
        if (token.hasExpireTime()) {
            Instant expires = instant(token.getExpireTime());
            if (!expires.isAfter(now)) {
                v.add("api_token.expire_time", "must be in the future");
            } else if (expires.isAfter(now.plus(MAX_LIFETIME).plus(LIFETIME_SLACK))) {
                v.add("api_token.expire_time", "must be at most " + MAX_LIFETIME.toDays() + " days from now");
            }
        }
        if (token.hasRevokeTime()) {
            v.add("api_token.revoke_time", "is set by RevokeApiToken only");
        }
        return v;
    }

    private static ApiToken shown(Entry<StoredApiToken> entry) {
        ApiToken token = entry.value().getToken();
        return token.toBuilder().setMetadata(ConfigObjects.shown(token.getMetadata(), entry.modRevision())).build();
    }

    @Override
    public void createApiToken(CreateApiTokenRequest request, StreamObserver<CreateApiTokenResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Instant now = Instant.now();
            ApiToken token = request.getApiToken();
            validate(token, now, limits).throwIfInvalid();
            if (caches.apiTokens().all().size() >= MAX_API_TOKENS) {
                throw Validation.exhausted("at most " + MAX_API_TOKENS + " API tokens",
                        "delete unused tokens (edgectl apitoken list) before creating more");
            }
            Instant expires = token.hasExpireTime() ? instant(token.getExpireTime()) : now.plus(DEFAULT_LIFETIME);
            if (expires.isAfter(now.plus(MAX_LIFETIME))) {
                expires = now.plus(MAX_LIFETIME);
            }
            byte[] bytes = new byte[32];
            random.nextBytes(bytes);
            String secret = "ept_" + Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
            ApiToken stored = token.toBuilder().setMetadata(ConfigObjects.created(token.getMetadata()))
                    .setExpireTime(Joiner.timestamp(expires)).build();
            String name = stored.getMetadata().getName();
            String key = Keys.apiToken(name);
            StoredApiToken value = StoredApiToken.newBuilder().setToken(stored).setSecretSha256(ByteString.copyFrom(AdminTokens.sha256(secret))).build();
            OptionalLong revision = store.create(key, value.toByteArray());
            if (revision.isEmpty()) {
                throw Calls.exists(describeToken(name));
            }
            LOG.infof("created %s, expiring %s", describeToken(name), expires);
            return CreateApiTokenResponse.newBuilder()
                    .setApiToken(shown(new Entry<>(key, value, revision.getAsLong(), revision.getAsLong())))
                    .setSecret(secret).build();
        });
    }

    @Override
    public void getApiToken(GetApiTokenRequest request, StreamObserver<ApiToken> responseObserver) {
        Calls.unary(responseObserver, () -> {
            new Validation().dnsLabel("name", request.getName()).throwIfInvalid();
            return shown(store.get(Keys.apiToken(request.getName()), StoredApiToken.parser())
                    .orElseThrow(() -> Calls.notFound(describeToken(request.getName()))));
        });
    }

    @Override
    public void listApiTokens(ListApiTokensRequest request, StreamObserver<ListApiTokensResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Listing.Page<StoredApiToken> page = Listing.list(store, limits, Keys.API_TOKENS, request.getPageSize(),
                    request.getPageToken(), request.getLabelSelector(), StoredApiToken.parser(),
                    t -> t.getToken().getMetadata().getLabelsMap());
            ListApiTokensResponse.Builder response = ListApiTokensResponse.newBuilder().setNextPageToken(page.nextPageToken());
            page.items().forEach(e -> response.addApiTokens(shown(e)));
            return response.build();
        });
    }

    @Override
    public void revokeApiToken(RevokeApiTokenRequest request, StreamObserver<ApiToken> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String name = request.getName();
            new Validation().dnsLabel("name", name).throwIfInvalid();
            String key = Keys.apiToken(name);
            for (int attempt = 0; attempt < REVOKE_ATTEMPTS; attempt++) {
                Entry<StoredApiToken> current = store.get(key, StoredApiToken.parser())
                        .orElseThrow(() -> Calls.notFound(describeToken(name)));
                if (current.value().getToken().hasRevokeTime()) {
                    return shown(current); // idempotent
                }
                StoredApiToken revoked = current.value().toBuilder()
                        .setToken(current.value().getToken().toBuilder().setRevokeTime(Joiner.timestamp(Instant.now()))).build();
                OptionalLong revision = store.update(key, revoked.toByteArray(), current.modRevision());
                if (revision.isPresent()) {
                    LOG.infof("revoked %s", describeToken(name));
                    return shown(new Entry<>(key, revoked, revision.getAsLong(), current.createRevision()));
                }
            }
            throw Calls.conflict(describeToken(name));
        });
    }

    @Override
    public void deleteApiToken(DeleteApiTokenRequest request, StreamObserver<DeleteResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            new Validation().dnsLabel("name", request.getName()).throwIfInvalid();
            if (!store.delete(Keys.apiToken(request.getName()))) {
                throw Calls.notFound(describeToken(request.getName()));
            }
            LOG.infof("deleted %s", describeToken(request.getName()));
            return DeleteResponse.getDefaultInstance();
        });
    }

    // ---- role bindings

    static Validation validate(RoleBinding binding, ApiLimits limits) {
        Validation v = new Validation();
        ObjectMeta meta = binding.getMetadata();
        v.dnsLabel("role_binding.metadata.name", meta.getName());
        if (!meta.getNamespace().isEmpty()) {
            v.add("role_binding.metadata.namespace", "must be empty: the binding's scope is role_binding.namespace");
        }
        v.labels("role_binding.metadata.labels", meta.getLabelsMap(), limits.maxLabels());
        v.annotations("role_binding.metadata.annotations", meta.getAnnotationsMap(), limits.maxAnnotationsBytes());
        if (binding.getRole() == Role.ROLE_UNSPECIFIED || binding.getRole() == Role.UNRECOGNIZED) {
            v.add("role_binding.role", "must be one of viewer, deployer, operator, admin");
        }
        subject(v, "role_binding.subject", binding.getSubject());
        if (!binding.getNamespace().isEmpty()) {
            v.dnsLabel("role_binding.namespace", binding.getNamespace());
        }
        return v;
    }

    /** "token:&lt;DNS label&gt;", or "oidc:"/"group:" and 1-256 characters without controls (IdP names are free-form). */
    static void subject(Validation v, String field, String subject) {
        if (subject.startsWith("token:")) {
            v.dnsLabel(field + " (token name)", subject.substring("token:".length()));
            return;
        }
        String rest = subject.startsWith("oidc:") ? subject.substring(5) : subject.startsWith("group:") ? subject.substring(6) : null;
        if (rest == null) {
            v.add(field, "must be token:<name>, oidc:<user> or group:<group>");
        } else if (rest.isEmpty() || rest.length() > MAX_SUBJECT_CHARS || rest.chars().anyMatch(Character::isISOControl)) {
            v.add(field, "the name after the prefix must be 1-" + MAX_SUBJECT_CHARS + " characters without control characters");
        }
    }

    private static RoleBinding shownBinding(Entry<RoleBinding> entry) {
        return entry.value().toBuilder().setMetadata(ConfigObjects.shown(entry.value().getMetadata(), entry.modRevision())).build();
    }

    @Override
    public void createRoleBinding(CreateRoleBindingRequest request, StreamObserver<RoleBinding> responseObserver) {
        Calls.unary(responseObserver, () -> {
            RoleBinding binding = request.getRoleBinding();
            validate(binding, limits).throwIfInvalid();
            if (caches.roleBindings().all().size() >= MAX_ROLE_BINDINGS) {
                throw Validation.exhausted("at most " + MAX_ROLE_BINDINGS + " role bindings",
                        "bind groups (OIDC) rather than each user, or delete unused bindings");
            }
            RoleBinding stored = binding.toBuilder().setMetadata(ConfigObjects.created(binding.getMetadata())).build();
            String name = stored.getMetadata().getName();
            String key = Keys.roleBinding(name);
            OptionalLong revision = store.create(key, stored.toByteArray());
            if (revision.isEmpty()) {
                throw Calls.exists(describeBinding(name));
            }
            LOG.infof("created %s: %s is %s %s", describeBinding(name), stored.getSubject(), Authorizer.roleName(stored.getRole()),
                    stored.getNamespace().isEmpty() ? "cluster-wide" : "in namespace " + stored.getNamespace());
            return shownBinding(new Entry<>(key, stored, revision.getAsLong(), revision.getAsLong()));
        });
    }

    @Override
    public void getRoleBinding(GetRoleBindingRequest request, StreamObserver<RoleBinding> responseObserver) {
        Calls.unary(responseObserver, () -> {
            new Validation().dnsLabel("name", request.getName()).throwIfInvalid();
            return shownBinding(store.get(Keys.roleBinding(request.getName()), RoleBinding.parser())
                    .orElseThrow(() -> Calls.notFound(describeBinding(request.getName()))));
        });
    }

    @Override
    public void listRoleBindings(ListRoleBindingsRequest request, StreamObserver<ListRoleBindingsResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Listing.Page<RoleBinding> page = Listing.list(store, limits, Keys.ROLE_BINDINGS, request.getPageSize(),
                    request.getPageToken(), request.getLabelSelector(), RoleBinding.parser(), b -> b.getMetadata().getLabelsMap());
            ListRoleBindingsResponse.Builder response = ListRoleBindingsResponse.newBuilder().setNextPageToken(page.nextPageToken());
            page.items().forEach(e -> response.addRoleBindings(shownBinding(e)));
            return response.build();
        });
    }

    @Override
    public void deleteRoleBinding(DeleteRoleBindingRequest request, StreamObserver<DeleteResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            new Validation().dnsLabel("name", request.getName()).throwIfInvalid();
            if (!store.delete(Keys.roleBinding(request.getName()))) {
                throw Calls.notFound(describeBinding(request.getName()));
            }
            LOG.infof("deleted %s", describeBinding(request.getName()));
            return DeleteResponse.getDefaultInstance();
        });
    }

    private static Instant instant(Timestamp t) {
        return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
    }
}
