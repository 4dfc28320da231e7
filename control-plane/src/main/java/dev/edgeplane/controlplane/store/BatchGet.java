package dev.edgeplane.controlplane.store;

import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.GetOption;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Reads a set of unrelated keys in few round trips: one read-only transaction of gets per {@link TxnWriter#MAX_OPS} keys. */
public final class BatchGet {
    private BatchGet() {}

    /** The entries that exist among {@code keys}, by key (each chunk read at one revision). */
    public static Map<String, Entry<byte[]>> read(EtcdStore store, Collection<String> keys) {
        Map<String, Entry<byte[]>> found = new HashMap<>(keys.size() * 2);
        List<String> all = new ArrayList<>(keys);
        for (int from = 0; from < all.size(); from += TxnWriter.MAX_OPS) {
            List<String> chunk = all.subList(from, Math.min(all.size(), from + TxnWriter.MAX_OPS));
            Op[] gets = chunk.stream().map(k -> Op.get(EtcdStore.bytes(k), GetOption.DEFAULT)).toArray(Op[]::new);
            TxnResponse response = store.await(store.client().getKVClient().txn().Then(gets).commit(),
                    "get " + chunk.size() + " keys from " + chunk.get(0));
            for (GetResponse get : response.getGetResponses()) {
                for (KeyValue kv : get.getKvs()) {
                    found.put(kv.getKey().toString(StandardCharsets.UTF_8), EtcdStore.entry(kv, kv.getValue().getBytes()));
                }
            }
        }
        return found;
    }
}
