package dev.edgeplane.controlplane.api;

import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Paged, label-filtered listing straight from etcd (so a List right after a Create sees it). The
 * page token is the base64url of the last key returned; the next page starts after it.
 */
public final class Listing {

    public record Page<T>(List<Entry<T>> items, String nextPageToken) {}

    private Listing() {}

    /** Page sizes and the selector's length are bounded by {@code limits} (edgeplane.limits.*). */
    public static <T extends Message> Page<T> list(EtcdStore store, ApiLimits limits, String prefix, int pageSize, String pageToken,
                                                   String labelSelector, Parser<T> parser,
                                                   Function<T, Map<String, String>> labelsOf) {
        int size = limits.pageSize(pageSize);
        LabelSelector selector = limits.labelSelector("label_selector", labelSelector);
        String after = decodeToken(pageToken, prefix);
        List<Entry<T>> items = new ArrayList<>();
        String lastKey = after;
        boolean more = true;
        while (items.size() < size && more) {
            EtcdStore.Page page = store.list(prefix, lastKey, Math.max(size - items.size(), 16) + 1);
            more = page.more();
            for (Entry<byte[]> raw : page.entries()) {
                if (items.size() == size) {
                    more = true;
                    break;
                }
                lastKey = raw.key();
                T value = EtcdStore.decode(parser, raw.value());
                if (selector.matches(labelsOf.apply(value))) {
                    items.add(new Entry<>(raw.key(), value, raw.modRevision(), raw.createRevision()));
                }
            }
        }
        String next = more && !items.isEmpty()
                ? Base64.getUrlEncoder().withoutPadding().encodeToString(lastKey.getBytes(StandardCharsets.UTF_8))
                : "";
        return new Page<>(items, next);
    }

    /** What a List with {@code namespace} reads under {@code root}: every namespace if it is empty, else that one's (checked). */
    public static String prefix(String root, String namespace) {
        if (namespace.isEmpty()) {
            return root;
        }
        new Validation().dnsLabel("namespace", namespace).throwIfInvalid();
        return root + namespace + "/";
    }

    private static String decodeToken(String token, String prefix) {
        if (token == null || token.isEmpty()) {
            return "";
        }
        try {
            String key = new String(Base64.getUrlDecoder().decode(token), StandardCharsets.UTF_8);
            if (!key.startsWith(prefix)) {
                throw Validation.invalid("page_token", "does not belong to this listing");
            }
            return key;
        } catch (IllegalArgumentException e) {
            throw Validation.invalid("page_token", "is not a token from a previous page");
        }
    }
}
