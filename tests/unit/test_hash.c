#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "hash.h"

static void
test_id_hash_is_stable(void **state)
{
    (void)state;
    /* Saved models depend on these values: they must never change. */
    assert_true(graft_hash_id("1", 1) == graft_hash_id("1x", 1));
    assert_true(graft_hash_id("1", 1) != graft_hash_id("2", 1));
    assert_true(graft_hash_id("", 0) != graft_hash_id("\0", 1));
    uint64_t a = graft_hash_id("user-42", 7);
    uint64_t b = graft_hash_id("user-42", 7);
    assert_true(a == b);
}

static void
test_shards_spread_evenly(void **state)
{
    (void)state;
    for (uint32_t n = 1; n <= 7; n++) {
        uint32_t counts[8] = {0};
        char buf[32];
        for (int i = 0; i < 70000; i++) {
            int len = snprintf(buf, sizeof buf, "%d", i);
            uint32_t s = graft_shard_of_key(graft_hash_id(buf, (size_t)len), n);
            assert_true(s < n);
            counts[s]++;
        }
        for (uint32_t s = 0; s < n; s++) {
            double share = counts[s] / (70000.0 / n);
            assert_true(share > 0.95 && share < 1.05);
        }
    }
}

static void
test_user_rows_of_every_domain_share_a_shard(void **state)
{
    (void)state;
    /* The key is the id's hash alone, so a user's source and target rows share a server for any
     * server count: transfer never moves rows between servers. */
    const char *ids[] = {"alice", "17", "bob@example.org", "x"};
    for (int i = 0; i < 4; i++) {
        uint64_t src = graft_hash_id(ids[i], strlen(ids[i]));
        uint64_t tgt = graft_hash_id(ids[i], strlen(ids[i]));
        for (uint32_t n = 1; n < 16; n++)
            assert_int_equal(graft_shard_of_key(src, n), graft_shard_of_key(tgt, n));
    }
}

static void
test_shard_is_independent_of_table_hashing(void **state)
{
    (void)state;
    /* Keys of one shard must still spread over a server's own hash slots (mix64's low bits). */
    uint32_t low[16] = {0};
    int taken = 0;
    for (uint64_t k = 0; taken < 16000; k++) {
        if (graft_shard_of_key(k, 4) != 0)
            continue;
        low[graft_hash_mix64(k) & 15]++;
        taken++;
    }
    for (int i = 0; i < 16; i++)
        assert_true(low[i] > 800 && low[i] < 1200);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_hash_is_stable),
        cmocka_unit_test(test_shards_spread_evenly),
        cmocka_unit_test(test_user_rows_of_every_domain_share_a_shard),
        cmocka_unit_test(test_shard_is_independent_of_table_hashing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
