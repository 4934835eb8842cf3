#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "opts.h"

static void
test_defaults_and_flags(void **state)
{
    (void)state;
    graft_config c;
    char err[256];
    char *argv[] = {"x", "--dim", "8", "--lr=0.5", "--optimizer", "sgd", "--quiet", "--train", "f"};
    assert_int_equal(graft_config_parse(&c, 9, argv, err, sizeof err), GRAFT_OK);
    assert_int_equal(c.dim, 8);
    assert_true(c.lr == 0.5);
    assert_int_equal(c.optimizer, 0);
    assert_int_equal(c.quiet, 1);
    assert_string_equal(c.train, "f");
    assert_int_equal(c.epochs, 30);
    assert_null(c.test);
}

static void
expect_error(int argc, char **argv, const char *fragment)
{
    graft_config c;
    char err[256] = "";
    assert_int_equal(graft_config_parse(&c, argc, argv, err, sizeof err), GRAFT_ERR_INVALID);
    if (!strstr(err, fragment))
        fail_msg("error '%s' does not mention '%s'", err, fragment);
}

static void
test_bad_values(void **state)
{
    (void)state;
    expect_error(3, (char *[]){"x", "--dim", "0"}, "--dim");
    expect_error(3, (char *[]){"x", "--dim", "abc"}, "whole number");
    expect_error(3, (char *[]){"x", "--lr", "nan"}, "not a number");
    expect_error(3, (char *[]){"x", "--optimizer", "adam"}, "sgd|adagrad");
    expect_error(2, (char *[]){"x", "--nope"}, "unknown option '--nope'");
    expect_error(2, (char *[]){"x", "--epochs"}, "needs a value");
    expect_error(2, (char *[]){"x", "stray"}, "stray");
}

static void
test_help_and_print_come_from_the_table(void **state)
{
    (void)state;
    char buf[16384];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    graft_opts_help(graft_config_opts, f);
    fclose(f);
    for (const graft_opt *o = graft_config_opts; o->name; o++) {
        char want[64];
        snprintf(want, sizeof want, "--%s", o->name);
        assert_non_null(strstr(buf, want));
    }
    graft_config c;
    char err[64];
    char *argv[] = {"x", "--optimizer", "sgd"};
    graft_config_parse(&c, 3, argv, err, sizeof err);
    f = fmemopen(buf, sizeof buf, "w");
    graft_opts_print(graft_config_opts, &c, NULL, f);
    fclose(f);
    assert_non_null(strstr(buf, "optimizer = sgd\n"));
    assert_non_null(strstr(buf, "dim = 64\n"));
}

static void
test_config_file_then_flags(void **state)
{
    (void)state;
    char path[] = "/tmp/graft-config-XXXXXX";
    FILE *f = fdopen(mkstemp(path), "w");
    fprintf(f, "# a job\n\ndim = 12\n  epochs=7\ntrain = from-file.csv\noptimizer = sgd\n");
    fclose(f);
    char flag[64];
    snprintf(flag, sizeof flag, "--config=%s", path);
    char *argv[] = {"x", "--epochs", "9", flag};
    graft_config c;
    char err[512];
    assert_int_equal(graft_config_parse(&c, 4, argv, err, sizeof err), GRAFT_OK);
    assert_int_equal(c.dim, 12);
    assert_int_equal(c.epochs, 9); /* the flag wins, though it comes first */
    assert_string_equal(c.train, "from-file.csv");
    assert_int_equal(c.optimizer, 0);
    char buf[16384];
    FILE *o = fmemopen(buf, sizeof buf, "w");
    graft_opts_print(graft_config_opts, &c, &c.sources, o);
    fclose(o);
    char want[256];
    snprintf(want, sizeof want, "# %s:3", path);
    assert_non_null(strstr(strstr(buf, "dim "), want));
    assert_non_null(strstr(strstr(buf, "epochs "), "# command line"));
    assert_non_null(strstr(strstr(buf, "lr "), "# default"));
    graft_config_free(&c);
    /* An unknown key and a value out of bounds name the file and line. */
    f = fopen(path, "w");
    fprintf(f, "dim = 8\nlearning-rate = 2\n");
    fclose(f);
    assert_int_equal(graft_config_parse(&c, 4, argv, err, sizeof err), GRAFT_ERR_INVALID);
    snprintf(want, sizeof want, "%s:2: unknown key 'learning-rate'", path);
    assert_string_equal(err, want);
    graft_config_free(&c);
    f = fopen(path, "w");
    fprintf(f, "dim = 0\n");
    fclose(f);
    assert_int_equal(graft_config_parse(&c, 4, argv, err, sizeof err), GRAFT_ERR_INVALID);
    snprintf(want, sizeof want, "%s:1: --dim: 0 is outside", path);
    assert_memory_equal(err, want, strlen(want));
    graft_config_free(&c);
    remove(path);
    assert_int_equal(graft_config_parse(&c, 4, argv, err, sizeof err), GRAFT_ERR_IO);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_flags),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_help_and_print_come_from_the_table),
        cmocka_unit_test(test_config_file_then_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
