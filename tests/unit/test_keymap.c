#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "keymap.h"

static void
test_insert_get_grow(void **state)
{
    (void)state;
    graft_keymap *m;
    assert_int_equal(graft_keymap_create(4, &m), GRAFT_OK);
    for (uint64_t k = 0; k < 100000; k++) {
        uint32_t v;
        int ins;
        assert_int_equal(graft_keymap_upsert(m, k * 0x9e3779b97f4a7c15ULL, (uint32_t)k, &v, &ins),
                         GRAFT_OK);
        assert_int_equal(ins, 1);
        assert_int_equal(v, k);
    }
    assert_int_equal(graft_keymap_count(m), 100000);
    for (uint64_t k = 0; k < 100000; k++) {
        uint32_t v;
        assert_int_equal(graft_keymap_get(m, k * 0x9e3779b97f4a7c15ULL, &v), 1);
        assert_int_equal(v, k);
    }
    uint32_t v;
    int ins;
    assert_int_equal(graft_keymap_upsert(m, 0, 7, &v, &ins), GRAFT_OK);
    assert_int_equal(ins, 0);
    assert_int_equal(v, 0);
    assert_int_equal(graft_keymap_get(m, 12345, &v), 0);
    graft_keymap_clear(m);
    assert_int_equal(graft_keymap_count(m), 0);
    assert_int_equal(graft_keymap_get(m, 0, &v), 0);
    graft_keymap_destroy(&m);
    assert_null(m);
}

static void
test_extreme_keys(void **state)
{
    (void)state;
    graft_keymap *m;
    assert_int_equal(graft_keymap_create(0, &m), GRAFT_OK);
    uint32_t v;
    int ins;
    assert_int_equal(graft_keymap_upsert(m, UINT64_MAX, 1, &v, &ins), GRAFT_OK);
    assert_int_equal(graft_keymap_upsert(m, 0, 2, &v, &ins), GRAFT_OK);
    assert_int_equal(graft_keymap_get(m, UINT64_MAX, &v), 1);
    assert_int_equal(v, 1);
    assert_int_equal(graft_keymap_get(m, 0, &v), 1);
    assert_int_equal(v, 2);
    graft_keymap_destroy(&m);
}

static void
test_failed_growth_leaves_map_intact(void **state)
{
    (void)state;
    graft_keymap *m;
    assert_int_equal(graft_keymap_create(0, &m), GRAFT_OK);
    uint32_t v;
    int ins;
    uint64_t k = 0;
    /* Fill to the point of growth, then make the growth fail. */
    for (; k < 8; k++)
        assert_int_equal(graft_keymap_upsert(m, k, (uint32_t)k, &v, &ins), GRAFT_OK);
    graft_alloc_fail_after(1);
    assert_int_equal(graft_keymap_upsert(m, 99, 99, &v, &ins), GRAFT_ERR_NOMEM);
    graft_alloc_fail_after(0);
    assert_int_equal(graft_keymap_count(m), 8);
    for (uint64_t j = 0; j < 8; j++) {
        assert_int_equal(graft_keymap_get(m, j, &v), 1);
        assert_int_equal(v, j);
    }
    assert_int_equal(graft_keymap_upsert(m, 99, 99, &v, &ins), GRAFT_OK);
    graft_keymap_destroy(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_get_grow),
        cmocka_unit_test(test_extreme_keys),
        cmocka_unit_test(test_failed_growth_leaves_map_intact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
