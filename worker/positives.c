#include "positives.h"
#include "alloc.h"
#include "hash.h"
#include "log.h"

#include <stdlib.h>

/* A user of a domain, and whether any of its ratings there is a positive. */
typedef struct {
    uint64_t user;
    uint32_t domain, positive;
} user_flag;

static int
cmp_flag(const void *a, const void *b)
{
    const user_flag *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    return x->domain < y->domain ? -1 : x->domain > y->domain;
}

/* Sorts and merges equal (user, domain) entries, OR-ing their flags; returns the new length. */
static size_t
merge_flags(user_flag *v, size_t n)
{
    if (n)
        qsort(v, n, sizeof *v, cmp_flag);
    size_t m = 0;
    for (size_t j = 0; j < n; j++) {
        if (m && v[m - 1].user == v[j].user && v[m - 1].domain == v[j].domain)
            v[m - 1].positive |= v[j].positive;
        else
            v[m++] = v[j];
    }
    return m;
}

/* Collective: per domain, the users (over every worker) with ratings but no positive, counted
 * where each user's owner (graft_owner_of) merges every worker's flags for it. */
static graft_err
users_without(const graft_config *cfg, const graft_job *job, const graft_ratings *stream,
              uint64_t lacking[2])
{
    int W = job->nworkers;
    size_t n = stream->n;
    user_flag *mine = graft_malloc((n ? n : 1) * sizeof *mine), *send = NULL;
    int *counts = graft_calloc((size_t)W, sizeof *counts);
    size_t *fill = graft_calloc((size_t)W + 1, sizeof *fill);
    graft_err rc = mine && counts && fill ? GRAFT_OK : GRAFT_ERR_NOMEM;
    size_t m = 0;
    if (rc == GRAFT_OK) {
        for (size_t j = 0; j < n; j++)
            mine[j] = (user_flag){stream->v[j].user, stream->v[j].domain & 1,
                                  stream->v[j].rating >= (float)cfg->min_rating};
        m = merge_flags(mine, n);
        send = graft_malloc((m ? m : 1) * sizeof *send);
        rc = send ? GRAFT_OK : GRAFT_ERR_NOMEM;
    }
    for (size_t j = 0; j < m && rc == GRAFT_OK; j++)
        counts[graft_owner_of(mine[j].user, (uint32_t)W)]++;
    for (int w = 0; w < W && rc == GRAFT_OK; w++)
        fill[w + 1] = fill[w] + (size_t)counts[w];
    for (size_t j = 0; j < m && rc == GRAFT_OK; j++)
        send[fill[graft_owner_of(mine[j].user, (uint32_t)W)]++] = mine[j];
    rc = graft_job_agree_ok(job->role_comm, rc);
    void *recv = NULL;
    size_t nrecv = 0;
    if (rc == GRAFT_OK)
        rc = graft_job_alltoallv(job->role_comm, send, counts, sizeof *send, &recv, &nrecv);
    uint64_t mine_lack[2] = {0, 0};
    if (rc == GRAFT_OK) {
        size_t u = merge_flags(recv, nrecv);
        for (size_t j = 0; j < u; j++)
            mine_lack[((user_flag *)recv)[j].domain] += !((user_flag *)recv)[j].positive;
    }
    graft_free(recv);
    graft_free(send);
    graft_free(mine);
    graft_free(counts);
    graft_free(fill);
    graft_job_allreduce(job->role_comm, mine_lack, lacking, 2, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    return rc;
}

/* The file domain d's ratings came from. */
static const char *
domain_file(const graft_config *cfg, int d)
{
    return !cfg->source ? cfg->train : d ? cfg->target : cfg->source;
}

graft_err
graft_positives_select(const graft_config *cfg, const graft_job *job, const char *loss,
                       const graft_ratings *stream, graft_ratings *out, int active[2])
{
    /* Per domain, how many ratings and how many positives. */
    uint64_t cnt[4] = {0, 0, 0, 0}, gcnt[4];
    graft_err rc = GRAFT_OK;
    for (size_t j = 0; j < stream->n && rc == GRAFT_OK; j++) {
        const graft_rating *x = &stream->v[j];
        cnt[x->domain & 1]++;
        if (x->rating < (float)cfg->min_rating)
            continue;
        cnt[2 + (x->domain & 1)]++;
        rc = graft_ratings_append(out, *x);
    }
    rc = graft_job_agree_ok(job->role_comm, rc);
    graft_job_allreduce(job->role_comm, cnt, gcnt, 4, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    for (int d = 0; d < 2 && rc == GRAFT_OK; d++) {
        active[d] = gcnt[2 + d] > 0;
        if (gcnt[d] > 0 && gcnt[2 + d] == 0) {
            if (job->index == 0)
                GRAFT_LOG_ERROR("GRAFT-NO-POSITIVES",
                                "%s: all %llu ratings are below --min-rating %g: %s has no "
                                "positive to learn from",
                                domain_file(cfg, d), (unsigned long long)gcnt[d], cfg->min_rating,
                                loss);
            rc = GRAFT_ERR_PARSE;
        }
    }
    /* A user left without a positive is not an error (real data has them): said, with how many. */
    uint64_t lacking[2] = {0, 0};
    if (rc == GRAFT_OK && cfg->min_rating > -1e6)
        rc = users_without(cfg, job, stream, lacking);
    for (int d = 0; d < 2 && rc == GRAFT_OK && job->index == 0; d++)
        if (lacking[d])
            GRAFT_LOG_WARN("GRAFT-USERS-WITHOUT-POSITIVES",
                           "%s: %llu users have no rating at least --min-rating %g: %s gives "
                           "them no row, so they are ranked by popularity",
                           domain_file(cfg, d), (unsigned long long)lacking[d], cfg->min_rating,
                           loss);
    return rc;
}

typedef struct {
    uint64_t item, count;
} item_count;

static int
cmp_count(const void *a, const void *b)
{
    const item_count *x = a, *y = b;
    return x->item < y->item ? -1 : x->item > y->item;
}

/* Sums the counts of equal items of a sorted array in place; returns the new length. */
static size_t
merge_counts(item_count *v, size_t n)
{
    size_t m = 0;
    for (size_t j = 0; j < n; j++) {
        if (m && v[m - 1].item == v[j].item)
            v[m - 1].count += v[j].count;
        else
            v[m++] = v[j];
    }
    return m;
}

graft_err
graft_positives_items(const graft_job *job, const graft_ratings *r, uint32_t domain,
                      float min_rating, uint64_t **keys, uint64_t **counts, size_t *n)
{
    *keys = NULL;
    if (counts)
        *counts = NULL;
    *n = 0;
    item_count *mine = graft_malloc((r->n ? r->n : 1) * sizeof *mine);
    graft_err rc = mine ? GRAFT_OK : GRAFT_ERR_NOMEM;
    size_t m = 0;
    for (size_t j = 0; j < r->n && rc == GRAFT_OK; j++)
        if (r->v[j].domain == domain && r->v[j].rating >= min_rating)
            mine[m++] = (item_count){r->v[j].item, 1};
    if (rc == GRAFT_OK) {
        qsort(mine, m, sizeof *mine, cmp_count);
        m = merge_counts(mine, m);
    }
    rc = graft_job_agree_ok(job->role_comm, rc);
    void *all = NULL;
    size_t total = 0;
    if (rc == GRAFT_OK)
        rc = graft_job_allgather_bytes(job->role_comm, mine, m * sizeof *mine, &all, &total);
    graft_free(mine);
    if (rc != GRAFT_OK)
        goto out;
    item_count *v = all;
    size_t nv = total / sizeof *v;
    if (nv)
        qsort(v, nv, sizeof *v, cmp_count);
    nv = merge_counts(v, nv);
    *keys = graft_malloc((nv ? nv : 1) * sizeof **keys);
    if (counts)
        *counts = graft_malloc((nv ? nv : 1) * sizeof **counts);
    rc = *keys && (!counts || *counts) ? GRAFT_OK : GRAFT_ERR_NOMEM;
    for (size_t j = 0; j < nv && rc == GRAFT_OK; j++) {
        (*keys)[j] = v[j].item;
        if (counts)
            (*counts)[j] = v[j].count;
    }
    graft_free(all);
    rc = graft_job_agree_ok(job->role_comm, rc);
    if (rc != GRAFT_OK) {
        graft_free(*keys);
        *keys = NULL;
        if (counts) {
            graft_free(*counts);
            *counts = NULL;
        }
        goto out;
    }
    *n = nv;
out:
    return rc;
}
