/* The worker's client, shared by its two files and nothing else: client.c (connections, the
 * keyed requests and their replies) and client_control.c (the header-only requests: tables,
 * barriers, clocks, statistics, save and load). Drivers use worker/client.h. */
#ifndef GRAFT_CLIENT_INTERNAL_H
#define GRAFT_CLIENT_INTERNAL_H

#include "client.h"
#include "shm.h"

typedef struct {
    uint64_t *keys;
    uint32_t *pos; /* where each key sits in the caller's arrays */
    size_t n, cap;
} group;

/* What one keyed request carries besides its keys. */
typedef struct {
    graft_msg_type type;
    uint32_t table, src_table, width;
    int create;
    const uint64_t *keys;
    size_t n;
    const float *vals; /* push and assign: n x width, in key order */
    float *out;        /* pull: n x width, in key order */
    uint64_t count;    /* copy: rows copied, summed over servers */
} keyed;

/* A request sent to one server whose reply is not read yet. A connection's replies come in
 * request order, so they are read, and checked, in that order: pushes and assigns are not waited
 * for (their acknowledgements are read before any later reply from that server); pulls and copies
 * are completed before the call that sent them returns. */
typedef struct {
    uint64_t id;
    size_t bytes;      /* row bytes it moves, for the in-flight window */
    size_t aoff, alen; /* its region of the arena (alen 0: none) */
    keyed *q;          /* pull or copy: the request to complete; NULL: an acknowledgement */
    const group *g;
    size_t goff; /* its first key in g */
    uint32_t cnt;
} outstanding;

#define MAX_PENDING 1024
/* The rows of one message, at most: requests are split into chunks this big, sent back to back,
 * so that the server works on one chunk while the worker fills or empties the next, and a
 * frame stays under the servers' mmap threshold (graft_net_tune_heap). */
#define CHUNK_BYTES (256u << 10)
/* Bytes (rows and keys) sent to one server, or asked of it, and not yet answered, at most: four
 * chunks. Beyond them the sender waits, so that neither side's queue (its memory) holds more
 * than this of one connection's rows; four keep the server busy while the worker fills and
 * empties chunks (docs/performance.md). */
#define MAX_INFLIGHT_BYTES (4 * CHUNK_BYTES + 4 * 8 * GRAFT_CLIENT_CHUNK_KEYS)
/* Each same-host server connection's shared-memory arena: four chunks in flight (the server maps
 * it, so it counts in the server's memory too), and its header. */
#define ARENA_BYTES (4 * CHUNK_BYTES + GRAFT_SHM_HEADER)

typedef struct {
    outstanding v[MAX_PENDING];
    int head, n;
    size_t bytes;
} pending;

/* A ring of regions in a shared-memory arena, allocated in request order and freed in reply
 * order. */
typedef struct {
    graft_shm shm; /* base NULL: rows go through the socket */
    size_t head;   /* where the next region starts */
} arena;

struct graft_client {
    graft_client_opts opts;
    int nservers;
    graft_sock **socks;
    char (*endpoints)[GRAFT_ENDPOINT_MAX];
    graft_server_stats *stats_sink; /* where the STATS reply being awaited is decoded, else NULL */
    group *groups; /* GRAFT_CLIENT_MAX_MANY x nservers: one set per concurrent request */
    pending *pend; /* per server */
    arena *arenas; /* per server */
    uint64_t next_id;
};

/* Sends m (and keys, klen bytes, as a second frame when not NULL) to server s. */
graft_err graft_client_send(graft_client *c, int s, const graft_msg *m, const void *keys,
                            size_t klen);
/* Receives server s's reply to request_id, after every reply it still owes. On success the caller
 * closes parts. */
graft_err graft_client_recv_reply(graft_client *c, int s, uint64_t request_id, graft_msg *m,
                                  graft_parts *parts);
/* Completes every request still unanswered by server s. */
graft_err graft_client_drain(graft_client *c, int s);

#endif
