#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <time.h>

#include "background.h"

static graft_err
count(void *arg)
{
    int *n = arg;
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
    (*n)++;
    return *n == 3 ? GRAFT_ERR_IO : GRAFT_OK;
}

/* Tasks run one at a time on the same thread; wait returns each one's result; a second start
 * while one is in progress is refused; wait with nothing started is fine. */
static void
test_tasks_in_turn(void **state)
{
    (void)state;
    graft_background *bg;
    assert_int_equal(graft_background_create(&bg), GRAFT_OK);
    assert_int_equal(graft_background_wait(bg), GRAFT_OK);
    int n = 0;
    for (int i = 1; i <= 500; i++) {
        assert_int_equal(graft_background_start(bg, count, &n), GRAFT_OK);
        assert_true(graft_background_busy(bg));
        assert_int_equal(graft_background_start(bg, count, &n), GRAFT_ERR_INVALID);
        assert_int_equal(graft_background_wait(bg), i == 3 ? GRAFT_ERR_IO : GRAFT_OK);
        assert_false(graft_background_busy(bg));
        assert_int_equal(n, i);
    }
    /* Destroying with a task in progress waits for it. */
    assert_int_equal(graft_background_start(bg, count, &n), GRAFT_OK);
    graft_background_destroy(&bg);
    assert_null(bg);
    assert_int_equal(n, 501);
    graft_background_destroy(&bg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tasks_in_turn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
