#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lanes.h"

#include <stdatomic.h>
#include <string.h>

typedef struct {
    atomic_int calls[GRAFT_MAX_LANES];
    long sum[GRAFT_MAX_LANES]; /* each lane writes only its own slot */
    int round;
} tally;

static void
count(int lane, void *arg)
{
    tally *t = arg;
    atomic_fetch_add(&t->calls[lane], 1);
    t->sum[lane] += t->round;
}

/* Every run calls every lane exactly once and returns only after all of them: the sums read
 * right after each run are complete. */
static void
test_every_lane_once_per_run(void **state)
{
    (void)state;
    for (int n = 1; n <= 4; n++) {
        graft_lanes *l;
        assert_int_equal(graft_lanes_create(n, &l), GRAFT_OK);
        assert_int_equal(graft_lanes_count(l), n);
        static tally t;
        memset(&t, 0, sizeof t);
        long want = 0;
        for (int r = 1; r <= 2000; r++) {
            t.round = r;
            graft_lanes_run(l, count, &t);
            want += r;
            for (int i = 0; i < n; i++) {
                assert_int_equal(atomic_load(&t.calls[i]), r);
                assert_true(t.sum[i] == want);
            }
        }
        graft_lanes_destroy(&l);
        assert_null(l);
    }
    graft_lanes *l;
    assert_int_equal(graft_lanes_create(0, &l), GRAFT_ERR_INVALID);
    assert_int_equal(graft_lanes_create(GRAFT_MAX_LANES + 1, &l), GRAFT_ERR_INVALID);
}

/* Keys spread over the lanes about evenly, and a key's lane depends on the key alone. */
static void
test_lane_of_key_spreads(void **state)
{
    (void)state;
    int seen[3] = {0};
    for (uint64_t k = 0; k < 30000; k++) {
        uint32_t lane = graft_lane_of_key(k, 3);
        assert_true(lane < 3);
        assert_int_equal(lane, graft_lane_of_key(k, 3));
        seen[lane]++;
    }
    for (int i = 0; i < 3; i++)
        assert_true(seen[i] > 9000 && seen[i] < 11000);
    assert_int_equal(graft_lane_of_key(12345, 1), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_lane_once_per_run),
        cmocka_unit_test(test_lane_of_key_spreads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
