/* Worker heartbeats (docs/usage.md, "Failures"): a thread with its own connections sends a
 * heartbeat to every server every --heartbeat seconds and waits at most --heartbeat-timeout for
 * each answer. A server that does not answer in time is lost: the thread logs which (index and
 * endpoint), stops, and calls on_lost from its own thread (worker/main.c ends the worker with
 * status 3 there, which ends the job). The servers, in turn, treat
 * a worker whose heartbeats stop as lost. */
#ifndef GRAFT_HEARTBEAT_H
#define GRAFT_HEARTBEAT_H

#include "err.h"
#include "job.h"
#include "net.h"

typedef struct graft_heartbeat graft_heartbeat;

/* Starts the thread (net and job are borrowed and must outlive it). on_lost (may be NULL) is
 * called from the heartbeat thread once a server is lost. */
graft_err graft_heartbeat_start(graft_net *net, const graft_job *job, int interval_s, int timeout_s,
                                void (*on_lost)(void *ctx), void *ctx, graft_heartbeat **out);
/* 1 once a server was lost. Any thread. */
int graft_heartbeat_lost(const graft_heartbeat *hb);
/* Stops the thread after its current round (NULL is fine). */
void graft_heartbeat_stop(graft_heartbeat **hb);

#endif
