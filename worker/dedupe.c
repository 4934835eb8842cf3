#include "dedupe.h"
#include "alloc.h"
#include "hash.h"
#include "job.h"
#include "keymap.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t pair;  /* hash of (user, item) */
    uint64_t order; /* rank << 40 | position in the rank's part */
    float rating;
    uint32_t pad;
} dup_rec;

typedef struct {
    uint64_t order;
    float value;
    uint32_t drop;
} dup_verdict;

static uint64_t
pair_hash(const graft_rating *r)
{
    return graft_hash_mix64(r->user ^ graft_hash_mix64(r->item + 0x9e3779b97f4a7c15ULL));
}

uint64_t
graft_dedupe_identity(const graft_ratings *r)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < r->n; i++) {
        uint32_t bits;
        memcpy(&bits, &r->v[i].rating, sizeof bits);
        sum += graft_hash_mix64(pair_hash(&r->v[i]) ^ ((uint64_t)bits << 17));
    }
    return sum;
}

static int
by_pair_then_order(const void *a, const void *b)
{
    const dup_rec *x = a, *y = b;
    if (x->pair != y->pair)
        return x->pair < y->pair ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The records of recs[0..n) whose pair occurs more than once, sorted by pair then order, into
 * *dups (the caller frees). */
static graft_err
find_dups(const dup_rec *recs, size_t n, dup_rec **dups, size_t *ndups)
{
    *dups = NULL;
    *ndups = 0;
    graft_keymap *first = NULL;
    uint32_t *cnt = graft_calloc(n ? n : 1, sizeof *cnt);
    uint32_t *at = graft_malloc((n ? n : 1) * sizeof *at);
    graft_err rc = cnt && at ? graft_keymap_create(n, &first) : GRAFT_ERR_NOMEM;
    for (size_t i = 0; rc == GRAFT_OK && i < n; i++) {
        int ins;
        rc = graft_keymap_upsert(first, recs[i].pair, (uint32_t)i, &at[i], &ins);
        if (rc == GRAFT_OK)
            cnt[at[i]]++;
    }
    size_t m = 0;
    for (size_t i = 0; rc == GRAFT_OK && i < n; i++)
        m += cnt[at[i]] > 1;
    dup_rec *d = rc == GRAFT_OK ? graft_malloc((m ? m : 1) * sizeof *d) : NULL;
    if (rc == GRAFT_OK && !d)
        rc = GRAFT_ERR_NOMEM;
    for (size_t i = 0, j = 0; rc == GRAFT_OK && i < n; i++)
        if (cnt[at[i]] > 1)
            d[j++] = recs[i];
    if (rc == GRAFT_OK) {
        qsort(d, m, sizeof *d, by_pair_then_order);
        *dups = d;
        *ndups = m;
    } else {
        graft_free(d);
    }
    graft_keymap_destroy(&first);
    graft_free(cnt);
    graft_free(at);
    return rc;
}

/* Verdicts for sorted duplicates: every copy but the last is dropped; the last keeps its
 * rating (last), takes the mean (mean) or the sum (sum). Counts pairs and extra copies. */
static void
decide(const dup_rec *d, size_t m, graft_dup_policy policy, dup_verdict *v, graft_dup_counts *c)
{
    for (size_t a = 0; a < m;) {
        size_t b = a;
        double sum = 0;
        while (b < m && d[b].pair == d[a].pair)
            sum += d[b++].rating;
        c->pairs++;
        c->extra += b - a - 1;
        for (size_t i = a; i < b; i++) {
            v[i].order = d[i].order;
            v[i].drop = i + 1 < b;
            v[i].value = policy == GRAFT_DUP_MEAN  ? (float)(sum / (double)(b - a))
                         : policy == GRAFT_DUP_SUM ? (float)sum
                                                   : d[i].rating;
        }
        a = b;
    }
}

/* Applies verdicts (any order) to r: drops and new values, keeping the order of the rest. */
static graft_err
apply(graft_ratings *r, dup_verdict *v, size_t m, graft_dup_policy policy)
{
    if (policy != GRAFT_DUP_LAST && policy != GRAFT_DUP_MEAN && policy != GRAFT_DUP_SUM)
        return GRAFT_OK;
    uint8_t *drop = graft_calloc(r->n ? r->n : 1, 1);
    if (!drop)
        return GRAFT_ERR_NOMEM;
    for (size_t i = 0; i < m; i++) {
        size_t pos = (size_t)(v[i].order & (((uint64_t)1 << 40) - 1));
        if (v[i].drop)
            drop[pos] = 1;
        else
            r->v[pos].rating = v[i].value;
    }
    size_t keep = 0;
    for (size_t i = 0; i < r->n; i++)
        if (!drop[i])
            r->v[keep++] = r->v[i];
    r->n = keep;
    graft_free(drop);
    return GRAFT_OK;
}

graft_err
graft_dedupe(graft_ratings *r, graft_dup_policy policy, int local_only, MPI_Comm comm,
             graft_dup_counts *out)
{
    int rank = graft_job_comm_rank(comm), size = graft_job_comm_size(comm);
    memset(out, 0, sizeof *out);
    int parts = local_only ? 1 : size;
    dup_rec *recs = graft_malloc((r->n ? r->n : 1) * sizeof *recs);
    int *scnt = graft_calloc((size_t)size, sizeof *scnt);
    size_t *fill = graft_calloc((size_t)size, sizeof *fill);
    graft_err rc = recs && scnt && fill ? GRAFT_OK : GRAFT_ERR_NOMEM;
    dup_rec *got = NULL, *dups = NULL;
    dup_verdict *verdicts = NULL, *back = NULL, *mine = NULL;
    size_t ngot = 0, ndups = 0, nmine = 0;
    graft_dup_counts local = {0, 0};
    /* Records grouped by the rank that decides their pair. */
    for (size_t i = 0; rc == GRAFT_OK && i < r->n; i++)
        scnt[parts == 1 ? rank : (int)(pair_hash(&r->v[i]) % (uint64_t)parts)]++;
    for (int w = 1; rc == GRAFT_OK && w < size; w++)
        fill[w] = fill[w - 1] + (size_t)scnt[w - 1];
    for (size_t i = 0; rc == GRAFT_OK && i < r->n; i++) {
        int to = parts == 1 ? rank : (int)(pair_hash(&r->v[i]) % (uint64_t)parts);
        recs[fill[to]++] =
            (dup_rec){pair_hash(&r->v[i]), (uint64_t)rank << 40 | i, r->v[i].rating, 0};
    }
    if (parts == 1) {
        got = recs;
        ngot = r->n;
        recs = NULL;
    } else {
        /* Every rank joins every collective, also after a local failure. */
        rc = graft_job_agree_ok(comm, rc);
        if (rc == GRAFT_OK)
            rc = graft_job_alltoallv(comm, recs, scnt, sizeof *recs, (void **)&got, &ngot);
    }
    if (rc == GRAFT_OK)
        rc = find_dups(got, ngot, &dups, &ndups);
    if (rc == GRAFT_OK && !(verdicts = graft_malloc((ndups ? ndups : 1) * sizeof *verdicts)))
        rc = GRAFT_ERR_NOMEM;
    if (rc == GRAFT_OK)
        decide(dups, ndups, policy, verdicts, &local);
    if (parts == 1) {
        if (rc == GRAFT_OK)
            rc = apply(r, verdicts, ndups, policy);
    } else {
        /* The verdicts go back to the ranks whose parts hold those ratings. */
        rc = graft_job_agree_ok(comm, rc);
        if (rc == GRAFT_OK) {
            memset(scnt, 0, (size_t)size * sizeof *scnt);
            for (size_t i = 0; i < ndups; i++)
                scnt[verdicts[i].order >> 40]++;
            back = graft_malloc((ndups ? ndups : 1) * sizeof *back);
            memset(fill, 0, (size_t)size * sizeof *fill);
            for (int w = 1; w < size; w++)
                fill[w] = fill[w - 1] + (size_t)scnt[w - 1];
            for (size_t i = 0; back && i < ndups; i++)
                back[fill[verdicts[i].order >> 40]++] = verdicts[i];
            rc = graft_job_agree_ok(comm, back ? GRAFT_OK : GRAFT_ERR_NOMEM);
            if (rc == GRAFT_OK)
                rc = graft_job_alltoallv(comm, back, scnt, sizeof *back, (void **)&mine, &nmine);
            if (rc == GRAFT_OK)
                rc = apply(r, mine, nmine, policy);
        } else {
            rc = GRAFT_ERR_NOMEM;
        }
    }
    uint64_t l[2] = {local.pairs, local.extra}, g[2];
    graft_err all = graft_job_agree_ok(comm, rc);
    graft_job_allreduce(comm, l, g, 2, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    out->pairs = g[0];
    out->extra = g[1];
    graft_free(recs);
    graft_free(got);
    graft_free(dups);
    graft_free(verdicts);
    graft_free(back);
    graft_free(mine);
    graft_free(scnt);
    graft_free(fill);
    return all == GRAFT_OK ? GRAFT_OK : GRAFT_ERR_NOMEM;
}
