#include "rng.h"
#include "hash.h"

#include <math.h>
#include <string.h>

static inline uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void
graft_rng_seed(graft_rng *rng, uint64_t seed)
{
    uint64_t z = seed;
    for (int i = 0; i < 4; i++) {
        z += 0x9e3779b97f4a7c15ULL;
        rng->s[i] = graft_hash_mix64(z);
    }
}

uint64_t
graft_rng_next(graft_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double
graft_rng_uniform(graft_rng *rng)
{
    return (double)(graft_rng_next(rng) >> 11) * 0x1.0p-53;
}

uint64_t
graft_rng_below(graft_rng *rng, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)graft_rng_next(rng) * n) >> 64);
}

double
graft_rng_normal(graft_rng *rng)
{
    double u1 = graft_rng_uniform(rng);
    double u2 = graft_rng_uniform(rng);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void
graft_rng_shuffle(graft_rng *rng, void *base, uint64_t n, unsigned size)
{
    unsigned char tmp[64];
    unsigned char *b = base;
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = graft_rng_below(rng, i);
        if (j != i - 1) {
            memcpy(tmp, b + j * size, size);
            memcpy(b + j * size, b + (i - 1) * size, size);
            memcpy(b + (i - 1) * size, tmp, size);
        }
    }
}
