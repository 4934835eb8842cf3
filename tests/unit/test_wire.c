#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "alloc.h"
#include "wire.h"

static const graft_wire_limits LIM = {.max_message_bytes = 1 << 20, .max_keys = 1000};

static void
test_round_trip(void **state)
{
    (void)state;
    graft_msg m, d;
    graft_wire_init(&m, GRAFT_MSG_PUSH, 42);
    m.table = 3;
    m.key_count = 7;
    m.width = 65;
    m.create = 1;
    m.worker = 2;
    m.clock = 99;
    m.has_spec = 1;
    snprintf(m.spec.name, sizeof m.spec.name, "user");
    m.spec.width = 65;
    m.spec.seed = 1ULL << 60;
    m.spec.init_scale = 0.1f;
    m.spec.optimizer = GRAFT_OPTIM_ADAGRAD;
    m.spec.lr = 0.05f;
    graft_server_stats st = {0}, got;
    st.requests = 5;
    st.ntables = 2;
    snprintf(st.tables[1].name, sizeof st.tables[1].name, "item");
    st.tables[1].rows = 123456789012ULL;
    m.stats = &st;
    uint8_t *buf;
    size_t len;
    assert_int_equal(graft_wire_encode(&m, &buf, &len), GRAFT_OK);
    char err[256];
    /* Without somewhere to put them, a header's statistics are not read. */
    assert_int_equal(graft_wire_decode(buf, len, &d, NULL, err, sizeof err), GRAFT_OK);
    assert_null(d.stats);
    assert_int_equal(graft_wire_decode(buf, len, &d, &got, err, sizeof err), GRAFT_OK);
    graft_free(buf);
    assert_int_equal(d.version, GRAFT_WIRE_VERSION);
    assert_int_equal(d.type, GRAFT_MSG_PUSH);
    assert_int_equal(d.request_id, 42);
    assert_int_equal(d.table, 3);
    assert_int_equal(d.key_count, 7);
    assert_int_equal(d.width, 65);
    assert_int_equal(d.create, 1);
    assert_int_equal(d.worker, 2);
    assert_int_equal(d.clock, 99);
    assert_true(d.has_spec);
    assert_string_equal(d.spec.name, "user");
    assert_true(d.spec.seed == 1ULL << 60);
    assert_int_equal(d.spec.optimizer, GRAFT_OPTIM_ADAGRAD);
    assert_float_equal(d.spec.lr, 0.05f, 0);
    assert_ptr_equal(d.stats, &got);
    assert_int_equal(got.requests, 5);
    assert_int_equal(got.ntables, 2);
    assert_string_equal(got.tables[1].name, "item");
    assert_true(got.tables[1].rows == 123456789012ULL);
    /* The header no longer carries the statistics' space (5.7 KB) in every message. */
    assert_true(sizeof(graft_msg) < 1024);
}

static void
test_garbage_does_not_decode(void **state)
{
    (void)state;
    graft_msg d;
    char err[256];
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(graft_wire_decode(junk, sizeof junk, &d, NULL, err, sizeof err),
                     GRAFT_ERR_PROTO);
    /* A truncated valid header */
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_PULL, 1234567);
    snprintf(m.error_message, sizeof m.error_message, "some text to make it longer");
    uint8_t *buf;
    size_t len;
    assert_int_equal(graft_wire_encode(&m, &buf, &len), GRAFT_OK);
    assert_int_equal(graft_wire_decode(buf, len - 3, &d, NULL, err, sizeof err), GRAFT_ERR_PROTO);
    graft_free(buf);
}

static graft_err
check(graft_msg_type type, uint32_t version, uint32_t keys, uint32_t width, int nframes, size_t s0,
      size_t s1)
{
    graft_msg m;
    graft_wire_init(&m, type, 1);
    m.version = version;
    m.key_count = keys;
    m.width = width;
    size_t sizes[2] = {s0, s1};
    char err[256];
    return graft_wire_check_request(&m, nframes, sizes, &LIM, err, sizeof err);
}

