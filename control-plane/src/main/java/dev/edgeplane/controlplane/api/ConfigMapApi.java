package dev.edgeplane.controlplane.api;

import dev.edgeplane.api.ConfigRefs;
import dev.edgeplane.api.v1.ConfigMap;
import dev.edgeplane.api.v1.ConfigMapServiceGrpc;
import dev.edgeplane.api.v1.ConfigRef;
import dev.edgeplane.api.v1.CreateConfigMapRequest;
import dev.edgeplane.api.v1.DeleteConfigMapRequest;
import dev.edgeplane.api.v1.DeleteResponse;
import dev.edgeplane.api.v1.GetConfigMapRequest;
import dev.edgeplane.api.v1.ListConfigMapsRequest;
import dev.edgeplane.api.v1.ListConfigMapsResponse;
import dev.edgeplane.api.v1.UpdateConfigMapRequest;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Keys;
import dev.edgeplane.controlplane.store.StateCaches;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import java.util.OptionalLong;
import org.jboss.logging.Logger;

/** ConfigMapService: ConfigMaps at /edgeplane/configmaps/&lt;ns&gt;/&lt;name&gt;; a delete is refused while an App uses one. */
@GrpcService
@Blocking
public class ConfigMapApi extends ConfigMapServiceGrpc.ConfigMapServiceImplBase {
    private static final Logger LOG = Logger.getLogger(ConfigMapApi.class);

    private final EtcdStore store;
    private final StateCaches caches;
    private final ApiLimits limits;

    public ConfigMapApi(EtcdStore store, StateCaches caches, ControlPlaneConfig config) {
        this.store = store;
        this.caches = caches;
        this.limits = ApiLimits.of(config.limits());
    }

    private static String describe(String namespace, String name) {
        return "configmap \"" + namespace + "/" + name + "\"";
    }

    static Validation validate(ConfigMap configMap, ApiLimits limits) {
        Validation v = ConfigObjects.meta("config_map", configMap.getMetadata(), limits);
        long bytes = ConfigObjects.data(v, "config_map.data", configMap.getDataMap())
                + ConfigObjects.data(v, "config_map.binary_data", configMap.getBinaryDataMap());
        for (String key : configMap.getBinaryDataMap().keySet()) {
            if (configMap.getDataMap().containsKey(key)) {
                v.add("config_map.binary_data[\"" + key + "\"]", "is also a key of data: data and binary_data share one key space");
            }
        }
        ConfigObjects.total(v, "config_map.data", bytes);
        return v;
    }

    private static ConfigMap normalise(ConfigMap configMap) {
        return configMap.toBuilder().setMetadata(configMap.getMetadata().toBuilder()
                .setNamespace(Calls.orDefault(configMap.getMetadata().getNamespace()))).build();
    }

    private static ConfigMap shown(Entry<ConfigMap> entry) {
        return entry.value().toBuilder().setMetadata(ConfigObjects.shown(entry.value().getMetadata(), entry.modRevision())).build();
    }

    @Override
    public void createConfigMap(CreateConfigMapRequest request, StreamObserver<ConfigMap> responseObserver) {
        Calls.unary(responseObserver, () -> {
            ConfigMap configMap = normalise(request.getConfigMap());
            validate(configMap, limits).throwIfInvalid();
            ConfigMap stored = configMap.toBuilder().setMetadata(ConfigObjects.created(configMap.getMetadata())).build();
            String ns = stored.getMetadata().getNamespace();
            String name = stored.getMetadata().getName();
            String key = Keys.configMap(ns, name);
            OptionalLong revision = store.create(key, stored.toByteArray());
            if (revision.isEmpty()) {
                throw Calls.exists(describe(ns, name));
            }
            LOG.infof("created %s", describe(ns, name));
            return shown(new Entry<>(key, stored, revision.getAsLong(), revision.getAsLong()));
        });
    }

    @Override
    public void getConfigMap(GetConfigMapRequest request, StreamObserver<ConfigMap> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            return shown(store.get(Keys.configMap(ns, request.getName()), ConfigMap.parser())
                    .orElseThrow(() -> Calls.notFound(describe(ns, request.getName()))));
        });
    }

    @Override
    public void listConfigMaps(ListConfigMapsRequest request, StreamObserver<ListConfigMapsResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            Listing.Page<ConfigMap> page = Listing.list(store, limits, Listing.prefix(Keys.CONFIG_MAPS, request.getNamespace()),
                    request.getPageSize(), request.getPageToken(), request.getLabelSelector(), ConfigMap.parser(),
                    c -> c.getMetadata().getLabelsMap());
            ListConfigMapsResponse.Builder response = ListConfigMapsResponse.newBuilder().setNextPageToken(page.nextPageToken());
            page.items().forEach(e -> response.addConfigMaps(shown(e)));
            return response.build();
        });
    }

    @Override
    public void updateConfigMap(UpdateConfigMapRequest request, StreamObserver<ConfigMap> responseObserver) {
        Calls.unary(responseObserver, () -> {
            ConfigMap configMap = normalise(request.getConfigMap());
            validate(configMap, limits).throwIfInvalid();
            String ns = configMap.getMetadata().getNamespace();
            String name = configMap.getMetadata().getName();
            String key = Keys.configMap(ns, name);
            long given = configMap.getMetadata().getResourceVersion();
            Entry<ConfigMap> current = ConfigObjects.current(store, key, ConfigMap.parser(), given, describe(ns, name));
            boolean changed = !current.value().getDataMap().equals(configMap.getDataMap())
                    || !current.value().getBinaryDataMap().equals(configMap.getBinaryDataMap());
            ConfigMap stored = configMap.toBuilder()
                    .setMetadata(ConfigObjects.updated(current.value().getMetadata(), configMap.getMetadata(), changed)).build();
            long revision = ConfigObjects.written(store.update(key, stored.toByteArray(), current.modRevision()), given, describe(ns, name));
            return shown(new Entry<>(key, stored, revision, current.createRevision()));
        });
    }

    @Override
    public void deleteConfigMap(DeleteConfigMapRequest request, StreamObserver<DeleteResponse> responseObserver) {
        Calls.unary(responseObserver, () -> {
            String ns = Calls.orDefault(request.getNamespace());
            new Validation().dnsLabel("name", request.getName()).dnsLabel("namespace", ns).throwIfInvalid();
            return ConfigObjects.delete(store, caches.apps(), ns, new ConfigRefs.Name(ConfigRef.Kind.CONFIG_MAP, request.getName()),
                    Keys.configMap(ns, request.getName()), request.getResourceVersion(), describe(ns, request.getName()));
        });
    }
}
