#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "hash.h"
#include "reader.h"

static uint64_t
key(const char *s)
{
    return graft_hash_id(s, strlen(s));
}

/* Loads a whole buffer; returns the error code and fills out. */
static graft_err
load(const char *text, graft_format fmt, int skip, graft_ratings *out, uint64_t *bad, char *err)
{
    graft_datafile *df;
    memset(out, 0, sizeof *out);
    *bad = 0;
    graft_err rc = graft_datafile_open_mem("mem.csv", text, strlen(text), fmt, &df, err, 512);
    if (rc != GRAFT_OK)
        return rc;
    rc = graft_ratings_load(df, 0, 1, skip, out, bad, NULL, NULL, err, 512);
    graft_datafile_close(&df);
    return rc;
}

static void
expect(const char *text, size_t n, const char *const *users, const char *const *items,
       const float *ratings)
{
    graft_ratings r;
    uint64_t bad;
    char err[512] = "";
    graft_err rc = load(text, GRAFT_FMT_AUTO, 0, &r, &bad, err);
    if (rc != GRAFT_OK)
        fail_msg("unexpected error: %s", err);
    assert_int_equal(r.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_true(r.v[i].user == key(users[i]));
        assert_true(r.v[i].item == key(items[i]));
        assert_float_equal(r.v[i].rating, ratings[i], 1e-6);
    }
    graft_ratings_free(&r);
}

static void
test_formats(void **state)
{
    (void)state;
    const char *u[] = {"1", "1", "7"}, *it[] = {"31", "1029", "2"};
    const float r[] = {2.5f, 3, 4};
    /* MovieLens CSV with its header */
    expect("userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n"
           "7,2,4,1\n",
           3, u, it, r);
    /* CSV without header, no final newline */
    expect("1,31,2.5\n1,1029,3\n7,2,4", 3, u, it, r);
    /* u.data: tab separated */
    expect("1\t31\t2.5\t881250949\n1\t1029\t3\t881250949\n7\t2\t4\t881250949\n", 3, u, it, r);
    /* ratings.dat */
    expect("1::31::2.5::978300760\n1::1029::3::978300760\n7::2::4::978300760\n", 3, u, it, r);
    /* TSV with header, Windows line ends, blank lines */
    expect("user\titem\trating\r\n1\t31\t2.5\r\n\r\n1\t1029\t3\r\n7\t2\t4\r\n\n", 3, u, it, r);
}

static void
test_string_ids_quotes_and_named_columns(void **state)
{
    (void)state;
    const char *u[] = {"alice", "bob"}, *it[] = {"The Matrix", "Heat"};
    const float r[] = {4.5f, 1};
    expect("alice,The Matrix,4.5\n\"bob\",\"Heat\",1\n", 2, u, it, r);
    /* A header that names its columns in another order is honoured. */
    expect("rating,timestamp,item_id,user_id\n4.5,0,The Matrix,alice\n1,0,Heat,bob\n", 2, u, it, r);
}

static void
expect_bad(const char *text, const char *message)
{
    graft_ratings r;
    uint64_t bad;
    char err[512] = "";
    graft_err rc = load(text, GRAFT_FMT_AUTO, 0, &r, &bad, err);
    assert_int_equal(rc, GRAFT_ERR_PARSE);
    if (strcmp(err, message) != 0)
        fail_msg("got '%s', expected '%s'", err, message);
    graft_ratings_free(&r);
    /* Skipping: the bad line is counted, the good ones kept. */
    rc = load(text, GRAFT_FMT_AUTO, 1, &r, &bad, err);
    assert_int_equal(rc, GRAFT_OK);
    assert_int_equal(bad, 1);
    assert_int_equal(r.n, 2);
    graft_ratings_free(&r);
}

static void
test_malformed_lines(void **state)
{
    (void)state;
    expect_bad("1,2,3\n1,2\n3,4,5\n", "mem.csv:2: expected at least 3 fields, found 2");
    expect_bad("1,2,3\n3,4,5\n1,2,abc\n", "mem.csv:3: rating is not a number");
    expect_bad("1,2,3\n1,2,nan\n3,4,5\n", "mem.csv:2: rating is not finite");
    expect_bad("1,2,3\n1,2,inf\n3,4,5\n", "mem.csv:2: rating is not finite");
    expect_bad("1,2,3\n1,2,1e30\n3,4,5\n", "mem.csv:2: rating is out of range");
    expect_bad("1,2,3\n,2,3\n3,4,5\n", "mem.csv:2: empty user id");
    expect_bad("1,2,3\n1, ,3\n3,4,5\n", "mem.csv:2: empty item id");
    expect_bad("1,2,3\n1,2,\n3,4,5\n", "mem.csv:2: empty rating");
    expect_bad("userId,movieId,rating\n1,2,3\n1,2,3x\n3,4,5\n",
               "mem.csv:3: rating is not a number");
    expect_bad("1,2,3\n1,2,0x10\n3,4,5\n", "mem.csv:2: rating is not a decimal number");
    /* A malformed first line is a bad line, not a header: its ids are numbers. */
    expect_bad("1\t2\tfive\t3\n1\t3\t4\t5\n2\t3\t4\t5\n", "mem.csv:1: rating is not a number");
    expect_bad("\"u,1\",\"i,1\",4.0\n1,2,3\n3,4,5\n", "mem.csv:1: rating is not a number");
    static const char nul[] = "1,2,3\n1,\0002,3\n3,4,5\n";
    graft_datafile *df;
    char err[512];
    assert_int_equal(graft_datafile_open_mem("mem.csv", nul, sizeof nul - 1, GRAFT_FMT_AUTO, &df,
                                             err, sizeof err),
                     GRAFT_OK);
    graft_ratings r = {0};
    uint64_t bad = 0;
    assert_int_equal(graft_ratings_load(df, 0, 1, 0, &r, &bad, NULL, NULL, err, sizeof err),
                     GRAFT_ERR_PARSE);
    assert_string_equal(err, "mem.csv:2: line holds a NUL byte");
    graft_datafile_close(&df);
    graft_ratings_free(&r);
    /* An overlong line */
    size_t n = GRAFT_MAX_LINE + 100;
    char *big = malloc(n + 32);
    strcpy(big, "1,2,3\n");
    memset(big + 6, 'x', n);
    strcpy(big + 6 + n, ",2,3\n3,4,5\n");
    expect_bad(big, "mem.csv:2: line is longer than 65536 bytes");
    free(big);
}

