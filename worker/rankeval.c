#include "rankeval.h"
#include "alloc.h"
#include "hash.h"
#include "partition.h"
#include "positives.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Users scored per product: the score block is this many rows of every item. */
#define USER_BLOCK 128

struct graft_rankeval {
    graft_rankeval_opts o;
    uint64_t *items; /* the ranked items, sorted */
    size_t ni;
    uint64_t *ukeys; /* the users this worker scores */
    size_t nu;
    size_t *rstart; /* nu + 1: user x's relevant items are rel[rstart[x] .. rstart[x + 1]) */
    uint32_t *rel;  /* indices into items, sorted */
    size_t *xstart; /* nu + 1: and the items left out of its ranking */
    uint32_t *excl;
    float *irows, *urows, *scores;
    uint32_t uwidth;
};

static int
cmp_user_item(const void *a, const void *b)
{
    const graft_rating *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

/* The index of key in the sorted items, or -1. */
static int64_t
item_index(const graft_rankeval *r, uint64_t key)
{
    size_t lo = 0, hi = r->ni;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->items[mid] == key)
            return (int64_t)mid;
        if (r->items[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* The ratings of domain d of src, copied. */
static graft_err
copy_domain(const graft_ratings *src, uint32_t d, graft_ratings *dst)
{
    graft_err rc = GRAFT_OK;
    for (size_t j = 0; src && j < src->n && rc == GRAFT_OK; j++)
        if (src->v[j].domain == d)
            rc = graft_ratings_append(dst, src->v[j]);
    return rc;
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Per user of the sorted held set with a relevant item (and in the sample): its relevant and its
 * left-out item indices. */
static graft_err
index_users(graft_rankeval *r, const graft_ratings *h, const graft_ratings *s, double keep)
{
    size_t cap = h->n + 1;
    r->ukeys = graft_malloc(cap * sizeof *r->ukeys);
    r->rstart = graft_malloc((cap + 1) * sizeof *r->rstart);
    r->xstart = graft_malloc((cap + 1) * sizeof *r->xstart);
    r->rel = graft_malloc(cap * sizeof *r->rel);
    r->excl = graft_malloc((s->n + 1) * sizeof *r->excl);
    if (!r->ukeys || !r->rstart || !r->xstart || !r->rel || !r->excl)
        return GRAFT_ERR_NOMEM;
    size_t nrel = 0, nex = 0, sj = 0;
    r->rstart[0] = r->xstart[0] = 0;
    for (size_t j = 0; j < h->n;) {
        uint64_t u = h->v[j].user;
        size_t first = nrel;
        for (; j < h->n && h->v[j].user == u; j++) {
            int64_t at = item_index(r, h->v[j].item);
            if (at >= 0 && h->v[j].rating >= r->o.min_rating &&
                (nrel == first || r->rel[nrel - 1] != (uint32_t)at))
                r->rel[nrel++] = (uint32_t)at;
        }
        double draw = (double)(graft_hash_mix64(u ^ r->o.seed) >> 11) * 0x1.0p-53;
        if (nrel == first || draw >= keep) {
            nrel = first;
            continue;
        }
        while (sj < s->n && s->v[sj].user < u)
            sj++;
        for (; sj < s->n && s->v[sj].user == u; sj++) {
            int64_t at = item_index(r, s->v[sj].item);
            if (at >= 0)
                r->excl[nex++] = (uint32_t)at;
        }
        qsort(r->rel + first, nrel - first, sizeof *r->rel, cmp_u32);
        r->ukeys[r->nu++] = u;
        r->rstart[r->nu] = nrel;
        r->xstart[r->nu] = nex;
    }
    return GRAFT_OK;
}

graft_err
graft_rankeval_create(const graft_job *job, const graft_ratings *held, const graft_ratings *seen,
                      const graft_ratings *more, const graft_rankeval_opts *o, graft_rankeval **out)
{
    *out = NULL;
    graft_rankeval *r = graft_calloc(1, sizeof *r);
    graft_ratings h = {0}, s = {0};
    graft_err rc = r ? GRAFT_OK : GRAFT_ERR_NOMEM;
    if (r)
        r->o = *o;
    if (rc == GRAFT_OK)
        rc = copy_domain(held, o->domain, &h);
    if (rc == GRAFT_OK)
        rc = copy_domain(seen, o->domain, &s);
    rc = graft_job_agree_ok(job->role_comm, rc);
    /* Every worker joins each collective, also after a local failure. */
    uint64_t *items = NULL;
    size_t ni = 0;
    graft_err irc = graft_positives_items(job, &s, o->domain, o->min_rating, &items, NULL, &ni);
    if (r) {
        r->items = items;
        r->ni = ni;
    } else {
        graft_free(items);
    }
    if (rc == GRAFT_OK)
        rc = irc;
    if (rc == GRAFT_OK)
        rc = copy_domain(more, o->domain, &s);
    rc = graft_job_agree_ok(job->role_comm, rc);
    if (rc == GRAFT_OK)
        rc = graft_partition_exchange(job, &h, GRAFT_BY_USER);
    if (rc == GRAFT_OK)
        rc = graft_partition_exchange(job, &s, GRAFT_BY_USER);
    /* The sample: each user kept with probability max_users / (users with a held-out rating). */
    uint64_t mine = 0, all = 0;
    if (rc == GRAFT_OK) {
        if (h.n) /* qsort of a NULL array, even of 0 items, is undefined */
            qsort(h.v, h.n, sizeof *h.v, cmp_user_item);
        if (s.n)
            qsort(s.v, s.n, sizeof *s.v, cmp_user_item);
        for (size_t j = 0; j < h.n; j++)
            mine += j == 0 || h.v[j].user != h.v[j - 1].user;
    }
    graft_job_allreduce(job->role_comm, &mine, &all, 1, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    double keep = o->max_users && all > o->max_users ? (double)o->max_users / (double)all : 2.0;
    if (rc == GRAFT_OK)
        rc = index_users(r, &h, &s, keep);
    graft_ratings_free(&h);
    graft_ratings_free(&s);
    rc = graft_job_agree_ok(job->role_comm, rc);
    if (rc != GRAFT_OK)
        graft_rankeval_destroy(&r);
    *out = r;
    return rc;
}

void
graft_rankeval_destroy(graft_rankeval **r)
{
    if (!r || !*r)
        return;
    graft_rankeval *x = *r;
    graft_free(x->items);
    graft_free(x->ukeys);
    graft_free(x->rstart);
    graft_free(x->rel);
    graft_free(x->xstart);
    graft_free(x->excl);
    graft_free(x->irows);
    graft_free(x->urows);
    graft_free(x->scores);
    graft_free(x);
    *r = NULL;
}

/* The K best items of one user's scores (excluded ones already -inf), best first. */
static int
top_k(const float *sc, size_t ni, int k, uint32_t *top, float *best)
{
    int n = 0;
    for (size_t j = 0; j < ni; j++) {
        float v = sc[j];
        if (v == -INFINITY || (n == k && v <= best[n - 1]))
            continue;
        int at = n < k ? n++ : k - 1;
        while (at > 0 && best[at - 1] < v) {
            best[at] = best[at - 1];
            top[at] = top[at - 1];
            at--;
        }
        best[at] = v;
        top[at] = (uint32_t)j;
    }
    return n;
}

static int
is_relevant(const graft_rankeval *r, size_t x, uint32_t item)
{
    size_t lo = r->rstart[x], hi = r->rstart[x + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->rel[mid] == item)
            return 1;
        if (r->rel[mid] < item)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* This worker's users' NDCG@K and Recall@K under m, one entry per user (r->nu). Local but for
 * the pulls; a failure is returned for the caller to agree on. */
static graft_err
score_users(graft_rankeval *r, graft_client *c, const graft_rankeval_model *m, double *ndcg,
            double *recall)
{
    size_t kw = (size_t)m->k + 1, ni = r->ni, nb = r->nu < USER_BLOCK ? r->nu : USER_BLOCK;
    int K = r->o.k;
    graft_err rc = GRAFT_OK;
    if (!r->irows || r->uwidth != m->uwidth) {
        graft_free(r->irows);
        graft_free(r->urows);
        graft_free(r->scores);
        r->irows = graft_malloc((ni ? ni : 1) * kw * sizeof(float));
        r->urows = graft_malloc((r->nu ? r->nu : 1) * m->uwidth * sizeof(float));
        r->scores = graft_malloc((nb ? nb : 1) * (ni ? ni : 1) * sizeof(float));
        r->uwidth = m->uwidth;
        if (!r->irows || !r->urows || !r->scores)
            rc = GRAFT_ERR_NOMEM;
    }
    uint32_t *top = graft_malloc((size_t)K * sizeof *top);
    float *best = graft_malloc((size_t)K * sizeof *best);
    if (!top || !best)
        rc = GRAFT_ERR_NOMEM;
    if (rc == GRAFT_OK && ni)
        rc = graft_client_pull(c, m->itab, (uint32_t)kw, r->items, ni, 0, r->irows);
    if (rc == GRAFT_OK && r->nu)
        rc = graft_client_pull(c, m->utab, m->uwidth, r->ukeys, r->nu, 0, r->urows);
    for (size_t u = 0; rc == GRAFT_OK && !ni && u < r->nu; u++)
        ndcg[u] = recall[u] = 0; /* nothing to rank: no hit */
    for (size_t b = 0; rc == GRAFT_OK && ni && b < r->nu; b += nb) {
        size_t n = r->nu - b < nb ? r->nu - b : nb;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)ni, m->k, 1.0f,
                    r->urows + b * m->uwidth, (int)m->uwidth, r->irows, (int)kw, 0.0f, r->scores,
                    (int)ni);
        for (size_t x = 0; x < n; x++) {
            size_t u = b + x;
            float *sc = r->scores + x * ni;
            for (size_t j = 0; j < ni; j++)
                sc[j] += r->irows[j * kw + (size_t)m->k];
            for (size_t e = r->xstart[u]; e < r->xstart[u + 1]; e++)
                sc[r->excl[e]] = -INFINITY;
            int got = top_k(sc, ni, K, top, best);
            size_t nrel = r->rstart[u + 1] - r->rstart[u];
            double dcg = 0, idcg = 0;
            int hits = 0;
            for (int q = 0; q < K; q++) {
                if (q < got && is_relevant(r, u, top[q])) {
                    hits++;
                    dcg += 1.0 / log2(q + 2.0);
                }
                if ((size_t)q < nrel)
                    idcg += 1.0 / log2(q + 2.0);
            }
            ndcg[u] = dcg / idcg;
            recall[u] = (double)hits / (double)nrel;
        }
    }
    graft_free(top);
    graft_free(best);
    return rc;
}

graft_err
graft_rankeval_run(graft_rankeval *r, const graft_job *job, graft_client *c,
                   const graft_rankeval_model *m, double *ndcg, double *recall, uint64_t *users)
{
    double *v = graft_malloc((r->nu ? r->nu : 1) * 2 * sizeof *v), sum[2] = {0, 0};
    graft_err rc = v ? score_users(r, c, m, v, v + r->nu) : GRAFT_ERR_NOMEM;
    for (size_t u = 0; rc == GRAFT_OK && u < r->nu; u++) {
        sum[0] += v[u];
        sum[1] += v[r->nu + u];
    }
    graft_free(v);
    rc = graft_job_agree_ok(job->role_comm, rc);
    uint64_t nu = r->nu, gnu = 0;
    double gsum[2] = {0, 0};
    graft_job_allreduce(job->role_comm, sum, gsum, 2, GRAFT_JOB_F64, GRAFT_JOB_SUM);
    graft_job_allreduce(job->role_comm, &nu, &gnu, 1, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    if (rc == GRAFT_OK) {
        *ndcg = gnu ? gsum[0] / (double)gnu : NAN;
        *recall = gnu ? gsum[1] / (double)gnu : NAN;
        *users = gnu;
    }
    return rc;
}

graft_err
graft_rankeval_paired(graft_rankeval *r, const graft_job *job, graft_client *c,
                      const graft_rankeval_model *a, const graft_rankeval_model *b, double *mean,
                      double *se, uint64_t *users)
{
    size_t nu = r->nu;
    double *va = graft_malloc((nu ? nu : 1) * 4 * sizeof *va), *vb = va ? va + 2 * nu : NULL;
    graft_err rc = va ? score_users(r, c, a, va, va + nu) : GRAFT_ERR_NOMEM;
    if (rc == GRAFT_OK)
        rc = score_users(r, c, b, vb, vb + nu);
    double sum[2] = {0, 0}, gsum[2] = {0, 0};
    for (size_t u = 0; rc == GRAFT_OK && u < nu; u++) {
        double d = va[u] - vb[u];
        sum[0] += d;
        sum[1] += d * d;
    }
    graft_free(va);
    rc = graft_job_agree_ok(job->role_comm, rc);
    uint64_t n = nu, gn = 0;
    graft_job_allreduce(job->role_comm, sum, gsum, 2, GRAFT_JOB_F64, GRAFT_JOB_SUM);
    graft_job_allreduce(job->role_comm, &n, &gn, 1, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    if (rc == GRAFT_OK) {
        double g = (double)gn, mu = gn ? gsum[0] / g : NAN;
        /* The sample variance of the differences, over n - 1; its mean's standard error. */
        double var = gn > 1 ? (gsum[1] - g * mu * mu) / (g - 1) : NAN;
        *mean = mu;
        *se = gn > 1 ? sqrt(var > 0 ? var / g : 0) : NAN;
        *users = gn;
    }
    return rc;
}
