#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "shm.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* What one side writes the other reads, since both map the same pages. */
static void
test_shared_both_ways(void **state)
{
    (void)state;
    graft_shm mine, peer;
    char why[256];
    assert_int_equal(graft_shm_create(1 << 20, &mine), GRAFT_OK);
    assert_int_equal(graft_shm_open_peer((uint32_t)getpid(), (uint32_t)mine.fd, mine.size,
                                         mine.nonce, &peer, why, sizeof why),
                     GRAFT_OK);
    float *a = (float *)((char *)mine.base + GRAFT_SHM_HEADER);
    float *b = (float *)((char *)peer.base + GRAFT_SHM_HEADER);
    a[0] = 1.5f;
    b[1000] = -2.0f;
    assert_true(b[0] == 1.5f && a[1000] == -2.0f);
    graft_shm_close(&peer);
    graft_shm_close(&mine);
    assert_null(mine.base);
}

/* The seals hold: the creator cannot shrink the arena under a server that maps it. */
static void
test_cannot_shrink(void **state)
{
    (void)state;
    graft_shm mine;
    assert_int_equal(graft_shm_create(65536, &mine), GRAFT_OK);
    assert_int_not_equal(ftruncate(mine.fd, 4096), 0);
    assert_int_not_equal(ftruncate(mine.fd, 1 << 20), 0);
    graft_shm_close(&mine);
}

/* A server refuses what is not the arena announced: the wrong nonce or size, an unsealed memfd,
 * a plain file, a descriptor that does not exist. */
static void
test_refusals(void **state)
{
    (void)state;
    graft_shm mine, peer;
    char why[256];
    uint32_t pid = (uint32_t)getpid();
    assert_int_equal(graft_shm_create(65536, &mine), GRAFT_OK);
    assert_int_not_equal(graft_shm_open_peer(pid, (uint32_t)mine.fd, mine.size, mine.nonce + 1,
                                             &peer, why, sizeof why),
                         GRAFT_OK);
    assert_non_null(strstr(why, "nonce"));
    assert_null(peer.base);
    assert_int_not_equal(graft_shm_open_peer(pid, (uint32_t)mine.fd, mine.size * 2, mine.nonce,
                                             &peer, why, sizeof why),
                         GRAFT_OK);
    assert_non_null(strstr(why, "bytes"));
    int loose = memfd_create("loose", MFD_CLOEXEC);
    assert_true(loose >= 0 && ftruncate(loose, 65536) == 0);
    assert_int_not_equal(
        graft_shm_open_peer(pid, (uint32_t)loose, 65536, 0, &peer, why, sizeof why), GRAFT_OK);
    assert_non_null(strstr(why, "sealed"));
    FILE *plain = tmpfile();
    assert_non_null(plain);
    assert_int_not_equal(
        graft_shm_open_peer(pid, (uint32_t)fileno(plain), 0, 0, &peer, why, sizeof why), GRAFT_OK);
    assert_int_not_equal(graft_shm_open_peer(pid, 999999, 65536, 0, &peer, why, sizeof why),
                         GRAFT_OK);
    assert_non_null(strstr(why, "cannot open"));
    fclose(plain);
    close(loose);
    graft_shm_close(&mine);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_both_ways),
        cmocka_unit_test(test_cannot_shrink),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
