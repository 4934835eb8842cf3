/* A hostile peer for a live graft-server, launched as the one worker of an MPMD job:
 *   mpirun -np 1 graft-server --max-message-mb 1 : -np 1 wire_peer
 * It sends every kind of malformed request as raw frames (and shared-memory arenas that are not
 * what they claim), checks that each gets the right error
 * reply, that an oversized frame only drops its own connection, and that the table's rows are
 * bit-for-bit what they were. Exit 0 when all holds. */
#include "alloc.h"
#include "job.h"
#include "net.h"
#include "shm.h"
#include "wire.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define W 8
#define N 100

static int failures;
static int intruding; /* an intruder's send may fail: the server has dropped it */

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "wire_peer: FAIL line %d: ", __LINE__);                                \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void
send_frames(graft_sock *s, int n, const void *const *data, const size_t *sizes)
{
    if (graft_sock_send(s, n, data, sizes) != GRAFT_OK)
        EXPECT(intruding, "send failed");
}

static void
send_hdr(graft_sock *s, const graft_msg *m, int nextra, const void *const *extra,
         const size_t *esizes)
{
    uint8_t *h;
    size_t hl;
    graft_wire_encode(m, &h, &hl);
    const void *data[GRAFT_NET_MAX_PARTS + 4] = {h};
    size_t sizes[GRAFT_NET_MAX_PARTS + 4] = {hl};
    for (int i = 0; i < nextra; i++) {
        data[i + 1] = extra[i];
        sizes[i + 1] = esizes[i];
    }
    send_frames(s, nextra + 1, data, sizes);
    graft_free(h);
}

/* Receives a reply; returns its header, with the payload copied to out when given. */
/* Where a STATS reply's statistics are decoded (this peer waits for one reply at a time). */
static graft_server_stats peer_stats;

static int
recv_msg(graft_sock *s, graft_msg *m, void *out, size_t outlen, int timeout_ms)
{
    graft_parts p;
    if (graft_sock_recv(s, &p, timeout_ms) != GRAFT_OK)
        return 0;
    char err[256];
    int ok = p.n >= 1 &&
             graft_wire_decode(p.data[0], p.size[0], m, &peer_stats, err, sizeof err) == GRAFT_OK;
    if (ok && out) {
        ok = p.n == 2 && p.size[1] == outlen;
        if (ok)
            memcpy(out, p.data[1], outlen);
    }
    graft_parts_close(&p);
    return ok;
}

static void
expect_error(graft_sock *s, graft_err code, const char *what)
{
    graft_msg r;
    int got = recv_msg(s, &r, NULL, 0, 5000);
    EXPECT(got, "%s: no reply", what);
    if (!got)
        return;
    EXPECT(r.type == GRAFT_MSG_ERROR, "%s: reply type %d, expected an error", what, r.type);
    EXPECT(r.error_code == (uint32_t)code, "%s: error %s, expected %s (%s)", what,
           graft_errname((graft_err)r.error_code), graft_errname(code), r.error_message);
    printf("wire_peer: %-36s -> %s: %s\n", what, graft_errname((graft_err)r.error_code),
           r.error_message);
}

static void
pull(graft_sock *s, uint32_t table, const uint64_t *keys, float *out)
{
    graft_msg m, r;
    graft_wire_init(&m, GRAFT_MSG_PULL, 1000);
    m.table = table;
    m.key_count = N;
    m.width = W;
    m.create = 1;
    const void *ex[1] = {keys};
    size_t es[1] = {N * 8};
    send_hdr(s, &m, 1, ex, es);
    EXPECT(recv_msg(s, &r, out, N * W * sizeof(float), 5000) && r.type == GRAFT_MSG_PULL,
           "a valid pull failed");
}

/* A pull or push of the N keys whose rows are in this connection's arena at offset. */
static void
send_in_arena(graft_sock *s, graft_msg_type type, uint64_t id, uint32_t table, const uint64_t *keys,
              uint64_t offset)
{
    graft_msg m;
    graft_wire_init(&m, type, id);
    m.table = table;
    m.key_count = N;
    m.width = W;
    m.in_arena = 1;
    m.arena_offset = offset;
    send_hdr(s, &m, 1, (const void *[]){keys}, (size_t[]){N * 8});
}

