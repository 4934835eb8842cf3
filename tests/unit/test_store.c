#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "alloc.h"
#include "hash.h"
#include "manifest.h"
#include "store.h"

static char dir[64];

static int
setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/graft-store-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static uint64_t
write_shard(const char *path, uint32_t width, int rows, uint64_t *checksum)
{
    graft_shard_writer *w;
    char err[256];
    assert_int_equal(graft_shard_writer_open(path, width, &w, err, sizeof err), GRAFT_OK);
    float row[8];
    for (int i = 0; i < rows; i++) {
        for (uint32_t j = 0; j < width; j++)
            row[j] = (float)i + 0.25f * (float)j;
        assert_int_equal(graft_shard_writer_add(w, (uint64_t)i * 1000003u, row), GRAFT_OK);
    }
    uint64_t n;
    assert_int_equal(graft_shard_writer_commit(&w, &n, checksum, err, sizeof err), GRAFT_OK);
    assert_null(w);
    return n;
}

static void
test_shard_round_trip(void **state)
{
    (void)state;
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/t.0-of-1.shard", dir);
    uint64_t sum;
    assert_int_equal(write_shard(path, 5, 100, &sum), 100);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1); /* renamed into place */
    graft_shard s;
    assert_int_equal(graft_shard_open(path, &s, err, sizeof err), GRAFT_OK);
    assert_int_equal(s.rows, 100);
    assert_int_equal(s.width, 5);
    assert_true(s.checksum == sum);
    uint64_t key;
    float row[5];
    graft_shard_row(&s, 42, &key, row);
    assert_true(key == 42ULL * 1000003u);
    assert_float_equal(row[3], 42.75f, 0);
    graft_shard_close(&s);
}

static void
expect_refused(const char *path, const char *fragment)
{
    graft_shard s;
    char err[512];
    assert_int_equal(graft_shard_open(path, &s, err, sizeof err), GRAFT_ERR_PARSE);
    assert_non_null(strstr(err, path));
    if (!strstr(err, fragment))
        fail_msg("'%s' lacks '%s'", err, fragment);
}

static void
test_altered_and_torn_shards_are_refused(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/a.shard", dir);
    uint64_t sum;
    write_shard(path, 3, 50, &sum);
    /* One flipped bit in a row */
    FILE *f = fopen(path, "r+b");
    fseek(f, 100, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 100, SEEK_SET);
    fputc(c ^ 1, f);
    fclose(f);
    expect_refused(path, "checksum mismatch");
    /* Torn: the last bytes missing */
    write_shard(path, 3, 50, &sum);
    assert_int_equal(truncate(path, 24 + 50 * 20 - 7), 0);
    expect_refused(path, "truncated or torn");
    /* Not a shard at all */
    f = fopen(path, "w");
    fputs("this is not a shard, just some text of a fair length....", f);
    fclose(f);
    expect_refused(path, "bad magic");
}

static void
test_manifest_round_trip_and_verify(void **state)
{
    (void)state;
    graft_manifest m = {.dim = 2, .servers = 2, .ntables = 1, .ndomains = 1};
    snprintf(m.domains[0].name, sizeof m.domains[0].name, "main");
    m.domains[0].mu = 3.5;
    m.domains[0].rmin = 0.5;
    m.domains[0].rmax = 5;
    graft_manifest_table *t = &m.tables[0];
    snprintf(t->name, sizeof t->name, "user");
    t->width = 3;
    t->nshards = 2;
    t->shards = calloc(2, sizeof *t->shards);
    for (int s = 0; s < 2; s++) {
        char path[512];
        snprintf(t->shards[s].file, sizeof t->shards[s].file, "user.%d-of-2.shard", s);
        snprintf(path, sizeof path, "%s/%s", dir, t->shards[s].file);
        t->shards[s].rows = write_shard(path, 3, 10 + s, &t->shards[s].checksum);
        t->rows += t->shards[s].rows;
    }
    char err[4608];
    assert_int_equal(graft_manifest_write(dir, &m, err, sizeof err), GRAFT_OK);
    graft_manifest r;
    assert_int_equal(graft_manifest_read(dir, &r, err, sizeof err), GRAFT_OK);
    assert_int_equal(r.dim, 2);
    assert_int_equal(r.servers, 2);
    assert_int_equal(r.ndomains, 1);
    assert_float_equal(r.domains[0].mu, 3.5, 1e-9);
    const graft_manifest_table *u = graft_manifest_find(&r, "user");
    assert_non_null(u);
    assert_int_equal(u->rows, 21);
    assert_int_equal(u->nshards, 2);
    assert_true(u->shards[1].checksum == t->shards[1].checksum);
    assert_null(graft_manifest_find(&r, "item"));
    assert_int_equal(graft_manifest_verify(dir, &r, err, sizeof err), GRAFT_OK);
    /* A shard replaced by another valid shard is caught by the manifest's checksum. */
    char path[256];
    snprintf(path, sizeof path, "%s/user.1-of-2.shard", dir);
    uint64_t other;
    write_shard(path, 3, 11, &other);
    FILE *f = fopen(path, "r+b");
    fseek(f, 30, SEEK_SET);
    fputc(0x55, f);
    fclose(f);
    assert_int_equal(graft_manifest_verify(dir, &r, err, sizeof err), GRAFT_ERR_PARSE);
    assert_non_null(strstr(err, "user.1-of-2.shard"));
    /* A missing shard */
    unlink(path);
    assert_int_equal(graft_manifest_verify(dir, &r, err, sizeof err), GRAFT_ERR_IO);
    assert_non_null(strstr(err, "user.1-of-2.shard: No such file"));
    graft_manifest_free(&r);
    /* A corrupt manifest */
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    f = fopen(path, "w");
    fputs("{\"format\":\"graft-model\",\"version\":1,\"dim\":2,\"servers\":2,\n\"tables\":[\n"
          "{\"name\":\"user\",\"width\":3,\"rows\":99,\"shards\":[{\"file\":\"x\",\"rows\":1,"
          "\"checksum\":\"00\"}]}\n]}\n",
          f);
    fclose(f);
    assert_int_equal(graft_manifest_read(dir, &r, err, sizeof err), GRAFT_ERR_PARSE);
    assert_non_null(strstr(err, "manifest.json: malformed manifest: written by an older Graft"));
    graft_manifest_free(&m);
}

