/* One long-lived background thread that runs one task at a time for its owner, instead of a
 * thread created per task: Graft's one thread mechanism. A worker's prefetch runs the next
 * block's or batch's pull on one while the current one trains; a server's lanes
 * (server/lanes.c) are one per helper lane. The owner starts a task and later waits for it;
 * nothing else touches the task's data in between. One owner thread per graft_background. */
#ifndef GRAFT_BACKGROUND_H
#define GRAFT_BACKGROUND_H

#include "err.h"

typedef struct graft_background graft_background;

/* Starts the thread. */
graft_err graft_background_create(graft_background **out);
/* Waits for a task in progress, stops the thread, frees *bg (NULL is fine). */
void graft_background_destroy(graft_background **bg);
/* Runs fn(arg) on the thread; returns at once. GRAFT_ERR_INVALID when a task is in progress. */
graft_err graft_background_start(graft_background *bg, graft_err (*fn)(void *arg), void *arg);
/* Waits for the task started last and returns its result; GRAFT_OK when none is in progress. */
graft_err graft_background_wait(graft_background *bg);
/* 1 while a started task has not been waited for. */
int graft_background_busy(const graft_background *bg);

#endif
