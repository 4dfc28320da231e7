package dev.edgeplane.controlplane.api;

import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import dev.edgeplane.controlplane.store.EtcdStore;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.StoreException;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Paged, label-filtered listing straight from etcd (so a List right after a Create sees it), every
 * page at the first page's revision, as Kubernetes' continue tokens: a listing in pages is one
 * consistent view, never an object twice or a move missed. The page token is the base64url of
 * "revision NUL last key"; the next page starts after that key at that revision. A token older than
 * etcd's compaction is refused with FAILED_PRECONDITION (list again from the start).
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
        Token after = decodeToken(pageToken, prefix);
        List<Entry<T>> items = new ArrayList<>();
        String lastKey = after.key();
        long revision = after.revision();
        boolean more = true;
        while (items.size() < size && more) {
            EtcdStore.Page page;
            try {
                page = store.list(prefix, lastKey, Math.max(size - items.size(), 16) + 1, revision);
            } catch (StoreException e) {
                if (revision > 0 && EtcdStore.isCompacted(e)) {
                    throw Status.FAILED_PRECONDITION.withDescription("page_token is from revision " + revision
                            + ", which etcd has compacted away; list again without a page_token").asRuntimeException();
                }
                throw e;
            }
            revision = page.revision();
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
                ? Base64.getUrlEncoder().withoutPadding().encodeToString((revision + "\0" + lastKey).getBytes(StandardCharsets.UTF_8))
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

    /** Where the next page starts: after {@code key}, at {@code revision} (0: now, the first page). */
    private record Token(long revision, String key) {}

    private static Token decodeToken(String token, String prefix) {
        if (token == null || token.isEmpty()) {
            return new Token(0, "");
        }
        String text;
        try {
            text = new String(Base64.getUrlDecoder().decode(token), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw Validation.invalid("page_token", "is not a token from a previous page");
        }
        int separator = text.indexOf('\0');
        long revision;
        try {
            revision = separator < 0 ? -1 : Long.parseLong(text.substring(0, separator));
        } catch (NumberFormatException e) {
            revision = -1;
        }
        String key = text.substring(separator + 1);
        if (revision < 1 || !key.startsWith(prefix)) {
            throw Validation.invalid("page_token", "is not a token from a previous page of this listing");
        }
        return new Token(revision, key);
    }
}