static void
put_manifest(const char *text, int with_checksum)
{
    char path[256];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    if (with_checksum)
        fprintf(f, "\"checksum\":\"%016llx\"}\n",
                (unsigned long long)graft_checksum64(text, strlen(text), 0));
    fclose(f);
}

static char *
read_manifest(size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    return buf;
}

/* The manifest carries its own checksum: any byte changed (one digit of mu, say), a truncation
 * or a missing checksum line is refused naming the file; a manifest whose checksum holds but
 * whose fields are out of range is refused naming the line. */
static void
test_manifest_checksum_and_ranges(void **state)
{
    (void)state;
    graft_manifest m = {.dim = 4,
                        .servers = 1,
                        .ntables = 1,
                        .ndomains = 1,
                        .has_data = 1,
                        .data_ratings = 77,
                        .data_hash = 0x1234abcdULL};
    snprintf(m.domains[0].name, sizeof m.domains[0].name, "target");
    snprintf(m.domains[0].warm, sizeof m.domains[0].warm, "target-only");
    m.domains[0].mu = 3.25;
    m.domains[0].rmin = 1;
    m.domains[0].rmax = 5;
    graft_manifest_table *t = &m.tables[0];
    snprintf(t->name, sizeof t->name, "user");
    t->width = 5;
    t->nshards = 1;
    t->rows = 3;
    t->shards = calloc(1, sizeof *t->shards);
    snprintf(t->shards[0].file, sizeof t->shards[0].file, "user.0-of-1.shard");
    t->shards[0].rows = 3;
    char err[4608];
    assert_int_equal(graft_manifest_write(dir, &m, err, sizeof err), GRAFT_OK);
    graft_manifest r;
    assert_int_equal(graft_manifest_read(dir, &r, err, sizeof err), GRAFT_OK);
    assert_true(r.has_data && r.data_ratings == 77 && r.data_hash == 0x1234abcdULL);
    assert_string_equal(r.domains[0].warm, "target-only");
    graft_manifest_free(&r);
    size_t len;
    char *good = read_manifest(&len);
    char *mu = strstr(good, "\"mu\":3.25");
    assert_non_null(mu);
    /* One digit of mu */
    char *text = strdup(good);
    text[mu - good + 6] = '9';
    put_manifest(text, 0);
    assert_int_equal(graft_manifest_read(dir, &r, err, sizeof err), GRAFT_ERR_PARSE);
    assert_non_null(strstr(err, "manifest.json: malformed manifest: checksum mismatch"));
    /* Truncated, and without its checksum line */
    text[len / 2] = 0;
    put_manifest(text, 0);
    assert_int_equal(graft_manifest_read(dir, &r, err, sizeof err), GRAFT_ERR_PARSE);
    assert_non_null(strstr(err, "manifest.json: malformed manifest"));
    free(text);
    /* Out of range, with a checksum that holds: mu outside the rating range, a negative width,
     * a shard file that leaves the folder, dim 0. */
    char *body = strdup(good);
    strstr(body, "\n\"checksum\":\"")[1] = 0;
    static const char *const edits[][2] = {{"\"mu\":3.25", "\"mu\":7.25"},
                                           {"\"width\":5", "\"width\":-5"},
                                           {"\"file\":\"user", "\"file\":\"../us"},
                                           {"\"dim\":4", "\"dim\":0"}};
    for (int e = 0; e < 4; e++) {
        char edited[8192];
        char *at = strstr(body, edits[e][0]);
        assert_non_null(at);
        snprintf(edited, sizeof edited, "%.*s%s%s", (int)(at - body), body, edits[e][1],
                 at + strlen(edits[e][0]));
        put_manifest(edited, 1);
        assert_int_equal(graft_manifest_read(dir, &r, err, sizeof err), GRAFT_ERR_PARSE);
        assert_non_null(strstr(err, "manifest.json:"));
    }
    /* The same body with its checksum is read again. */
    put_manifest(body, 1);
    assert_int_equal(graft_manifest_read(dir, &r, err, sizeof err), GRAFT_OK);
    graft_manifest_free(&r);
    free(body);
    free(good);
    graft_manifest_free(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shard_round_trip),
        cmocka_unit_test(test_altered_and_torn_shards_are_refused),
        cmocka_unit_test(test_manifest_round_trip_and_verify),
        cmocka_unit_test(test_manifest_checksum_and_ranges),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
