/* A training objective: what one epoch over a worker's stream does, plugged into the engine as
 * an ops table (the way nng plugs its protocols in: a struct of function pointers the core
 * calls, never names). Squared error by SGD is the first (worker/squared.c), in the batch
 * plane and the block plane; iALS (worker/ials.c) the second, BPR (worker/bpr.c) the third. */
#ifndef GRAFT_OBJECTIVE_H
#define GRAFT_OBJECTIVE_H

#include "blocks.h"
#include "client.h"
#include "reader.h"

typedef struct graft_engine graft_engine;

typedef struct {
    uint64_t seed;     /* the epoch's shuffle seed */
    const char *phase; /* for the progress bar; NULL in a plain job */
    int epoch;
} graft_epoch_args;

typedef struct graft_objective_ops {
    const char *name; /* "squared", ... */
    /* Optional: called before a phase's first epoch with its stream (collective), to build
     * what the objective keeps across epochs in e->obj_state; end frees it. */
    graft_err (*begin)(graft_engine *e, graft_client *c, graft_ratings *stream);
    void (*end)(graft_engine *e);
    /* One pass over stream (this worker's part; it may be reordered); *sse gets the squared
     * training errors seen before each update, tm adds the block plane's times. Collective
     * only through the servers (ticks and pushes), never MPI. */
    graft_err (*epoch)(graft_engine *e, graft_client *c, graft_ratings *stream,
                       const graft_epoch_args *a, double *sse, graft_blocks_times *tm);
    /* Whether epoch fills tm outside the block plane (its pull, compute and push seconds). */
    int times;
    /* A ranking objective: epochs are judged by NDCG@K and Recall@K (worker/rankeval.h). */
    int ranking;
} graft_objective_ops;

/* Squared error on observed ratings: the batch plane's mini-batch SGD (servers apply the
 * optimizer), or the block plane's LIBMF-style SGD when the engine has blocks. */
extern const graft_objective_ops graft_squared_ops;
/* Implicit alternating least squares over every (user, item) pair (worker/ials.c). */
extern const graft_objective_ops graft_ials_ops;
/* Bayesian personalised ranking by mini-batch SGD on sampled triples (worker/bpr.c). */
extern const graft_objective_ops graft_bpr_ops;

#endif
