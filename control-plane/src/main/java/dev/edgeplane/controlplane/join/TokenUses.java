package dev.edgeplane.controlplane.join;

import dev.edgeplane.api.v1.JoinTokenStatus;
import dev.edgeplane.controlplane.store.Entry;
import dev.edgeplane.controlplane.store.Keys;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.random.RandomGenerator;

/**
 * A join token's uses, counted in shards so that concurrent joins with one multi-use token do not
 * all compare-and-swap one hot key: the token's max_uses is split over up to {@link #MAX_SHARDS}
 * counters (fixed quotas that add up to it), each its own etcd key holding a JoinTokenStatus (uses,
 * joined_nodes). A join picks a shard with room at random and increments it in the same transaction
 * that creates the Node, comparing the shard's revision: a shard never passes its quota, so a token
 * with N uses admits exactly N joins, however they race and across crashes. Uses counted on the
 * token itself (before shards existed) are kept and taken off the quotas.
 */
public record TokenUses(String tokenId, int maxUses, int legacyUses, List<String> legacyNodes, Map<Integer, Shard> shards) {
    public static final int MAX_SHARDS = 32;

    /** One shard as read: its counter, and its mod revision (0: not written yet). */
    public record Shard(JoinTokenStatus status, long modRevision) {}

    /** The shard chosen for one join. */
    public record Pick(int index, String key, Shard current) {}

    /** The shards read from etcd (keys under Keys.joinTokenUses(tokenId)). */
    public static TokenUses of(String tokenId, int maxUses, JoinTokenStatus onToken, List<Entry<JoinTokenStatus>> stored) {
        Map<Integer, Shard> shards = new java.util.HashMap<>();
        String prefix = Keys.joinTokenUses(tokenId);
        for (Entry<JoinTokenStatus> e : stored) {
            try {
                shards.put(Integer.parseInt(e.key().substring(prefix.length())), new Shard(e.value(), e.modRevision()));
            } catch (NumberFormatException | IndexOutOfBoundsException ignored) {
                // not a shard of ours
            }
        }
        return new TokenUses(tokenId, Math.max(1, maxUses), onToken.getUses(), onToken.getJoinedNodesList(), Map.copyOf(shards));
    }

    public int shardCount() {
        return Math.max(1, Math.min(MAX_SHARDS, maxUses - legacyUses));
    }

    /** Shard i's share of the uses left after the legacy ones: equal parts, the remainder to the first. */
    public int quota(int shard) {
        int left = Math.max(0, maxUses - legacyUses);
        int n = shardCount();
        return left / n + (shard < left % n ? 1 : 0);
    }

    public int used(int shard) {
        Shard s = shards.get(shard);
        return s == null ? 0 : s.status().getUses();
    }

    public int total() {
        int sum = legacyUses;
        for (Shard s : shards.values()) {
            sum += s.status().getUses();
        }
        return sum;
    }

    public List<String> joinedNodes() {
        List<String> all = new ArrayList<>(legacyNodes);
        shards.keySet().stream().sorted().forEach(i -> all.addAll(shards.get(i).status().getJoinedNodesList()));
        return all;
    }

    /**
     * Shard {@code i} if it has room. Its quota needs no other shard, so a TokenUses read with that shard
     * alone answers: a join reads one counter (its own share of the names), not the whole token's.
     */
    public Optional<Pick> room(int i) {
        if (i < 0 || i >= shardCount() || used(i) >= quota(i)) {
            return Optional.empty();
        }
        return Optional.of(new Pick(i, key(tokenId, i), shards.getOrDefault(i, new Shard(JoinTokenStatus.getDefaultInstance(), 0))));
    }

    /** A shard with room, at random (so concurrent joins rarely pick the same one); empty when used up. */
    public Optional<Pick> pick(RandomGenerator random) {
        List<Integer> free = new ArrayList<>();
        for (int i = 0; i < shardCount(); i++) {
            if (used(i) < quota(i)) {
                free.add(i);
            }
        }
        if (free.isEmpty()) {
            return Optional.empty();
        }
        return room(free.get(random.nextInt(free.size())));
    }

    public static String key(String tokenId, int shard) {
        return Keys.joinTokenUses(tokenId) + String.format("%02d", shard);
    }

    /** The shard after one more join by {@code node}. */
    public static JoinTokenStatus used(Pick pick, String node) {
        return pick.current().status().toBuilder().setUses(pick.current().status().getUses() + 1).addJoinedNodes(node).build();
    }
}
