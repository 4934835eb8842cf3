/* Transfer across domains (docs/transfer.md): the cold-start protocol, and the modes none, seed,
 * map and joint built on the trainer's phases. This header is internal to the worker: it is
 * where the trainer and the transfer module meet. */
#ifndef GRAFT_TRANSFER_H
#define GRAFT_TRANSFER_H

#include "client.h"
#include "config.h"
#include "job.h"
#include "reader.h"

#include <stddef.h>
#include <stdint.h>

typedef struct graft_trainer graft_trainer;

enum { GRAFT_PHASE_SOURCE = 0, GRAFT_PHASE_TARGET = 1, GRAFT_PHASE_JOINT = 2 };

/* Borrowed pointers into the trainer, valid while it lives. */
typedef struct {
    const graft_config *cfg;
    const graft_job *job;
    graft_ratings *src, *tgt, *warm, *cold;
    int k;
    uint64_t bad_lines;
    uint64_t **tgt_users, **overlap, **cold_users; /* owned by the trainer once set */
    size_t *n_tgt_users, *n_overlap, *n_cold;
} graft_trainer_view;

graft_trainer_view graft_trainer_view_of(graft_trainer *t);
/* Declares the tables of both domains (one shared user table when joint) and opens the metrics. */
graft_err graft_trainer_setup_domains(graft_trainer *t, graft_client *c, int joint, float lambda);
/* Trains one phase: GRAFT_PHASE_SOURCE, GRAFT_PHASE_TARGET or GRAFT_PHASE_JOINT. */
graft_err graft_trainer_train(graft_trainer *t, graft_client *c, int which, int epochs);
/* A domain's user and item tables, the user row width and the domain's mean. */
graft_err graft_trainer_tables(graft_trainer *t, int domain, uint32_t *utab, uint32_t *itab,
                               uint32_t *uwidth, float *mu);
/* The bias baselines' squared errors: [item warm, item cold, item+user warm, item+user cold]. */
graft_err graft_trainer_bias_baselines(graft_trainer *t, graft_client *c, double out[4]);
/* A barrier on every server with the next clock. */
graft_err graft_trainer_barrier(graft_trainer *t, graft_client *c);
/* Final evaluation, summary record and summary lines. */
graft_err graft_trainer_finish(graft_trainer *t, graft_client *c, const char *mode, int epochs,
                               const double base[4], double seconds);

/* The transfer gate: the target RMSE of the transfer model on held-out target ratings (valid)
 * against a target-only model trained for `epochs` on the same ratings. When the target-only
 * model wins, warm users are answered by a target-only model trained on `full` (all target
 * training ratings, in their original order), as a none job would train it. */
graft_err graft_trainer_gate(graft_trainer *t, graft_client *c, const graft_ratings *valid,
                             graft_ratings *full, int epochs);

/* "transfer" or "target-only" once the gate ran, else NULL. */
const char *graft_trainer_gate_choice(const graft_trainer *t);
/* After the gate kept transfer: fresh tables for what target ratings train (the target tables of
 * seed, all tables of joint), and the target stream becomes `full` (all its training ratings;
 * full gets the held-out stream back). The caller then re-seeds (seed) and trains again. */
graft_err graft_trainer_refit(graft_trainer *t, graft_client *c, graft_ratings *full, int joint);

/* Worker 0 has every server write its shards of the model's tables into --save, then writes the
 * manifest; the others return at once. */
graft_err graft_trainer_save(graft_trainer *t, graft_client *c);

/* Runs a transfer job (the trainer holds its loaded parts). Collective over the workers. */
graft_err graft_transfer_run(graft_trainer *t, graft_client *c);

/* Checks a saved source model before any training: its manifest, that it has user and item
 * tables of width dim + 1, and every shard's checksum. */
graft_err graft_transfer_check_source_model(const char *dir, int dim, char *err, size_t errlen);

/* Rewrites the user keys of source ratings through a (source id, target id) file. */
graft_err graft_transfer_apply_user_map(const char *path, graft_ratings *src, char *err,
                                        size_t errlen);

/* The cold users: round(fraction x n) of the sorted overlap users, chosen by seed alone, so every
 * worker (and any number of workers) picks the same. *cold (sorted) is the caller's to free. */
graft_err graft_transfer_pick_cold(const uint64_t *overlap, size_t n, double fraction,
                                   uint64_t seed, uint64_t **cold, size_t *ncold);
/* Moves every target rating of a cold user to cold, and, unless keep_warm is set (a target test
 * file gives the warm set), a seeded warm_fraction of the others to warm. The choice of a rating
 * depends on (seed, user, item) alone. Ratings already in warm whose user is cold move to cold. */
graft_err graft_transfer_partition(graft_ratings *tgt, graft_ratings *warm, graft_ratings *cold,
                                   const uint64_t *cold_users, size_t ncold, double warm_fraction,
                                   int keep_warm, uint64_t seed);

/* Ridge regression Y ~ [X, 1] M from normal equations accumulated in xtx ((d+1) x (d+1)) and xty
 * ((d+1) x e), both row-major, solved in place with LAPACK: on success xty holds M. */
graft_err graft_transfer_ridge_solve(double *xtx, double *xty, int d, int e, double reg);

#endif
