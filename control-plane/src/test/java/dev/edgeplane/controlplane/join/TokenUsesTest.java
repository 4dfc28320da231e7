package dev.edgeplane.controlplane.join;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.edgeplane.api.v1.JoinTokenStatus;
import dev.edgeplane.controlplane.store.Entry;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Pure: the sharded use counting of join tokens, replayed as a sequence of compare-and-swaps. */
class TokenUsesTest {
    private final SplittableRandom random = new SplittableRandom(7);

    /** Stored shards: key -> (status, modRevision), applied like etcd's transaction would. */
    private final Map<String, Entry<JoinTokenStatus>> etcd = new HashMap<>();
    private long revision = 1;

    private TokenUses read(String id, int maxUses, JoinTokenStatus onToken) {
        return TokenUses.of(id, maxUses, onToken, new ArrayList<>(etcd.values()));
    }

    /** The join's transaction: succeeds only if the shard is still at the revision it read. */
    private boolean commit(TokenUses.Pick pick, String node) {
        Entry<JoinTokenStatus> now = etcd.get(pick.key());
        long current = now == null ? 0 : now.modRevision();
        if (current != pick.current().modRevision()) {
            return false;
        }
        revision++;
        etcd.put(pick.key(), new Entry<>(pick.key(), TokenUses.used(pick, node), revision, revision));
        return true;
    }

    @Test
    void quotasAddUpToMaxUsesOverAtMostThirtyTwoShards() {
        for (int max : new int[] {1, 2, 31, 32, 33, 100, 19_000}) {
            TokenUses uses = read("abcdef", max, JoinTokenStatus.getDefaultInstance());
            int sum = 0;
            for (int i = 0; i < uses.shardCount(); i++) {
                sum += uses.quota(i);
                assertTrue(uses.quota(i) >= 1, "no empty shard");
            }
            assertEquals(max, sum, "quotas of a token with " + max + " uses");
            assertTrue(uses.shardCount() <= TokenUses.MAX_SHARDS);
        }
    }

    @Test
    void aTokenOfNUsesAdmitsExactlyNJoinsThoughTheyRace() {
        int max = 100;
        Set<String> joined = new HashSet<>();
        int refusedUsedUp = 0;
        // 8 "concurrent" joins read the same state, then commit one after another: most win, some retry.
        for (int round = 0; round < 100; round++) {
            List<Optional<TokenUses.Pick>> picks = new ArrayList<>();
            for (int j = 0; j < 8; j++) {
                picks.add(read("abcdef", max, JoinTokenStatus.getDefaultInstance()).pick(random));
            }
            for (int j = 0; j < picks.size(); j++) {
                if (picks.get(j).isEmpty()) {
                    refusedUsedUp++;
                } else if (commit(picks.get(j).get(), "n-" + round + "-" + j)) {
                    joined.add("n-" + round + "-" + j);
                }
            }
        }
        TokenUses end = read("abcdef", max, JoinTokenStatus.getDefaultInstance());
        assertEquals(max, joined.size(), "exactly max_uses joins succeeded");
        assertEquals(max, end.total());
        assertEquals(joined, new HashSet<>(end.joinedNodes()));
        assertTrue(end.pick(random).isEmpty(), "used up");
        assertTrue(refusedUsedUp > 0);
    }

    @Test
    void joinsThatEachReadOneShardAloneAdmitExactlyNAndFallBackToAllShardsNearTheEnd() {
        int max = 200;
        Set<String> joined = new HashSet<>();
        int fullReads = 0;
        for (int round = 0; round < 100; round++) {
            // 4 joins read, then commit; each reads one shard at random, and all shards only when it is full
            List<Optional<TokenUses.Pick>> picks = new ArrayList<>();
            for (int j = 0; j < 4; j++) {
                int guess = random.nextInt(read("fleet1", max, JoinTokenStatus.getDefaultInstance()).shardCount());
                String key = TokenUses.key("fleet1", guess);
                List<Entry<JoinTokenStatus>> one = etcd.containsKey(key) ? List.of(etcd.get(key)) : List.of();
                Optional<TokenUses.Pick> room = TokenUses.of("fleet1", max, JoinTokenStatus.getDefaultInstance(), one).room(guess);
                if (room.isEmpty()) {
                    fullReads++;
                    room = read("fleet1", max, JoinTokenStatus.getDefaultInstance()).pick(random);
                }
                picks.add(room);
            }
            for (int j = 0; j < picks.size(); j++) {
                if (picks.get(j).isPresent() && commit(picks.get(j).get(), "n-" + round + "-" + j)) {
                    joined.add("n-" + round + "-" + j);
                }
            }
        }
        TokenUses end = read("fleet1", max, JoinTokenStatus.getDefaultInstance());
        assertEquals(max, joined.size(), "exactly max_uses joins");
        assertEquals(max, end.total());
        assertEquals(joined, new HashSet<>(end.joinedNodes()));
        assertTrue(fullReads > 0 && fullReads < 400, "all shards were read only when the one picked was full: " + fullReads);
        for (int i = 0; i < end.shardCount(); i++) {
            assertTrue(end.room(i).isEmpty(), "shard " + i + " is full");
        }
    }

    @Test
    void aSingleUseTokenHasOneCounter() {
        TokenUses fresh = read("single", 1, JoinTokenStatus.getDefaultInstance());
        assertEquals(1, fresh.shardCount());
        TokenUses.Pick pick = fresh.pick(random).orElseThrow();
        TokenUses.Pick racing = fresh.pick(random).orElseThrow();
        assertTrue(commit(pick, "first"));
        assertTrue(!commit(racing, "second"), "the second join read the same counter: its transaction fails");
        assertTrue(read("single", 1, JoinTokenStatus.getDefaultInstance()).pick(random).isEmpty());
    }

    @Test
    void usesCountedOnTheTokenBeforeShardsAreKept() {
        JoinTokenStatus legacy = JoinTokenStatus.newBuilder().setUses(3).addJoinedNodes("a").addJoinedNodes("b").addJoinedNodes("c").build();
        TokenUses uses = read("old", 5, legacy);
        assertEquals(3, uses.total());
        assertEquals(2, uses.shardCount(), "the two uses left");
        for (int i = 0; i < 2; i++) {
            assertTrue(commit(read("old", 5, legacy).pick(random).orElseThrow(), "n" + i));
        }
        TokenUses end = read("old", 5, legacy);
        assertEquals(5, end.total());
        assertEquals(List.of("a", "b", "c"), end.joinedNodes().subList(0, 3));
        assertTrue(end.pick(random).isEmpty());
    }
}
