/* A worker's view of the parameter servers: batched, deduplicated-by-caller pulls and pushes
 * split by shard, sent to every server (and for every table) at once and then collected, so a
 * batch's pulls cost one round trip however many servers and tables there are, and its pushes
 * none (their acknowledgements are read later, in order). */
#ifndef GRAFT_CLIENT_H
#define GRAFT_CLIENT_H

#include "err.h"
#include "job.h"
#include "net.h"
#include "wire.h"

#include <stddef.h>
#include <stdint.h>

#define GRAFT_MAX_SERVERS 64
#define GRAFT_CLIENT_MAX_MANY 4      /* keyed requests that travel together */
#define GRAFT_CLIENT_CHUNK_KEYS 8192 /* keys per message at most, whatever --max-keys allows */

typedef struct graft_client graft_client;

typedef struct {
    uint32_t worker;   /* this worker's index, sent in headers */
    int timeout_ms;    /* how long to wait for a reply */
    uint32_t max_keys; /* larger requests are split */
    int shm;           /* rows to and from servers on this host through shared memory */
    /* Each server's CURVE public key (an empty one: plain), or NULL for none at all. */
    const char (*server_keys)[GRAFT_KEY_MAX];
} graft_client_opts;

/* Connects to every server. endpoints (nservers of them) are copied; net is borrowed. */
graft_err graft_client_create(graft_net *net, const char (*endpoints)[GRAFT_ENDPOINT_MAX],
                              int nservers, const graft_client_opts *opts, graft_client **out);
void graft_client_destroy(graft_client **c);

/* Declares a table on every server (idempotent); *id is its id, the same on every server. */
graft_err graft_client_create_table(graft_client *c, const graft_table_spec *spec, uint32_t *id);
/* Pulls the rows of keys[0..n) into out (n x width floats, in key order). Missing rows are created
 * when create is set, else returned as zeros. */
graft_err graft_client_pull(graft_client *c, uint32_t table, uint32_t width, const uint64_t *keys,
                            size_t n, int create, float *out);
/* Pushes gradients (n x width floats, in key order). Returns once they are sent (the data is
 * copied): a server handles one connection's requests in order, so any later request of this
 * client sees them applied. Their acknowledgements are read, and an error reply reported, before
 * the next reply from the same server. */
graft_err graft_client_push(graft_client *c, uint32_t table, uint32_t width, const uint64_t *keys,
                            size_t n, const float *grads);

/* Rows of one table for pull_many and push_many: keys[0..n), rows n x width in key order (filled
 * by a pull, read by a push). */
typedef struct {
    uint32_t table, width;
    const uint64_t *keys;
    size_t n;
    float *rows;
} graft_client_rows;

/* Up to GRAFT_CLIENT_MAX_MANY pulls (pushes) at once: all are sent before any reply is read, so
 * they cost one round trip together. Push semantics are those of graft_client_push. */
graft_err graft_client_pull_many(graft_client *c, graft_client_rows *reqs, int nreq, int create);
graft_err graft_client_push_many(graft_client *c, const graft_client_rows *reqs, int nreq);
/* Overwrites the rows of keys (n x width floats, in key order), creating missing ones. */
graft_err graft_client_assign(graft_client *c, uint32_t table, uint32_t width, const uint64_t *keys,
                              size_t n, const float *rows);
/* On each server, copies the rows of keys from table src to table dst (same width): no row
 * crosses the network, since every table's row of a key lives on the same server. *copied counts
 * the keys src held. */
graft_err graft_client_copy(graft_client *c, uint32_t dst, uint32_t src, uint32_t width,
                            const uint64_t *keys, size_t n, uint64_t *copied);
/* Every server writes its shard of table into its --save folder (clock 0), or, with its
 * optimizer state, into --checkpoint-dir/ckpt-CLOCK; rows[s] and checksums[s] (one per server)
 * say what server s wrote, *width the floats per row in the files. */
graft_err graft_client_save(graft_client *c, uint32_t table, uint64_t clock, uint64_t *rows,
                            uint64_t *checksums, uint32_t *width);
/* Every server reads the shard file (a plain name in its --source-model folder, or in
 * --checkpoint-dir/ckpt-CLOCK when clock > 0), checks it against checksum, and keeps the rows
 * it owns into table; *kept sums them. */
graft_err graft_client_load(graft_client *c, uint32_t table, uint64_t clock, const char *file,
                            uint64_t checksum, uint64_t *kept);
/* Waits on every server until all workers reached clock. */
graft_err graft_client_barrier(graft_client *c, uint64_t clock);
/* A worker's consistency clock (docs/usage.md): bound is how many clocks it may run ahead of the
 * slowest worker (0 for BSP, the staleness for SSP, UINT32_MAX for ASP). wait_s and staleness
 * record what the ticks cost and saw; the caller resets them when it reports them. */
typedef struct {
    uint64_t clock;
    uint32_t bound;
    double wait_s;
    uint64_t staleness; /* the most clocks this worker ran ahead of the slowest */
} graft_clockstate;

/* One tick: the clock advances and graft_client_clock waits as the bound says. */
graft_err graft_client_tick(graft_client *c, graft_clockstate *cs);

/* A heartbeat to every server, answered within the client's timeout. */
graft_err graft_client_heartbeat(graft_client *c);
/* Waits until every push and assign sent so far has been applied (acknowledged). */
graft_err graft_client_sync(graft_client *c);
/* Consistency (docs/usage.md): after sync, tells server 0 this worker reached clock and waits
 * until the slowest worker reached clock - staleness; *slowest gets that worker's clock. */
graft_err graft_client_clock(graft_client *c, uint64_t clock, uint32_t staleness,
                             uint64_t *slowest);
graft_err graft_client_stats(graft_client *c, int server, graft_server_stats *out);
/* Tells every server to exit. */
graft_err graft_client_shutdown(graft_client *c);

#endif
