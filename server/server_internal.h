/* The server's state and the helpers its request handlers share: server.c (the loop, the
 * dispatch table and the small handlers), keyed.c (pull, push, assign, copy) and disk.c (save,
 * load, checkpoints). Nothing outside server/ includes it. */
#ifndef GRAFT_SERVER_INTERNAL_H
#define GRAFT_SERVER_INTERNAL_H

#include "arenas.h"
#include "lanes.h"
#include "net.h"
#include "server.h"
#include "table.h"

#define MAX_IDENTITY 256

typedef struct {
    unsigned char id[MAX_IDENTITY];
    size_t len;
    uint64_t request_id;
} waiter;

struct graft_server {
    graft_server_opts opts;
    graft_sock *sock;
    graft_arenas *arenas; /* same-host workers' shared memory, mapped */
    graft_lanes *lanes;   /* this server's threads, one per part of every table */
    int nlanes;
    graft_table *tables[GRAFT_MAX_TABLES][GRAFT_MAX_LANES]; /* [table][lane]: each lane's part */
    uint32_t ntables;
    graft_server_stats stats;
    /* The barrier in progress: who is waiting on which clock. */
    uint64_t barrier_clock;
    waiter *waiters;
    int nwaiting;
    /* Consistency clocks (server 0): each worker's last clock, and its clock request held until
     * the slowest worker is close enough (need). */
    uint64_t *clocks;
    waiter *clock_waiters;
    uint64_t *clock_need;
    uint64_t *clock_asked;
    int *clock_waiting;
    double *last_seen; /* per worker: when its last heartbeat came (0: never) */
    float *scratch;    /* pull replies are assembled here */
    size_t scratch_cap;
    uint64_t *keybuf; /* keys copied when a frame is not 8-byte aligned */
    size_t keybuf_cap;
    uint32_t *sel; /* a request's key positions, grouped by lane */
    uint8_t *lane_of;
    size_t sel_cap;
    int stop;
};

/* A request handler: the decoded and checked request, the message's frames (p->data[2...] are
 * its keys and values) and the peer's identity to reply to. */
typedef void (*graft_server_handler)(graft_server *s, const graft_parts *p, const void *id,
                                     size_t idlen, const graft_msg *req);

/* Sends [identity][header][payload?]; a reply that cannot be sent is logged, not fatal. */
void graft_server_reply(graft_server *s, const void *id, size_t idlen, graft_msg *m,
                        const void *payload, size_t plen);
/* An error reply (counted in the statistics). */
void graft_server_reply_error(graft_server *s, const void *id, size_t idlen, uint64_t request_id,
                              graft_err code, const char *why);
/* Grows the reused scratch buffer to floats. */
graft_err graft_server_scratch(graft_server *s, size_t floats);

/* keyed.c: pull, push, assign and copy. */
void graft_server_handle_keyed(graft_server *s, const graft_parts *p, const void *id, size_t idlen,
                               const graft_msg *req);
/* disk.c: save and load, of --save, --source-model or a checkpoint. */
void graft_server_handle_store(graft_server *s, const graft_parts *p, const void *id, size_t idlen,
                               const graft_msg *req);

#endif