static uint32_t
create_table(graft_sock *s, const char *name, graft_optim_kind opt)
{
    graft_msg m, r;
    graft_wire_init(&m, GRAFT_MSG_CREATE, 1);
    m.has_spec = 1;
    snprintf(m.spec.name, sizeof m.spec.name, "%s", name);
    m.spec.optimizer = opt;
    m.spec.lr = 0.01f;
    m.spec.width = W;
    m.spec.seed = 3;
    m.spec.init_scale = 0.5f;
    send_hdr(s, &m, 0, NULL, NULL);
    EXPECT(recv_msg(s, &r, NULL, 0, 5000) && r.type == GRAFT_MSG_CREATE, "create failed");
    return r.table;
}

static uint32_t
create_rows(graft_sock *s)
{
    return create_table(s, "rows", GRAFT_OPTIM_SGD);
}

/* A second thread of the peer flips one pushed value between finite and NaN while pushes that
 * name the arena run: the server must check and apply the same values. */
static volatile int flipping = 1;
static float *volatile flip_at;

static void *
flipper(void *arg)
{
    (void)arg;
    while (flipping) {
        flip_at[0] = NAN;
        flip_at[0] = 1e-3f;
    }
    return NULL;
}

static int
all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

/* The job's own worker, with the key pair it published, against two strangers on a CURVE
 * server (started with --curve on): one with a key pair of its own, one without CURVE. Neither
 * gets a reply, nor changes a row. */
static int
intruders(graft_job *job, const char *pub, const char *sec)
{
    graft_net *net, *bad;
    graft_sock *s, *stranger, *plain;
    graft_net_create(&net);
    graft_net_set_identity(net, pub, sec);
    EXPECT(job->server_keys[0][0],
           "the server published no CURVE key (was it started with --curve on?)");
    graft_sock_connect_dealer(net, job->endpoints[0], job->server_keys[0], &s);
    char bpub[GRAFT_CURVE_KEY_LEN], bsec[GRAFT_CURVE_KEY_LEN];
    graft_net_create(&bad);
    graft_net_keypair(bpub, bsec);
    graft_net_set_identity(bad, bpub, bsec);
    graft_sock_connect_dealer(bad, job->endpoints[0], job->server_keys[0], &stranger);
    graft_sock_connect_dealer(bad, job->endpoints[0], NULL, &plain);
    /* Once the server refuses them, their sends have no peer to go to: fail fast. */
    graft_sock_set_send_timeout(stranger, 500);
    graft_sock_set_send_timeout(plain, 500);
    uint32_t table = create_rows(s);
    uint64_t keys[N];
    for (int i = 0; i < N; i++)
        keys[i] = (uint64_t)i * 977 + 1;
    static float before[N * W], after[N * W], got[N * W];
    pull(s, table, keys, before);
    float vals[N * W];
    for (int i = 0; i < N * W; i++)
        vals[i] = 1.0f;
    graft_sock *who[2] = {stranger, plain};
    const char *name[2] = {"a stranger's key pair", "no CURVE at all"};
    intruding = 1;
    for (int k = 0; k < 2; k++) {
        graft_msg m, r;
        graft_wire_init(&m, GRAFT_MSG_PUSH, 50);
        m.table = table;
        m.key_count = N;
        m.width = W;
        send_hdr(who[k], &m, 2, (const void *[]){keys, vals}, (size_t[]){N * 8, sizeof vals});
        graft_wire_init(&m, GRAFT_MSG_PULL, 51);
        m.table = table;
        m.key_count = N;
        m.width = W;
        send_hdr(who[k], &m, 1, (const void *[]){keys}, (size_t[]){N * 8});
        int answered = recv_msg(who[k], &r, got, sizeof got, 2000);
        EXPECT(!answered, "%s: the server answered", name[k]);
        printf("wire_peer: intruder with %-22s -> %s\n", name[k],
               answered ? "ANSWERED" : "no reply, nothing applied");
    }
    intruding = 0;
    pull(s, table, keys, after);
    EXPECT(memcmp(before, after, sizeof before) == 0, "an intruder changed the rows");
    graft_msg m, r;
    graft_wire_init(&m, GRAFT_MSG_STATS, 8);
    send_hdr(s, &m, 0, NULL, NULL);
    EXPECT(recv_msg(s, &r, NULL, 0, 5000) && r.stats && r.stats->pushes == 0,
           "the server applied a push");
    graft_wire_init(&m, GRAFT_MSG_SHUTDOWN, 9);
    send_hdr(s, &m, 0, NULL, NULL);
    EXPECT(recv_msg(s, &r, NULL, 0, 5000) && r.type == GRAFT_MSG_SHUTDOWN, "shutdown failed");
    graft_sock_close(&s);
    graft_sock_close(&stranger);
    graft_sock_close(&plain);
    graft_net_destroy(&bad);
    graft_net_destroy(&net);
    printf("wire_peer: intruders done, %d failures\n", failures);
    return failures ? 1 : 0;
}

