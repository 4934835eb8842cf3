/* A server's threads (--server-threads). Lane 0 is the server's own thread, lanes 1..n-1 are
 * helper threads. Each lane owns one part of every table (the keys whose graft_lane_of_key is
 * the lane), so the hot path takes no lock: a request's keys are split by lane, every lane works
 * on its own part at once, and the server replies when all are done. */
#ifndef GRAFT_LANES_H
#define GRAFT_LANES_H

#include "err.h"
#include "hash.h"

#include <stdint.h>

#define GRAFT_MAX_LANES 16

typedef struct graft_lanes graft_lanes;
typedef void (*graft_lane_fn)(int lane, void *arg);

/* Starts n - 1 helper threads (n in 1..GRAFT_MAX_LANES). */
graft_err graft_lanes_create(int n, graft_lanes **out);
/* Stops and joins the helpers; frees *l (NULL is fine). */
void graft_lanes_destroy(graft_lanes **l);
int graft_lanes_count(const graft_lanes *l);
/* Runs fn(lane, arg) for every lane, lane 0 on the calling thread and the others on their
 * threads, and returns once all have returned. Only the thread that created l may call it. */
void graft_lanes_run(graft_lanes *l, graft_lane_fn fn, void *arg);

/* The lane that owns key among n. Independent of graft_shard_of_key (other bits of another
 * hash), so every lane of every server gets its share. */
static inline uint32_t
graft_lane_of_key(uint64_t key, uint32_t n)
{
    uint64_t h = graft_hash_mix64(key ^ 0x2545f4914f6cdd1dULL);
    return (uint32_t)(((unsigned __int128)h * n) >> 64);
}

#endif
