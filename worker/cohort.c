#include "cohort.h"
#include "alloc.h"
#include "hash.h"
#include "job.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t
sort_unique(uint64_t *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_u64);
    size_t m = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[m - 1])
            v[m++] = v[i];
    return m;
}

int
graft_cohort_contains(const uint64_t *sorted, size_t n, uint64_t key)
{
    return n && bsearch(&key, sorted, n, sizeof key, cmp_u64) != NULL;
}

/* The distinct users of r on all workers, sorted; the same array on every worker. */
static graft_err
global_users(const graft_ratings *r, MPI_Comm comm, uint64_t **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    uint64_t *mine = graft_malloc((r->n ? r->n : 1) * sizeof *mine);
    size_t n = 0;
    if (mine) {
        for (size_t j = 0; j < r->n; j++)
            mine[j] = r->v[j].user;
        n = sort_unique(mine, r->n);
    }
    /* Every worker joins the collective, also one that lacks memory (it sends nothing). */
    void *all;
    size_t bytes;
    graft_err rc = graft_job_allgather_bytes(comm, mine, n * sizeof *mine, &all, &bytes);
    graft_free(mine);
    if (rc == GRAFT_OK && !mine)
        rc = GRAFT_ERR_NOMEM;
    if (rc == GRAFT_OK) {
        *out = all;
        *nout = sort_unique(*out, bytes / sizeof **out);
    } else {
        graft_free(all);
    }
    return rc;
}

/* The users in both sorted lists, in order. */
static size_t
intersect(const uint64_t *a, size_t na, const uint64_t *b, size_t nb, uint64_t *out)
{
    size_t i = 0, j = 0, m = 0;
    while (i < na && j < nb) {
        if (a[i] == b[j]) {
            out[m++] = a[i];
            i++;
            j++;
        } else if (a[i] < b[j]) {
            i++;
        } else {
            j++;
        }
    }
    return m;
}

graft_err
graft_cohort_build(graft_cohort *co, const graft_ratings *src, const graft_ratings *tgt,
                   MPI_Comm comm, double cold_fraction, uint64_t seed)
{
    memset(co, 0, sizeof *co);
    uint64_t *src_users = NULL;
    size_t n_src = 0;
    /* Both collectives run on every worker whatever the first returned. */
    graft_err rc = global_users(src, comm, &src_users, &n_src);
    graft_err rc2 = global_users(tgt, comm, &co->tgt_users, &co->n_tgt_users);
    if (rc == GRAFT_OK)
        rc = rc2;
    if (rc == GRAFT_OK) {
        size_t cap = n_src < co->n_tgt_users ? n_src : co->n_tgt_users;
        co->overlap = graft_malloc((cap + 1) * sizeof *co->overlap);
        if (!co->overlap)
            rc = GRAFT_ERR_NOMEM;
    }
    if (rc == GRAFT_OK) {
        co->n_overlap = intersect(src_users, n_src, co->tgt_users, co->n_tgt_users, co->overlap);
        co->n_src_users = n_src;
        rc = graft_cohort_pick_cold(co->overlap, co->n_overlap, cold_fraction, seed,
                                    &co->cold_users, &co->n_cold);
    }
    graft_free(src_users);
    if (rc != GRAFT_OK)
        graft_cohort_free(co);
    return rc;
}

void
graft_cohort_free(graft_cohort *co)
{
    graft_free(co->tgt_users);
    graft_free(co->overlap);
    graft_free(co->cold_users);
    graft_free(co->valid_cold);
    memset(co, 0, sizeof *co);
}

