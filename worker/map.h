/* The map transfer mode's feature remapping (docs/transfer.md): a ridge regression from source
 * user rows to target user rows, fitted on the warm users of both domains, optionally with a
 * one-hidden-layer network on top, applied to the cold users' source rows. */
#ifndef GRAFT_MAP_H
#define GRAFT_MAP_H

#include "client.h"
#include "config.h"
#include "engine.h"
#include "job.h"

/* The users a map fits on and the ones it maps, sorted, the same on every worker. */
typedef struct {
    const uint64_t *overlap; /* users in both domains */
    size_t n_overlap;
    const uint64_t *skip; /* overlap users not fitted on (the cold ones, validation cold ones) */
    size_t n_skip;
    const uint64_t *mapped; /* the users whose target rows the map writes */
    size_t n_mapped;
} graft_map_users;

/* Collective over the workers: fits the map on the overlap users that are not skipped and whose
 * rows exist in both domains' user tables, then writes each mapped user's row into the target
 * user table. */
graft_err graft_map_cold_users(const graft_config *cfg, const graft_job *job, graft_engine *e,
                               graft_client *c, const graft_map_users *u);

/* Ridge regression Y ~ [X, 1] M from normal equations accumulated in xtx ((d+1) x (d+1)) and xty
 * ((d+1) x e), both row-major, solved in place with LAPACK: on success xty holds M. */
graft_err graft_map_ridge_solve(double *xtx, double *xty, int d, int e, double reg);

/* The share of list (sorted, the same everywhere) that this worker handles, every W-th, less
 * the keys of skip (sorted); out holds at least n / W + 1. Returns how many. */
size_t graft_map_my_share(const uint64_t *list, size_t n, const graft_job *job,
                          const uint64_t *skip, size_t nskip, uint64_t *out);

#endif
