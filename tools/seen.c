#include "seen.h"
#include "alloc.h"
#include "hash.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int
by_user_item(const void *a, const void *b)
{
    const graft_pair *x = a, *y = b;
    if (x->user_key != y->user_key)
        return x->user_key < y->user_key ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

graft_err
graft_pairs_read(const char *path, const graft_served *s, graft_pairs *out, char *err,
                 size_t errlen)
{
    out->v = NULL;
    out->n = 0;
    graft_datafile *df;
    graft_err rc = graft_datafile_open(path, GRAFT_FMT_AUTO, &df, err, errlen);
    if (rc != GRAFT_OK)
        return rc;
    graft_ratings r = {0};
    uint64_t bad = 0;
    rc = graft_ratings_load(df, 0, 1, 0, &r, &bad, NULL, NULL, err, errlen);
    graft_datafile_close(&df);
    if (rc == GRAFT_OK && !(out->v = graft_malloc((r.n ? r.n : 1) * sizeof *out->v)))
        rc = GRAFT_ERR_NOMEM;
    for (size_t i = 0; rc == GRAFT_OK && i < r.n; i++)
        out->v[i] = (graft_pair){graft_served_user(s, r.v[i].user),
                                 graft_served_item(s, r.v[i].item), r.v[i].user, r.v[i].rating};
    if (rc == GRAFT_OK) {
        out->n = r.n;
        qsort(out->v, out->n, sizeof *out->v, by_user_item);
    }
    graft_ratings_free(&r);
    return rc;
}

void
graft_pairs_free(graft_pairs *p)
{
    graft_free(p->v);
    p->v = NULL;
    p->n = 0;
}

void
graft_pairs_of(const graft_pairs *p, uint64_t user_key, size_t *lo, size_t *hi)
{
    size_t a = 0, b = p->n;
    while (a < b) {
        size_t m = (a + b) / 2;
        if (p->v[m].user_key < user_key)
            a = m + 1;
        else
            b = m;
    }
    *lo = a;
    while (a < p->n && p->v[a].user_key == user_key)
        a++;
    *hi = a;
}

int
graft_pairs_has(const graft_pairs *p, uint64_t user_key, int64_t item)
{
    size_t lo, hi;
    graft_pairs_of(p, user_key, &lo, &hi);
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (p->v[m].item < item)
            lo = m + 1;
        else
            hi = m;
    }
    return lo < p->n && p->v[lo].user_key == user_key && p->v[lo].item == item;
}

typedef struct {
    const graft_pairs *seen;
    const uint64_t *keys; /* the user key of each ranked row */
} excl;

static int
excluded(void *ctx, size_t u, size_t item)
{
    const excl *e = ctx;
    return graft_pairs_has(e->seen, e->keys[u], (int64_t)item);
}

graft_err
graft_eval_run(const graft_served *s, const graft_pairs *test, const graft_pairs *seen,
               const graft_eval_opts *o, graft_eval_result *res)
{
    memset(res, 0, sizeof *res);
    double se = 0, ae = 0;
    for (size_t i = 0; i < test->n; i++) {
        double e =
            (double)graft_served_predict(s, test->v[i].user, test->v[i].item) - test->v[i].rating;
        se += e * e;
        ae += fabs(e);
    }
    res->ratings = test->n;
    res->rmse = test->n ? sqrt(se / (double)test->n) : NAN;
    res->mae = test->n ? ae / (double)test->n : NAN;
    int kmax = 0;
    for (int j = 0; j < o->nk; j++)
        kmax = o->ks[j] > kmax ? o->ks[j] : kmax;
    /* One row per test user, ranked in blocks. */
    size_t nu = 0;
    for (size_t i = 0; i < test->n; i++)
        if (i == 0 || test->v[i].user_key != test->v[i - 1].user_key)
            nu++;
    int64_t *rows = graft_malloc((nu ? nu : 1) * sizeof *rows);
    uint64_t *keys = graft_malloc((nu ? nu : 1) * sizeof *keys);
    int64_t *top = graft_malloc((nu ? nu : 1) * (size_t)(kmax ? kmax : 1) * sizeof *top);
    float *sc = graft_malloc((nu ? nu : 1) * (size_t)(kmax ? kmax : 1) * sizeof *sc);
    graft_err rc = rows && keys && top && sc ? GRAFT_OK : GRAFT_ERR_NOMEM;
    if (rc == GRAFT_OK && kmax > 0) {
        size_t u = 0;
        for (size_t i = 0; i < test->n; i++)
            if (i == 0 || test->v[i].user_key != test->v[i - 1].user_key) {
                rows[u] = test->v[i].user;
                keys[u++] = test->v[i].user_key;
            }
        excl e = {seen, keys};
        rc = graft_served_topk(s, rows, nu, kmax, seen ? excluded : NULL, &e, top, sc);
        for (size_t x = 0; rc == GRAFT_OK && x < nu; x++) {
            size_t lo, hi;
            graft_pairs_of(test, keys[x], &lo, &hi);
            int nrel = 0;
            for (size_t i = lo; i < hi; i++)
                nrel += test->v[i].item >= 0 && test->v[i].rating >= o->min_rating;
            if (nrel == 0)
                continue;
            res->users++;
            for (int j = 0; j < o->nk; j++) {
                int k = o->ks[j], hits = 0;
                double dcg = 0, idcg = 0;
                for (int r = 0; r < k; r++) {
                    int64_t it = top[x * (size_t)kmax + (size_t)r];
                    int rel = 0;
                    for (size_t i = lo; it >= 0 && i < hi && !rel; i++)
                        rel = test->v[i].item == it && test->v[i].rating >= o->min_rating;
                    if (rel) {
                        hits++;
                        dcg += 1.0 / log2(r + 2.0);
                    }
                    if (r < nrel)
                        idcg += 1.0 / log2(r + 2.0);
                }
                res->hr[j] += hits > 0;
                res->recall[j] += (double)hits / nrel;
                res->ndcg[j] += dcg / idcg;
            }
        }
        for (int j = 0; j < o->nk && res->users; j++) {
            res->hr[j] /= (double)res->users;
            res->recall[j] /= (double)res->users;
            res->ndcg[j] /= (double)res->users;
        }
    }
    graft_free(rows);
    graft_free(keys);
    graft_free(top);
    graft_free(sc);
    return rc;
}