static void
test_every_malformed_request(void **state)
{
    (void)state;
    const uint32_t V = GRAFT_WIRE_VERSION;
    /* Good ones */
    assert_int_equal(check(GRAFT_MSG_PULL, V, 10, 4, 1, 80, 0), GRAFT_OK);
    assert_int_equal(check(GRAFT_MSG_PUSH, V, 10, 4, 2, 80, 160), GRAFT_OK);
    assert_int_equal(check(GRAFT_MSG_BARRIER, V, 0, 0, 0, 0, 0), GRAFT_OK);
    assert_int_equal(check(GRAFT_MSG_PULL, V, 0, 4, 1, 0, 0), GRAFT_OK);
    /* Bad version */
    assert_int_equal(check(GRAFT_MSG_PULL, V + 1, 10, 4, 1, 80, 0), GRAFT_ERR_VERSION);
    assert_int_equal(check(GRAFT_MSG_PULL, 0, 10, 4, 1, 80, 0), GRAFT_ERR_VERSION);
    /* Key count that does not match the keys frame, both ways */
    assert_int_equal(check(GRAFT_MSG_PULL, V, 10, 4, 1, 79, 0), GRAFT_ERR_SIZE);
    assert_int_equal(check(GRAFT_MSG_PULL, V, 10, 4, 1, 88, 0), GRAFT_ERR_SIZE);
    /* Values frame that does not match keys x width */
    assert_int_equal(check(GRAFT_MSG_PUSH, V, 10, 4, 2, 80, 156), GRAFT_ERR_SIZE);
    assert_int_equal(check(GRAFT_MSG_PUSH, V, 10, 5, 2, 80, 160), GRAFT_ERR_SIZE);
    /* A key count of 2^32 - 1 whose byte count would overflow 32 bits */
    assert_int_equal(check(GRAFT_MSG_PULL, V, UINT32_MAX, 4, 1, 8, 0), GRAFT_ERR_TOOBIG);
    /* Over the key limit */
    assert_int_equal(check(GRAFT_MSG_PULL, V, 1001, 4, 1, 8008, 0), GRAFT_ERR_TOOBIG);
    /* An oversized frame */
    assert_int_equal(check(GRAFT_MSG_PUSH, V, 10, 4, 2, 80, (1 << 20) + 1), GRAFT_ERR_TOOBIG);
    /* Width 0 */
    assert_int_equal(check(GRAFT_MSG_PULL, V, 10, 0, 1, 80, 0), GRAFT_ERR_SIZE);
    /* Wrong number of frames */
    assert_int_equal(check(GRAFT_MSG_PULL, V, 10, 4, 0, 0, 0), GRAFT_ERR_PROTO);
    assert_int_equal(check(GRAFT_MSG_PUSH, V, 10, 4, 1, 80, 0), GRAFT_ERR_PROTO);
    assert_int_equal(check(GRAFT_MSG_STATS, V, 0, 0, 1, 8, 0), GRAFT_ERR_PROTO);
    /* Not a request */
    assert_int_equal(check(GRAFT_MSG_ERROR, V, 0, 0, 0, 0, 0), GRAFT_ERR_PROTO);
    assert_int_equal(check((graft_msg_type)77, V, 0, 0, 0, 0, 0), GRAFT_ERR_PROTO);
    assert_int_equal(check(GRAFT_MSG_NONE, V, 0, 0, 0, 0, 0), GRAFT_ERR_PROTO);
    /* Create without a usable spec */
    assert_int_equal(check(GRAFT_MSG_CREATE, V, 0, 0, 0, 0, 0), GRAFT_ERR_INVALID);
}

static void
test_an_empty_frame_is_an_old_version(void **state)
{
    (void)state;
    /* Protobuf reads zero bytes as a header of all defaults: version 0, refused as such. */
    graft_msg d;
    char err[256];
    assert_int_equal(graft_wire_decode("", 0, &d, NULL, err, sizeof err), GRAFT_OK);
    size_t none[1] = {0};
    assert_int_equal(graft_wire_check_request(&d, 0, none, &LIM, err, sizeof err),
                     GRAFT_ERR_VERSION);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_garbage_does_not_decode),
        cmocka_unit_test(test_every_malformed_request),
        cmocka_unit_test(test_an_empty_frame_is_an_old_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
