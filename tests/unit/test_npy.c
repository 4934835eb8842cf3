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
#include "npy.h"

static void
test_header_follows_the_format(void **state)
{
    (void)state;
    char buf[256];
    size_t len;
    assert_int_equal(graft_npy_header(610, 65, buf, sizeof buf, &len), GRAFT_OK);
    /* NEP 1 / numpy.lib.format version 1.0: magic, major 1, minor 0, little-endian u16 header
     * length, the dict, space padding and a newline so that the data is 64-byte aligned. */
    const char dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (610, 65), }";
    char want[128];
    memcpy(want, "\x93NUMPY\x01\x00\x76\x00", 10);
    memcpy(want + 10, dict, sizeof dict - 1);
    memset(want + 10 + sizeof dict - 1, ' ', 128 - 10 - (sizeof dict - 1) - 1);
    want[127] = '\n';
    assert_int_equal(len, 128);
    assert_memory_equal(buf, want, 128);
    assert_int_equal(graft_npy_header(1ULL << 40, 4096, buf, sizeof buf, &len), GRAFT_OK);
    assert_int_equal(len % 64, 0);
    assert_int_equal(buf[len - 1], '\n');
}

static void
test_round_trip_and_refusals(void **state)
{
    (void)state;
    char path[] = "/tmp/graft-npy-XXXXXX";
    FILE *f = fdopen(mkstemp(path), "wb");
    char hdr[256];
    size_t len;
    graft_npy_header(3, 2, hdr, sizeof hdr, &len);
    float v[6] = {1, -2.5f, 3, 4e-3f, 5, 6};
    fwrite(hdr, 1, len, f);
    fwrite(v, sizeof(float), 6, f);
    fclose(f);
    float *data;
    uint64_t rows;
    uint32_t cols;
    char err[512];
    assert_int_equal(graft_npy_read(path, &data, &rows, &cols, err, sizeof err), GRAFT_OK);
    assert_int_equal(rows, 3);
    assert_int_equal(cols, 2);
    assert_memory_equal(data, v, sizeof v);
    graft_free(data);
    assert_int_equal(truncate(path, (off_t)len + 20), 0);
    assert_int_equal(graft_npy_read(path, &data, &rows, &cols, err, sizeof err), GRAFT_ERR_PARSE);
    assert_non_null(strstr(err, "truncated"));
    f = fopen(path, "wb");
    fputs("not numpy", f);
    fclose(f);
    assert_int_equal(graft_npy_read(path, &data, &rows, &cols, err, sizeof err), GRAFT_ERR_PARSE);
    remove(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_follows_the_format),
        cmocka_unit_test(test_round_trip_and_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