graft_err
graft_cohort_pick_valid(graft_cohort *co, double fraction, uint64_t seed)
{
    uint64_t *rest = graft_malloc((co->n_overlap + 1) * sizeof *rest);
    if (!rest)
        return GRAFT_ERR_NOMEM;
    size_t m = 0;
    for (size_t i = 0; i < co->n_overlap; i++)
        if (!graft_cohort_contains(co->cold_users, co->n_cold, co->overlap[i]))
            rest[m++] = co->overlap[i];
    graft_free(co->valid_cold);
    co->valid_cold = NULL;
    co->n_valid_cold = 0;
    graft_err rc = graft_cohort_pick_cold(rest, m, fraction, seed ^ 0x76616c636f6c64ULL,
                                          &co->valid_cold, &co->n_valid_cold);
    graft_free(rest);
    return rc;
}

graft_err
graft_cohort_union(const uint64_t *a, size_t na, const uint64_t *b, size_t nb, uint64_t **out,
                   size_t *n)
{
    *n = 0;
    *out = graft_malloc((na + nb + 1) * sizeof **out);
    if (!*out)
        return GRAFT_ERR_NOMEM;
    if (na) /* either list may be empty (NULL): memcpy's arguments must not be */
        memcpy(*out, a, na * sizeof *a);
    if (nb)
        memcpy(*out + na, b, nb * sizeof *b);
    *n = sort_unique(*out, na + nb);
    return GRAFT_OK;
}

graft_err
graft_cohort_move_users(graft_ratings *from, const uint64_t *users, size_t n, graft_ratings *to)
{
    graft_err rc = GRAFT_OK;
    size_t keep = 0;
    for (size_t j = 0; j < from->n; j++) {
        graft_rating r = from->v[j];
        /* After a failed append the rest stays in from: nothing is lost. */
        if (rc == GRAFT_OK && graft_cohort_contains(users, n, r.user) &&
            (rc = graft_ratings_append(to, r)) == GRAFT_OK)
            continue;
        from->v[keep++] = r;
    }
    from->n = keep;
    return rc;
}

graft_err
graft_cohort_pick_cold(const uint64_t *overlap, size_t n, double fraction, uint64_t seed,
                       uint64_t **cold, size_t *ncold)
{
    *cold = graft_malloc((n ? n : 1) * sizeof **cold);
    if (!*cold)
        return GRAFT_ERR_NOMEM;
    memcpy(*cold, overlap, n * sizeof *overlap);
    graft_rng rng;
    graft_rng_seed(&rng, seed ^ 0xc01d57a27ULL);
    graft_rng_shuffle(&rng, *cold, n, sizeof **cold);
    *ncold = (size_t)((double)n * fraction + 0.5);
    qsort(*cold, *ncold, sizeof **cold, cmp_u64);
    return GRAFT_OK;
}

static double
rating_draw(uint64_t seed, uint64_t user, uint64_t item)
{
    uint64_t h = graft_hash_mix64(seed ^ graft_hash_mix64(user) ^
                                  graft_hash_mix64(item * 0x9e3779b97f4a7c15ULL));
    return (double)(h >> 11) * 0x1.0p-53;
}

graft_err
graft_cohort_partition(graft_ratings *tgt, graft_ratings *warm, graft_ratings *cold,
                       const uint64_t *cold_users, size_t ncold, double warm_fraction,
                       int keep_warm, uint64_t seed)
{
    graft_err rc = GRAFT_OK;
    size_t keep = 0;
    for (size_t j = 0; j < tgt->n && rc == GRAFT_OK; j++) {
        graft_rating r = tgt->v[j];
        graft_ratings *to = NULL;
        if (graft_cohort_contains(cold_users, ncold, r.user))
            to = cold;
        else if (!keep_warm && rating_draw(seed, r.user, r.item) < warm_fraction)
            to = warm;
        if (to)
            rc = graft_ratings_append(to, r);
        else
            tgt->v[keep++] = r;
    }
    tgt->n = keep;
    if (keep_warm) {
        size_t w = 0;
        for (size_t j = 0; j < warm->n && rc == GRAFT_OK; j++) {
            graft_rating r = warm->v[j];
            if (graft_cohort_contains(cold_users, ncold, r.user))
                rc = graft_ratings_append(cold, r);
            else
                warm->v[w++] = r;
        }
        warm->n = w;
    }
    return rc;
}
