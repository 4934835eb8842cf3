/* The cold-start cohort of a transfer job (docs/transfer.md): the users of each domain, those in
 * both (the overlap), the cold ones among them, and the split of the target's ratings into
 * training, warm test and cold test. Every worker computes the same arrays from collectives over
 * the workers, so any layout picks the same users. The transfer driver (worker/transfer.c) holds
 * the cohort and is the only one that changes it. */
#ifndef GRAFT_COHORT_H
#define GRAFT_COHORT_H

#include "err.h"
#include "reader.h"

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t *tgt_users, *overlap, *cold_users; /* sorted, the same on every worker */
    size_t n_src_users, n_tgt_users, n_overlap, n_cold;
    /* --validation-cold-users: overlap users, not cold, held out of the target like cold users
     * to choose epochs on (sorted; NULL when none). */
    uint64_t *valid_cold;
    size_t n_valid_cold;
} graft_cohort;

/* Collective over comm: the users of src and tgt on all workers, their overlap and
 * round(cold_fraction x overlap) cold users chosen by seed. On failure the cohort holds nothing
 * (free it anyway). */
graft_err graft_cohort_build(graft_cohort *co, const graft_ratings *src, const graft_ratings *tgt,
                             MPI_Comm comm, double cold_fraction, uint64_t seed);
void graft_cohort_free(graft_cohort *co);

/* Whether key is in sorted (n of them). */
int graft_cohort_contains(const uint64_t *sorted, size_t n, uint64_t key);

/* The cold users: round(fraction x n) of the sorted overlap users, chosen by seed alone, so every
 * worker (and any number of workers) picks the same. *cold (sorted) is the caller's to free. */
graft_err graft_cohort_pick_cold(const uint64_t *overlap, size_t n, double fraction, uint64_t seed,
                                 uint64_t **cold, size_t *ncold);
/* The validation cold users: round(fraction x m) of the m overlap users that are not cold,
 * chosen by seed alone (another draw than the cold users'). */
graft_err graft_cohort_pick_valid(graft_cohort *co, double fraction, uint64_t seed);
/* The sorted union of two sorted key lists; *out (n + m + 1 keys) is the caller's. */
graft_err graft_cohort_union(const uint64_t *a, size_t na, const uint64_t *b, size_t nb,
                             uint64_t **out, size_t *n);
/* Moves every rating of from whose user is in users (sorted, n) to to, keeping from's order. */
graft_err graft_cohort_move_users(graft_ratings *from, const uint64_t *users, size_t n,
                                  graft_ratings *to);
/* Moves every target rating of a cold user to cold, and, unless keep_warm is set (a target test
 * file gives the warm set), a seeded warm_fraction of the others to warm. The choice of a rating
 * depends on (seed, user, item) alone. Ratings already in warm whose user is cold move to cold. */
graft_err graft_cohort_partition(graft_ratings *tgt, graft_ratings *warm, graft_ratings *cold,
                                 const uint64_t *cold_users, size_t ncold, double warm_fraction,
                                 int keep_warm, uint64_t seed);

#endif
