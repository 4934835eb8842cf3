/* Pairs (user row, item row) for excluding what a user has already rated, and for evaluation
 * sets: built from a ratings file against a served model, grouped by user. */
#ifndef GRAFT_SEEN_H
#define GRAFT_SEEN_H

#include "err.h"
#include "reader.h"
#include "serve.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t user, item; /* rows in the served model (-1: unknown to it) */
    uint64_t user_key;
    float rating;
} graft_pair;

typedef struct {
    graft_pair *v;
    size_t n;
} graft_pairs;

/* Reads every rating of path and sorts them by (user key, item). Errors name the file and line. */
graft_err graft_pairs_read(const char *path, const graft_served *s, graft_pairs *out, char *err,
                           size_t errlen);
void graft_pairs_free(graft_pairs *p);
/* The range [*lo, *hi) of user_key's pairs (empty when absent). */
void graft_pairs_of(const graft_pairs *p, uint64_t user_key, size_t *lo, size_t *hi);
/* Whether user_key rated item row `item` (binary search). */
int graft_pairs_has(const graft_pairs *p, uint64_t user_key, int64_t item);

#define GRAFT_EVAL_MAX_K 8

typedef struct {
    int nk;
    int ks[GRAFT_EVAL_MAX_K];
    float min_rating; /* test ratings at least this are relevant */
} graft_eval_opts;

typedef struct {
    double rmse, mae;
    uint64_t ratings, users; /* users: those with a relevant item the model knows */
    double hr[GRAFT_EVAL_MAX_K], ndcg[GRAFT_EVAL_MAX_K], recall[GRAFT_EVAL_MAX_K];
} graft_eval_result;

/* RMSE and MAE of the predictions on test, and HR@K, NDCG@K and Recall@K of a full ranking of
 * every item for each test user (items in seen, when given, left out), with binary relevance:
 * the user's test items rated at least min_rating that the model knows. */
graft_err graft_eval_run(const graft_served *s, const graft_pairs *test, const graft_pairs *seen,
                         const graft_eval_opts *o, graft_eval_result *res);

#endif
