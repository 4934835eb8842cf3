#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "err.h"
#include "keymap.h"

static void
test_fail_after_nth(void **state)
{
    (void)state;
    graft_alloc_fail_after(3);
    void *a = graft_malloc(8), *b = graft_malloc(8), *c = graft_malloc(8), *d = graft_malloc(8);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    assert_null(d);
    graft_alloc_fail_after(0);
    graft_free(a);
    graft_free(b);
}

static void
test_overflow_is_refused(void **state)
{
    (void)state;
    assert_null(graft_realloc_array(NULL, SIZE_MAX / 2, 4));
}

static void
test_every_allocation_of_create_can_fail(void **state)
{
    (void)state;
    /* Each failure point of graft_keymap_create returns NOMEM and leaks nothing (ASan checks). */
    for (long n = 1; n <= 3; n++) {
        graft_keymap *m = (graft_keymap *)1;
        graft_alloc_fail_after(n);
        assert_int_equal(graft_keymap_create(16, &m), GRAFT_ERR_NOMEM);
        assert_null(m);
    }
    graft_alloc_fail_after(0);
}

static void
test_errors_have_names_and_text(void **state)
{
    (void)state;
    assert_string_equal(graft_errname(GRAFT_ERR_SIZE), "GRAFT_ERR_SIZE");
    assert_non_null(graft_strerror((graft_err)9999));
    assert_string_equal(graft_errname((graft_err)9999), "GRAFT_ERR_UNKNOWN");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_after_nth),
        cmocka_unit_test(test_overflow_is_refused),
        cmocka_unit_test(test_every_allocation_of_create_can_fail),
        cmocka_unit_test(test_errors_have_names_and_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
