/* Synthetic ratings with planted structure, at any size, from a seed:
 *     r = mean + b_u + b_i + p_u . q_i + e,   then rounded and clipped to stars 1..5 (optional)
 * with b_u ~ N(0, user_bias_sd^2), b_i ~ N(0, item_bias_sd^2), p_u, q_i of `rank` dimensions
 * scaled so that p_u . q_i has standard deviation signal_sd, and e ~ N(0, noise^2). Item
 * popularity is Zipf(zipf) over a random permutation of the item ids (zipf 0: uniform); every user
 * has ratings_per_user distinct items, drawn by popularity and, with taste > 0, kept by how much
 * the user likes them. The generator also reports the best RMSE any predictor
 * could reach: the square root of the mean of Var[r | the true parameters] over the test ratings.
 */
#ifndef GRAFT_GEN_H
#define GRAFT_GEN_H

#include "err.h"

#include <stdint.h>
#include <stdio.h>

typedef struct {
    int64_t users, items, ratings_per_user, rank;
    double mean, user_bias_sd, item_bias_sd, signal_sd, noise, zipf, test_fraction;
    /* > 0: which items a user rates follows their taste (a drawn item kept with probability
     * sigmoid(taste p_u.q_i / signal_sd)), so that implicit feedback carries it too. */
    double taste;
    int round; /* round and clip to stars 1..5 */
    int64_t seed;
    /* Two domains (graft_gen_run_domains): the source uses items and ratings_per_user. */
    int64_t target_items, target_ratings_per_user;
    double correlation; /* of a user's factors and bias across the domains */
    double overlap;     /* share of the users who also rate in the source */
} graft_gen_opts;

typedef struct {
    uint64_t train_ratings, test_ratings;
    double best_rmse;       /* over the test ratings (all ratings when there are none) */
    double best_rmse_train; /* over the training ratings */
    /* graft_gen_run_domains: train_ratings counts the source, test_ratings the target, best_rmse
     * is the target's floor and best_rmse_train the source's. */
} graft_gen_result;

/* The variance of r given its noiseless value z (the Bayes error of one rating). */
double graft_gen_rating_variance(double z, double noise, int round);

/* Writes "user,item,rating" lines to train and, with probability test_fraction each, to test
 * (test may be NULL when test_fraction is 0). */
graft_err graft_gen_run(const graft_gen_opts *o, FILE *train, FILE *test, graft_gen_result *res);

/* Two domains sharing users: the target's user factors and biases are
 * correlation x the source's + sqrt(1 - correlation^2) x fresh noise, so correlation 1 means the
 * same tastes and 0 unrelated domains. Items, their factors, biases and popularity are per domain.
 * Every user rates target_ratings_per_user target items; a share `overlap` of the users (chosen by
 * the seed) also rate ratings_per_user source items. User ids are the same numbers in both files.
 */
graft_err graft_gen_run_domains(const graft_gen_opts *o, FILE *source, FILE *target,
                                graft_gen_result *res);

#endif
