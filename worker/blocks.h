/* The block data plane of a plain job (docs/architecture.md, "Data planes"). Workers own disjoint
 * sets of users: the ratings are exchanged once over MPI so that each worker holds every rating
 * of its users, and their rows stay in the worker. Item rows are split into blocks; in each
 * clock a worker pulls the rows (and row-wise AdaGrad accumulators) of one block that its ratings
 * touch, runs SGD over its ratings of that block, and pushes back the differences. Worker w works
 * on block (w + t) mod B at clock t, so under BSP no two workers hold the same block at once
 * (DSGD's schedule); SSP and ASP let them overlap, and the pushed differences then add up. */
#ifndef GRAFT_BLOCKS_H
#define GRAFT_BLOCKS_H

#include "client.h"
#include "config.h"
#include "job.h"
#include "reader.h"

typedef struct graft_blocks graft_blocks;

/* A row of the block plane: k factors, the bias, and the row's AdaGrad accumulator (kept with
 * its row, and left out of --save by the tables' save width). */
#define GRAFT_BLOCKS_WIDTH(k) ((k) + 2)

typedef struct {
    uint32_t utab; /* user rows: written back by graft_blocks_store_users */
    uint32_t itab; /* item rows, a Sum table: pushes add differences */
    float mu, rmin, rmax;
} graft_blocks_tables;

/* Collective over the workers: exchanges train, test and valid (NULL, or the validation share
 * of --validation-fraction) by user owner, builds the blocks and pulls this worker's user rows
 * (created on first use, as in the batch plane). All three are consumed (left empty). */
graft_err graft_blocks_create(const graft_config *cfg, const graft_job *job, graft_client *c,
                              graft_client *pc, uint32_t bound, const graft_blocks_tables *tabs,
                              graft_ratings *train, graft_ratings *test, graft_ratings *valid,
                              int owned, graft_blocks **out);
/* pc (may be NULL) is a second connection for the prefetch thread; bound is the consistency
 * bound (graft_clockstate); owned has bit 0 (1) when train, bit 1 (2) when test already holds
 * exactly this worker's users (a binary file read by owner), which skips their exchange. */

/* Item blocks of a job: --item-blocks, or two per worker. */
int graft_blocks_count(const graft_config *cfg, int nworkers);
void graft_blocks_destroy(graft_blocks **b);

/* Where a worker's epoch went, in seconds: waiting for pulled rows, in SGD, sending pushes. */
typedef struct {
    double pull_s, compute_s, push_s;
} graft_blocks_times;

/* One epoch: B clocks, one block each. *sse gets this worker's squared training errors; tm
 * (reset by the caller) adds up its times. */
graft_err graft_blocks_epoch(graft_blocks *b, graft_clockstate *cs, double *sse,
                             graft_blocks_times *tm);

/* This worker's errors (clipped predictions) on its test (set 0) or validation (set 1) ratings,
 * with the servers' current item rows. */
graft_err graft_blocks_evaluate(graft_blocks *b, int set, double *sse, double *sae);
/* Reads this worker's user rows back from the servers (after they were restored there). */
graft_err graft_blocks_load_users(graft_blocks *b);
/* This worker's trained users (items 0), or the items its training ratings touch (items 1):
 * *keys (the caller frees it) holds *n distinct keys. */
graft_err graft_blocks_keys(const graft_blocks *b, int items, uint64_t **keys, size_t *n);

/* Writes this worker's user rows to the servers and waits until they are applied. */
graft_err graft_blocks_store_users(graft_blocks *b);

#endif
