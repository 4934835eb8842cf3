/* A parameter server: one ROUTER socket and a set of named tables, served from one thread, which
 * alone receives and replies; with --server-threads T, T - 1 helper threads each own a part of
 * every table and work on their part of a large request while it runs (server/lanes.h). It
 * answers every request with a reply or an error reply; a malformed request is counted and never
 * changes a table. */
#ifndef GRAFT_SERVER_H
#define GRAFT_SERVER_H

#include "err.h"
#include "net.h"
#include "wire.h"

#include <stddef.h>
#include <stdint.h>

typedef struct graft_server graft_server;

typedef struct {
    const char *bind_host;      /* address to bind, e.g. "127.0.0.1" */
    int index;                  /* this server's index in the job */
    int nworkers;               /* a barrier completes when this many workers reached it */
    int nservers;               /* the job's servers: which keys a loaded shard keeps */
    const char *save_dir;       /* where save requests write shards (NULL: refused) */
    const char *load_dir;       /* where load requests read shards from (NULL: refused) */
    const char *checkpoint_dir; /* save and load with a clock: DIR/ckpt-CLOCK (NULL: refused) */
    graft_wire_limits limits;
    long debug_write_delay_us; /* tests: a pause every 64 rows of a checkpoint shard */
    int heartbeat_timeout_s;   /* a worker heard from once and then silent this long is lost */
    const char *curve_secret;  /* CURVE server key (Z85), or NULL: no authentication */
    int no_shm;                /* refuse workers' shared-memory arenas (--shm off) */
    int threads;               /* threads, each owning a part of every table (0 or 1: one) */
} graft_server_opts;

/* Binds the socket; the endpoint peers connect to is written to endpoint. net is borrowed and
 * must outlive the server. */
graft_err graft_server_create(const graft_server_opts *opts, graft_net *net, graft_server **out,
                              char *endpoint, size_t eplen);
/* Serves requests until a shutdown request; blocks. */
graft_err graft_server_run(graft_server *s);
/* A copy of the counters and per-table sizes. */
void graft_server_get_stats(const graft_server *s, graft_server_stats *out);
void graft_server_destroy(graft_server **s);

#endif