/* A UTF-8 byte order mark is stripped, with or without a header. */
static void
test_byte_order_mark(void **state)
{
    (void)state;
    static const char *const texts[] = {"\xef\xbb\xbf"
                                        "u7,i1,4\nu8,i2,3\n",
                                        "\xef\xbb\xbf"
                                        "userId,movieId,rating\nu7,i1,4\nu8,i2,3\n"};
    for (int t = 0; t < 2; t++) {
        graft_datafile *df;
        char err[512];
        assert_int_equal(graft_datafile_open_mem("bom.csv", texts[t], strlen(texts[t]),
                                                 GRAFT_FMT_AUTO, &df, err, sizeof err),
                         GRAFT_OK);
        graft_ratings r = {0};
        uint64_t bad = 0;
        assert_int_equal(graft_ratings_load(df, 0, 1, 0, &r, &bad, NULL, NULL, err, sizeof err),
                         GRAFT_OK);
        assert_int_equal(r.n, 2);
        assert_true(r.v[0].user == graft_hash_id("u7", 2));
        graft_datafile_close(&df);
        graft_ratings_free(&r);
    }
}

/* A FIFO is refused by name at once (it used to block open() forever). */
static void
test_fifo_refused(void **state)
{
    (void)state;
    char path[] = "/tmp/graft-fifo-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    graft_datafile *df;
    char err[512];
    assert_int_equal(graft_datafile_open(path, GRAFT_FMT_AUTO, &df, err, sizeof err), GRAFT_ERR_IO);
    assert_non_null(strstr(err, "FIFO"));
    assert_non_null(strstr(err, path));
    unlink(path);
}

static void
test_unreadable_files(void **state)
{
    (void)state;
    graft_datafile *df;
    char err[512];
    assert_int_equal(
        graft_datafile_open("/nonexistent/ratings.csv", GRAFT_FMT_AUTO, &df, err, sizeof err),
        GRAFT_ERR_IO);
    assert_string_equal(err, "/nonexistent/ratings.csv: No such file or directory");
    assert_null(df);
    assert_int_equal(graft_datafile_open("/", GRAFT_FMT_AUTO, &df, err, sizeof err), GRAFT_ERR_IO);
    assert_int_equal(
        graft_datafile_open_mem("e.csv", "\n\n", 2, GRAFT_FMT_AUTO, &df, err, sizeof err),
        GRAFT_ERR_PARSE);
    assert_string_equal(err, "e.csv: no ratings in the file");
    assert_int_equal(
        graft_datafile_open_mem("e.txt", "1 2 3\n", 6, GRAFT_FMT_AUTO, &df, err, sizeof err),
        GRAFT_ERR_PARSE);
    assert_non_null(strstr(err, "e.txt:1: cannot tell the format"));
}

static void
test_parts_cover_the_file_exactly_once(void **state)
{
    (void)state;
    /* Lines of varying length, a header, and a blank line: every split point lands somewhere. */
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    len += (size_t)sprintf(buf + len, "user,item,rating\n");
    int nlines = 500;
    for (int i = 0; i < nlines; i++) {
        len += (size_t)sprintf(buf + len, "u%d,%d,%d\n", i * 7919 % 1000, i, i % 5 + 1);
        if (i == 250)
            len += (size_t)sprintf(buf + len, "\n");
    }
    for (int nparts = 1; nparts <= 9; nparts++) {
        graft_datafile *df;
        char err[512];
        assert_int_equal(
            graft_datafile_open_mem("p.csv", buf, len, GRAFT_FMT_AUTO, &df, err, sizeof err),
            GRAFT_OK);
        int next = 0;
        for (int p = 0; p < nparts; p++) {
            graft_cursor c;
            graft_datafile_cursor(df, p, nparts, &c);
            graft_record rec;
            int got;
            while (graft_datafile_next(df, &c, &rec, &got, err, sizeof err) == GRAFT_OK && got) {
                char item[16];
                int ilen = snprintf(item, sizeof item, "%d", next);
                assert_int_equal(rec.item.len, ilen);
                assert_memory_equal(rec.item.p, item, (size_t)ilen);
                /* Line numbers count the header and the blank line. */
                assert_int_equal(rec.lineno, (uint64_t)next + 2 + (next > 250));
                next++;
            }
        }
        assert_int_equal(next, nlines);
        graft_datafile_close(&df);
    }
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_string_ids_quotes_and_named_columns),
        cmocka_unit_test(test_malformed_lines),
        cmocka_unit_test(test_unreadable_files),
        cmocka_unit_test(test_byte_order_mark),
        cmocka_unit_test(test_fifo_refused),
        cmocka_unit_test(test_parts_cover_the_file_exactly_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
