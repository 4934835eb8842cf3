/* Duplicated (user, item) pairs in training ratings. A pair given on several lines is one
 * opinion given several times (a re-rating, or the same review under several product
 * variants); trained as separate ratings it weighs more than the others and, where copies fall
 * on both sides of a split, flatters RMSE. This module finds them across every worker's part
 * and applies the user's policy (--duplicates, docs/usage.md). */
#ifndef GRAFT_DEDUPE_H
#define GRAFT_DEDUPE_H

#include "err.h"
#include "reader.h"

#include <mpi.h>
#include <stdint.h>

typedef enum {
    GRAFT_DUP_KEEP = 0,  /* train every copy (Graft before 2026-12) */
    GRAFT_DUP_LAST = 1,  /* one rating per pair: the last line in the file (the default) */
    GRAFT_DUP_MEAN = 2,  /* one rating per pair: the mean of its copies */
    GRAFT_DUP_ERROR = 3, /* refuse the file */
    GRAFT_DUP_SUM = 4,   /* one per pair: the sum of its copies (ranking losses: weights add up) */
} graft_dup_policy;
#define GRAFT_DUP_CHOICES "keep|last|mean|error|sum"

typedef struct {
    uint64_t pairs; /* distinct pairs given more than once */
    uint64_t extra; /* ratings beyond the first of each such pair */
} graft_dup_counts;

/* Collective over comm (every rank must call it, with its own part r). Pairs are told apart by
 * a 64-bit hash of the user and item keys. With local_only, every copy of a pair is known to be
 * in the same rank's part (one rank, or parts by user): nothing is exchanged. Otherwise each
 * pair's copies meet at one rank (an all-to-all of 24 bytes per rating), which decides and
 * tells the others. "Last" is the largest (rank, position) order, which is file order when the
 * parts are byte ranges. Applies policy to r (keep and error change nothing), and gives every
 * rank the global counts. Returns GRAFT_ERR_NOMEM on every rank when any lacks memory. */
graft_err graft_dedupe(graft_ratings *r, graft_dup_policy policy, int local_only, MPI_Comm comm,
                       graft_dup_counts *out);

/* A checksum of a set of ratings that depends on neither their order nor how they are split
 * between ranks (a sum of per-rating hashes): the identity of a training set, which checkpoints
 * record. Local; sum it over the ranks (mod 2^64). */
uint64_t graft_dedupe_identity(const graft_ratings *r);

#endif
