/* Ranking metrics during training: NDCG@K and Recall@K of a full ranking of a domain's items for
 * the users of a held-out set, each user's training items left out, computed by the workers on
 * the servers' current rows. The definitions are graft eval's (tools/seen.c): relevant are the
 * user's held-out items rated at least --min-rating that have a row; NDCG's ideal list has
 * min(K, relevant) hits; Recall is hits / relevant; means over users with a relevant item. */
#ifndef GRAFT_RANKEVAL_H
#define GRAFT_RANKEVAL_H

#include "client.h"
#include "err.h"
#include "job.h"
#include "reader.h"

typedef struct graft_rankeval graft_rankeval;

typedef struct {
    uint32_t domain;  /* whose ratings of held and seen count */
    float min_rating; /* held-out ratings at least this are relevant; training ones are items */
    int k;            /* the cut-off */
    size_t max_users; /* users scored, a seeded sample over all workers; 0: all */
    uint64_t seed;
} graft_rankeval_opts;

/* Collective over the workers: held (this worker's share of the held-out ratings) and seen (its
 * share of the training ratings) are copied and exchanged by user; the ranked items are seen's
 * items rated at least min_rating, over every worker. more (NULL, or ratings held out of
 * training for validation) are left out of the users' rankings too. *out owns its copies. */
graft_err graft_rankeval_create(const graft_job *job, const graft_ratings *held,
                                const graft_ratings *seen, const graft_ratings *more,
                                const graft_rankeval_opts *o, graft_rankeval **out);
void graft_rankeval_destroy(graft_rankeval **r);

/* The tables to score: user rows (uwidth wide, k factors first; a missing row reads as zeros) and
 * item rows (k factors, then the item bias). */
typedef struct {
    uint32_t utab, uwidth, itab;
    int k;
} graft_rankeval_model;

/* Collective: the metrics over every worker's users; *users counts those scored. */
graft_err graft_rankeval_run(graft_rankeval *r, const graft_job *job, graft_client *c,
                             const graft_rankeval_model *m, double *ndcg, double *recall,
                             uint64_t *users);

/* Collective: the two models' NDCG@K compared user by user on the same users, for a decision
 * that must not follow noise (the transfer gate): *mean is the mean over users of a's NDCG minus
 * b's, *se that mean's standard error (NaN under two users). */
graft_err graft_rankeval_paired(graft_rankeval *r, const graft_job *job, graft_client *c,
                                const graft_rankeval_model *a, const graft_rankeval_model *b,
                                double *mean, double *se, uint64_t *users);

#endif
