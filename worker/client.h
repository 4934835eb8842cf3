/* A worker's view of the parameter servers: batched, deduplicated-by-caller pulls and pushes
 * split by shard, sent to every server at once and then collected, so a batch costs one round
 * trip however many servers there are. */
#ifndef GRAFT_CLIENT_H
#define GRAFT_CLIENT_H

#include "err.h"
#include "job.h"
#include "net.h"
#include "wire.h"

#include <stddef.h>
#include <stdint.h>

#define GRAFT_MAX_SERVERS 64

typedef struct graft_client graft_client;

typedef struct {
    uint32_t worker;   /* this worker's index, sent in headers */
    int timeout_ms;    /* how long to wait for a reply */
    uint32_t max_keys; /* larger requests are split */
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
/* Pushes gradients (n x width floats, in key order). Returns once every server applied them. */
graft_err graft_client_push(graft_client *c, uint32_t table, uint32_t width, const uint64_t *keys,
                            size_t n, const float *grads);
/* Overwrites the rows of keys (n x width floats, in key order), creating missing ones. */
graft_err graft_client_assign(graft_client *c, uint32_t table, uint32_t width, const uint64_t *keys,
                              size_t n, const float *rows);
/* On each server, copies the rows of keys from table src to table dst (same width): no row
 * crosses the network, since every table's row of a key lives on the same server. *copied counts
 * the keys src held. */
graft_err graft_client_copy(graft_client *c, uint32_t dst, uint32_t src, uint32_t width,
                            const uint64_t *keys, size_t n, uint64_t *copied);
/* Every server writes its shard of table into its --save folder; rows[s] and checksums[s] (one
 * per server) say what server s wrote. */
graft_err graft_client_save(graft_client *c, uint32_t table, uint64_t *rows, uint64_t *checksums);
/* Every server reads the shard file (a plain name in its --source-model folder), checks it
 * against checksum, and keeps the rows it owns into table; *kept sums them. */
graft_err graft_client_load(graft_client *c, uint32_t table, const char *file, uint64_t checksum,
                            uint64_t *kept);
/* Waits on every server until all workers reached clock. */
graft_err graft_client_barrier(graft_client *c, uint64_t clock);
graft_err graft_client_stats(graft_client *c, int server, graft_server_stats *out);
/* Tells every server to exit. */
graft_err graft_client_shutdown(graft_client *c);

/* The number of servers. */
int graft_client_nservers(const graft_client *c);

#endif