int
main(int argc, char **argv)
{
    graft_job job;
    if (graft_job_init(&argc, &argv, GRAFT_ROLE_WORKER, &job) != GRAFT_OK)
        return 2;
    if (argc > 1 && strcmp(argv[1], "--intruders") == 0) {
        char pub[GRAFT_CURVE_KEY_LEN], sec[GRAFT_CURVE_KEY_LEN];
        graft_net_keypair(pub, sec);
        graft_job_publish(&job, NULL, pub);
        graft_job_agree(&job, 0);
        int rc = intruders(&job, pub, sec);
        graft_job_finalize(&job);
        return rc;
    }
    graft_job_publish(&job, NULL, NULL);
    graft_job_agree(&job, 0);
    graft_net *net;
    graft_sock *s, *s2;
    graft_net_create(&net);
    graft_sock_connect_dealer(net, job.endpoints[0], NULL, &s);
    graft_sock_connect_dealer(net, job.endpoints[0], NULL, &s2);

    graft_msg m, r;
    uint32_t table = create_rows(s);

    uint64_t keys[N];
    for (int i = 0; i < N; i++)
        keys[i] = (uint64_t)i * 977 + 1;
    static float before[N * W], after[N * W];
    pull(s, table, keys, before);

    float vals[N * W];
    for (int i = 0; i < N * W; i++)
        vals[i] = 1.0f;
    const void *kv[2] = {keys, vals};
    int nbad = 0;

    /* 1. bytes that are no protobuf at all */
    const char junk[] = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01garbage";
    send_frames(s, 1, (const void *[]){junk}, (size_t[]){sizeof junk});
    expect_error(s, GRAFT_ERR_PROTO, "garbage header");
    nbad++;
    /* 2. an empty frame */
    send_frames(s, 1, (const void *[]){""}, (size_t[]){0});
    expect_error(s, GRAFT_ERR_VERSION, "empty frame");
    nbad++;
    /* 3. a truncated header */
    graft_wire_init(&m, GRAFT_MSG_PULL, 77);
    snprintf(m.error_message, sizeof m.error_message, "padding padding padding");
    uint8_t *h;
    size_t hl;
    graft_wire_encode(&m, &h, &hl);
    send_frames(s, 1, (const void *[]){h}, (size_t[]){hl - 4});
    graft_free(h);
    expect_error(s, GRAFT_ERR_PROTO, "truncated header");
    nbad++;
    /* 4. a wrong version */
    graft_wire_init(&m, GRAFT_MSG_PULL, 2);
    m.version = 99;
    m.table = table;
    m.key_count = N;
    m.width = W;
    send_hdr(s, &m, 1, kv, (size_t[]){N * 8});
    expect_error(s, GRAFT_ERR_VERSION, "version 99");
    nbad++;
    /* 5. an unknown table */
    graft_wire_init(&m, GRAFT_MSG_PUSH, 3);
    m.table = 7;
    m.key_count = N;
    m.width = W;
    send_hdr(s, &m, 2, kv, (size_t[]){N * 8, sizeof vals});
    expect_error(s, GRAFT_ERR_TABLE, "unknown table");
    nbad++;
    /* 6. a valid header with a lying key count */
    graft_wire_init(&m, GRAFT_MSG_PUSH, 4);
    m.table = table;
    m.key_count = N + 1;
    m.width = W;
    send_hdr(s, &m, 2, kv, (size_t[]){N * 8, sizeof vals});
    expect_error(s, GRAFT_ERR_SIZE, "key count larger than keys frame");
    nbad++;
    /* 7. a values frame one float short */
    m.key_count = N;
    send_hdr(s, &m, 2, kv, (size_t[]){N * 8, sizeof vals - 4});
    expect_error(s, GRAFT_ERR_SIZE, "values frame short");
    nbad++;
    /* 8. a key count of 2^32 - 1 */
    m.key_count = UINT32_MAX;
    send_hdr(s, &m, 2, kv, (size_t[]){N * 8, sizeof vals});
    expect_error(s, GRAFT_ERR_TOOBIG, "key count 2^32-1");
    nbad++;
    /* 9. a width that is not the table's */
    m.key_count = N / 2;
    m.width = W * 2;
    send_hdr(s, &m, 2, kv, (size_t[]){N / 2 * 8, sizeof vals});
    expect_error(s, GRAFT_ERR_SIZE, "wrong width");
    nbad++;
    /* 10. a NaN gradient */
    vals[5] = NAN;
    m.key_count = N;
    m.width = W;
    send_hdr(s, &m, 2, kv, (size_t[]){N * 8, sizeof vals});
    expect_error(s, GRAFT_ERR_INVALID, "NaN gradient");
    vals[5] = 1.0f;
    nbad++;
    /* 11. too many frames */
    const void *many[GRAFT_NET_MAX_PARTS + 2];
    size_t msz[GRAFT_NET_MAX_PARTS + 2];
    for (int i = 0; i < GRAFT_NET_MAX_PARTS + 2; i++) {
        many[i] = keys;
        msz[i] = 8;
    }
    send_hdr(s, &m, GRAFT_NET_MAX_PARTS + 2, many, msz);
    expect_error(s, GRAFT_ERR_PROTO, "too many frames");
    nbad++;
    /* 12. a reply type sent as a request */
    graft_wire_init(&m, GRAFT_MSG_ERROR, 5);
    send_hdr(s, &m, 0, NULL, NULL);
    expect_error(s, GRAFT_ERR_PROTO, "error message as request");
    nbad++;
    /* 13. a pull with a gradients frame too */
    graft_wire_init(&m, GRAFT_MSG_PULL, 6);
    m.table = table;
    m.key_count = N;
    m.width = W;
    send_hdr(s, &m, 2, kv, (size_t[]){N * 8, sizeof vals});
    expect_error(s, GRAFT_ERR_PROTO, "pull with two payload frames");
    nbad++;

    /* Shared-memory arenas (same host): attaches that are not what they claim, and rows said to
     * be in an arena where they cannot be. */
    send_in_arena(s, GRAFT_MSG_PUSH, 20, table, keys, GRAFT_SHM_HEADER);
    expect_error(s, GRAFT_ERR_INVALID, "arena rows, no arena attached");
    nbad++;
    FILE *plain = tmpfile();
    EXPECT(plain && ftruncate(fileno(plain), 65536) == 0, "no temporary file");
    graft_wire_init(&m, GRAFT_MSG_ATTACH, 21);
    m.arena_pid = (uint32_t)getpid();
    m.arena_fd = (uint32_t)fileno(plain);
    m.arena_bytes = 65536;
    send_hdr(s, &m, 0, NULL, NULL);
    expect_error(s, GRAFT_ERR_INVALID, "attach a plain file");
    nbad++;
    m.arena_fd = 999999;
    send_hdr(s, &m, 0, NULL, NULL);
    expect_error(s, GRAFT_ERR_IO, "attach a closed descriptor");
    nbad++;
    graft_shm arena;
    EXPECT(graft_shm_create(1 << 20, &arena) == GRAFT_OK, "no arena");
    m.arena_fd = (uint32_t)arena.fd;
    m.arena_bytes = arena.size;
    m.arena_nonce = arena.nonce ^ 1;
    send_hdr(s, &m, 0, NULL, NULL);
    expect_error(s, GRAFT_ERR_INVALID, "attach with the wrong nonce");
    nbad++;
    m.arena_nonce = arena.nonce;
    m.arena_bytes = 0;
    send_hdr(s, &m, 0, NULL, NULL);
    expect_error(s, GRAFT_ERR_INVALID, "attach of 0 bytes");
    nbad++;
    m.arena_bytes = arena.size;
    send_hdr(s, &m, 0, NULL, NULL);
    EXPECT(recv_msg(s, &r, NULL, 0, 5000) && r.type == GRAFT_MSG_ATTACH, "a valid attach failed");
    float *rows = (float *)((char *)arena.base + GRAFT_SHM_HEADER);
    memcpy(rows, vals, sizeof vals);
    const uint64_t bad_off[4] = {arena.size, 8, GRAFT_SHM_HEADER + 4, UINT64_MAX - 7};
    const char *bad_what[4] = {"arena rows past its end", "arena rows over its header",
                               "arena offset not aligned", "arena offset near 2^64"};
    for (int i = 0; i < 4; i++) {
        send_in_arena(s, GRAFT_MSG_PUSH, 30 + (uint64_t)i, table, keys, bad_off[i]);
        expect_error(s, GRAFT_ERR_INVALID, bad_what[i]);
        nbad++;
    }
    rows[N * W - 1] = NAN;
    send_in_arena(s, GRAFT_MSG_PUSH, 35, table, keys, GRAFT_SHM_HEADER);
    expect_error(s, GRAFT_ERR_INVALID, "NaN gradient in the arena");
    nbad++;
    /* A valid pull through the arena gives the rows the socket gave. */
    static float viaarena[N * W];
    memset(rows, 0, sizeof viaarena);
    send_in_arena(s, GRAFT_MSG_PULL, 40, table, keys, GRAFT_SHM_HEADER);
    EXPECT(recv_msg(s, &r, NULL, 0, 5000) && r.type == GRAFT_MSG_PULL && r.in_arena,
           "a pull through the arena failed");
    memcpy(viaarena, rows, sizeof viaarena);
    EXPECT(memcmp(before, viaarena, sizeof before) == 0, "the arena holds other rows");
    printf("wire_peer: pull through the arena            -> the same rows\n");

    /* Over the limit (server started with --max-message-mb 1): refused with an error reply. */
    static char huge[3 << 20];
    graft_wire_init(&m, GRAFT_MSG_PUSH, 10);
    m.table = table;
    m.key_count = N;
    m.width = W;
    send_hdr(s, &m, 2, (const void *[]){keys, huge}, (size_t[]){N * 8, (3 << 20) / 2});
    expect_error(s, GRAFT_ERR_TOOBIG, "frame over the limit");
    nbad++;
    /* Over twice the limit: ZeroMQ drops that peer before allocating, and only that peer. */
    send_frames(s2, 1, (const void *[]){huge}, (size_t[]){sizeof huge});
    EXPECT(!recv_msg(s2, &r, NULL, 0, 1000), "a frame over twice the limit got a reply");
    printf("wire_peer: frame over twice the limit        -> no reply (peer dropped)\n");

    /* A flood: 30 frames over twice the limit (each drops its connection, which comes back),
     * then 30 over the limit on the real connection (each refused with an error reply). */
    for (int i = 0; i < 30; i++)
        send_frames(s2, 1, (const void *[]){huge}, (size_t[]){sizeof huge});
    int refused = 0;
    for (int i = 0; i < 30; i++) {
        graft_wire_init(&m, GRAFT_MSG_PUSH, 700 + (uint64_t)i);
        m.table = table;
        m.key_count = N;
        m.width = W;
        send_hdr(s, &m, 2, (const void *[]){keys, huge}, (size_t[]){N * 8, (3 << 20) / 2});
    }
    for (int i = 0; i < 30; i++)
        refused += recv_msg(s, &r, NULL, 0, 5000) && r.type == GRAFT_MSG_ERROR &&
                   r.error_code == GRAFT_ERR_TOOBIG;
    EXPECT(refused == 30, "flood: %d of 30 oversized pushes refused", refused);
    nbad += 30;
    printf("wire_peer: flood of 60 oversized messages     -> 30 dropped, %d refused\n", refused);

    /* The real table is untouched, and the server still serves. */
    pull(s, table, keys, after);
    EXPECT(memcmp(before, after, sizeof before) == 0, "rows changed after malformed requests");
    graft_wire_init(&m, GRAFT_MSG_STATS, 8);
    send_hdr(s, &m, 0, NULL, NULL);
    EXPECT(recv_msg(s, &r, NULL, 0, 5000) && r.stats, "stats failed");
    EXPECT(r.stats->errors == (uint64_t)nbad, "server counted %llu errors, expected %d",
           (unsigned long long)r.stats->errors, nbad);
    EXPECT(r.stats->ntables == 1 && r.stats->tables[0].rows == N, "table has %llu rows",
           (unsigned long long)r.stats->tables[0].rows);
    EXPECT(r.stats->pushes == 0, "a malformed push was applied");
    EXPECT(r.stats->arenas == 1, "server maps %u arenas, expected 1", r.stats->arenas);

    /* An update that would make a row non-finite is refused, from finite values too: two
     * pushes of 3e38 into a Sum row. */
    uint32_t sums = create_table(s, "sums", GRAFT_OPTIM_SUM);
    static float big[N * W], sumrows[N * W];
    for (int i = 0; i < N * W; i++)
        big[i] = i == 5 ? 3e38f : 0.0f;
    pull(s, sums, keys, sumrows);
    for (int t = 0; t < 2; t++) {
        graft_wire_init(&m, GRAFT_MSG_PUSH, 900 + (uint64_t)t);
        m.table = sums;
        m.key_count = N;
        m.width = W;
        send_hdr(s, &m, 2, (const void *[]){keys, big}, (size_t[]){N * 8, sizeof big});
        if (t == 0)
            EXPECT(recv_msg(s, &r, NULL, 0, 5000) && r.type == GRAFT_MSG_PUSH,
                   "a push of 3e38 into a zero row was refused");
        else
            expect_error(s, GRAFT_ERR_INVALID, "3e38 + 3e38 into a Sum row");
    }
    pull(s, sums, keys, sumrows);
    EXPECT(all_finite(sumrows, N * W) && sumrows[5] > 2e38f, "the Sum row became %g", sumrows[5]);

    /* Values flipped under the server's feet in the arena never reach a row. */
    uint32_t race = create_table(s, "race", GRAFT_OPTIM_SGD);
    static float racerows[N * W];
    pull(s, race, keys, racerows);
    for (int i = 0; i < N * W; i++)
        rows[i] = 1e-3f;
    flip_at = &rows[N * W / 2];
    pthread_t th;
    EXPECT(pthread_create(&th, NULL, flipper, NULL) == 0, "no flipping thread");
    int applied = 0, refused_nan = 0;
    for (int i = 0; i < 3000; i++) {
        send_in_arena(s, GRAFT_MSG_PUSH, 2000 + (uint64_t)i, race, keys, GRAFT_SHM_HEADER);
        if (recv_msg(s, &r, NULL, 0, 5000)) {
            applied += r.type == GRAFT_MSG_PUSH;
            refused_nan += r.type == GRAFT_MSG_ERROR && r.error_code == GRAFT_ERR_INVALID;
        }
    }
    flipping = 0;
    pthread_join(th, NULL);
    pull(s, race, keys, racerows);
    EXPECT(applied + refused_nan == 3000, "%d pushes applied, %d refused, of 3000", applied,
           refused_nan);
    EXPECT(all_finite(racerows, N * W), "a value flipped to NaN in the arena reached the table");
    printf("wire_peer: a value flipped while pushes run   -> %d applied, %d refused, rows finite\n",
           applied, refused_nan);

    graft_wire_init(&m, GRAFT_MSG_SHUTDOWN, 9);
    send_hdr(s, &m, 0, NULL, NULL);
    EXPECT(recv_msg(s, &r, NULL, 0, 5000) && r.type == GRAFT_MSG_SHUTDOWN, "shutdown failed");
    graft_sock_close(&s);
    graft_sock_close(&s2);
    graft_shm_close(&arena);
    if (plain)
        fclose(plain);
    graft_net_destroy(&net);
    graft_job_finalize(&job);
    printf("wire_peer: %d malformed requests, %d failures\n", nbad, failures);
    return failures ? 1 : 0;
}
