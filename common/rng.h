/* A small, fast, seedable generator (xoshiro256**), so that every random choice in Graft is a
 * function of a user-visible seed. */
#ifndef GRAFT_RNG_H
#define GRAFT_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} graft_rng;

/* Seeds from one 64-bit value through splitmix64; any seed, 0 included, is fine. */
void graft_rng_seed(graft_rng *rng, uint64_t seed);
uint64_t graft_rng_next(graft_rng *rng);
/* Uniform in [0, 1). */
double graft_rng_uniform(graft_rng *rng);
/* Uniform integer in [0, n); n > 0. */
uint64_t graft_rng_below(graft_rng *rng, uint64_t n);
/* Standard normal (Box-Muller, one value per call). */
double graft_rng_normal(graft_rng *rng);
/* Fisher-Yates shuffle of n elements of size bytes each (size <= 64). */
void graft_rng_shuffle(graft_rng *rng, void *base, uint64_t n, unsigned size);

#endif
