package dev.edgeplane.controlplane.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.ConfigMap;
import dev.edgeplane.api.v1.ObjectMeta;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.EtcdStoreExtension;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * List in pages against a real etcd: every page at the first page's revision (Kubernetes' continue
 * semantics), so what changes between pages neither shows up nor goes missing; an expired or foreign
 * token is refused with the code that says so.
 */
class ListingTest {
    @RegisterExtension
    static final EtcdStoreExtension etcd = new EtcdStoreExtension();

    private static final String PREFIX = "/test/listing/";

    private static ConfigMap configMap(String name, String version) {
        return ConfigMap.newBuilder().setMetadata(ObjectMeta.newBuilder().setNamespace("default").setName(name)
                .putLabels("version", version)).build();
    }

    private static Listing.Page<ConfigMap> page(EtcdStore store, String prefix, int size, String token, String selector) {
        return Listing.list(store, ApiLimits.DEFAULTS, prefix, size, token, selector, ConfigMap.parser(),
                c -> c.getMetadata().getLabelsMap());
    }

    private static List<String> names(Listing.Page<ConfigMap> page) {
        return page.items().stream().map(e -> e.value().getMetadata().getName() + "@" + e.value().getMetadata().getLabelsOrThrow("version")).toList();
    }

    @Test
    void laterPagesShowTheFirstPagesRevisionWhateverChangedInBetween() {
        EtcdStore store = etcd.store();
        String prefix = PREFIX + "consistent/";
        for (String name : List.of("a", "b", "c", "d", "e")) {
            store.put(prefix + name, configMap(name, "1").toByteArray());
        }
        Listing.Page<ConfigMap> first = page(store, prefix, 2, "", "");
        assertEquals(List.of("a@1", "b@1"), names(first));

        // Between the pages: one deleted, one inserted after the token's key, one changed, one moved before it.
        store.delete(prefix + "c");
        store.put(prefix + "cc", configMap("cc", "2").toByteArray());
        store.put(prefix + "d", configMap("d", "2").toByteArray());
        store.put(prefix + "aa", configMap("aa", "2").toByteArray());

        List<String> rest = new ArrayList<>();
        String token = first.nextPageToken();
        while (!token.isEmpty()) {
            Listing.Page<ConfigMap> next = page(store, prefix, 2, token, "");
            rest.addAll(names(next));
            token = next.nextPageToken();
        }
        assertEquals(List.of("c@1", "d@1", "e@1"), rest, "the listing as it was when it began");
        assertEquals(List.of("a@1", "aa@2", "b@1", "cc@2", "d@2", "e@1"), names(page(store, prefix, 100, "", "")),
                "a new listing sees the changes");
    }

    @Test
    void aLabelSelectorPagesAtOneRevisionToo() {
        EtcdStore store = etcd.store();
        String prefix = PREFIX + "selected/";
        for (int i = 0; i < 40; i++) {
            store.put(prefix + String.format("m%02d", i), configMap(String.format("m%02d", i), i % 2 == 0 ? "even" : "odd").toByteArray());
        }
        Listing.Page<ConfigMap> first = page(store, prefix, 5, "", "version=even");
        assertEquals(5, first.items().size());
        for (int i = 0; i < 40; i += 2) {
            store.put(prefix + String.format("m%02d", i), configMap(String.format("m%02d", i), "changed").toByteArray());
        }
        int seen = first.items().size();
        String token = first.nextPageToken();
        while (!token.isEmpty()) {
            Listing.Page<ConfigMap> next = page(store, prefix, 5, token, "version=even");
            seen += next.items().size();
            token = next.nextPageToken();
        }
        assertEquals(20, seen, "every even one, as labelled when the listing began");
    }

    @Test
    void aTokenOlderThanTheCompactionIsFailedPreconditionAndAForeignOneInvalid() throws Exception {
        EtcdStore store = etcd.store();
        String prefix = PREFIX + "compacted/";
        for (String name : List.of("a", "b", "c")) {
            store.put(prefix + name, configMap(name, "1").toByteArray());
        }
        Listing.Page<ConfigMap> first = page(store, prefix, 1, "", "");
        long now = store.put(PREFIX + "marker", new byte[0]);
        store.client().getKVClient().compact(now).get(10, TimeUnit.SECONDS);

        StatusRuntimeException expired = assertThrows(StatusRuntimeException.class, () -> page(store, prefix, 1, first.nextPageToken(), ""));
        assertEquals(Status.Code.FAILED_PRECONDITION, expired.getStatus().getCode());
        assertTrue(expired.getStatus().getDescription().contains("list again without a page_token"), expired.getStatus().getDescription());

        for (String token : List.of("not base64!", encode("12\0/elsewhere/a"), encode(PREFIX + "compacted/a"), encode("x\0" + prefix + "a"))) {
            StatusRuntimeException invalid = assertThrows(StatusRuntimeException.class, () -> page(store, prefix, 1, token, ""), token);
            assertEquals(Status.Code.INVALID_ARGUMENT, invalid.getStatus().getCode(), token);
            assertTrue(invalid.getStatus().getDescription().contains("page_token")
                    || invalid.getTrailers().toString().contains("page_token"), token);
        }
        assertEquals(3, page(store, prefix, 10, "", "").items().size(), "a new listing works");
    }

    private static String encode(String text) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
}
