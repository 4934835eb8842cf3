#include "serve.h"
#include "alloc.h"
#include "hash.h"
#include "iddict.h"
#include "keymap.h"
#include "manifest.h"
#include "store.h"

#include <cblas.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BLOCK 256
#define ITEM_TILE 4096 /* BLOCK x ITEM_TILE scores: 4 MB, selected from while in cache */

struct graft_served {
    int k;          /* factors */
    uint32_t width; /* k + 1 */
    float mu, rmin, rmax;
    size_t nusers, nitems;
    float *users, *items; /* rows x width */
    size_t ucap;          /* users has room for this many rows (0: nusers) */
    uint64_t *item_keys;
    graft_keymap *uindex, *iindex;
    graft_iddict *item_ids;
    /* A gated transfer model (manifest domain "warm"): user rows below ncold are the cold
     * users' rows of the transfer model, scored against cold_items (the transfer model's item
     * rows, in the order of items, zeros where it lacks one); the rest are the warm model's. */
    size_t ncold;
    float *cold_items;
};

void
graft_served_destroy(graft_served **s)
{
    if (!s || !*s)
        return;
    graft_free((*s)->users);
    graft_free((*s)->items);
    graft_free((*s)->item_keys);
    graft_free((*s)->cold_items);
    graft_keymap_destroy(&(*s)->uindex);
    graft_keymap_destroy(&(*s)->iindex);
    graft_iddict_destroy(&(*s)->item_ids);
    graft_free(*s);
    *s = NULL;
}

graft_err
graft_served_load_table(const char *dir, const graft_manifest_table *tb, float **rows,
                        uint64_t **keys, graft_keymap **index, char *err, size_t errlen)
{
    *rows = graft_malloc((tb->rows ? tb->rows : 1) * tb->width * sizeof(float));
    uint64_t *k = graft_malloc((tb->rows ? tb->rows : 1) * sizeof *k);
    size_t r = 0;
    graft_err rc = GRAFT_OK;
    if (!*rows || !k || graft_keymap_create(tb->rows, index) != GRAFT_OK) {
        snprintf(err, errlen, "out of memory for table %s", tb->name);
        rc = GRAFT_ERR_NOMEM;
    }
    for (int s = 0; s < tb->nshards && rc == GRAFT_OK; s++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, tb->shards[s].file);
        graft_shard sh;
        if ((rc = graft_shard_open(path, &sh, err, errlen)) != GRAFT_OK)
            break;
        if (sh.width != tb->width || r + sh.rows > tb->rows) {
            snprintf(err, errlen, "%s: does not match the manifest", path);
            rc = GRAFT_ERR_PARSE;
        }
        for (uint64_t i = 0; rc == GRAFT_OK && i < sh.rows; i++, r++) {
            graft_shard_row(&sh, i, &k[r], *rows + r * tb->width);
            uint32_t slot;
            int ins;
            rc = graft_keymap_upsert(*index, k[r], (uint32_t)r, &slot, &ins);
        }
        graft_shard_close(&sh);
    }
    if (keys)
        *keys = k;
    else
        graft_free(k);
    return rc;
}

/* The keys of the ids in DIR/cold-users.txt, checked against the manifest's checksum. */
static graft_err
read_cold_users(const char *dir, const graft_manifest *m, graft_keymap **cold, char *err,
                size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cold-users.txt", dir);
    /* The whole file, for its checksum, then a line per id. */
    char *text = NULL;
    size_t len = 0;
    graft_err rc = graft_keymap_create(1024, cold);
    if (rc != GRAFT_OK)
        snprintf(err, errlen, "out of memory");
    else
        rc = graft_store_read_all(path, &text, &len, err, errlen);
    uint64_t sum = graft_checksum64(text, len, 0);
    for (size_t a = 0; rc == GRAFT_OK && a < len;) {
        size_t b = a;
        while (b < len && text[b] != '\n')
            b++;
        size_t e = b;
        while (e > a && text[e - 1] == '\r')
            e--;
        uint32_t v;
        int ins;
        if (e > a)
            rc = graft_keymap_upsert(*cold, graft_hash_id(text + a, e - a), 0, &v, &ins);
        a = b + 1;
    }
    free(text);
    if (rc == GRAFT_OK && (!m->has_cold || sum != m->cold_checksum)) {
        snprintf(err, errlen, "%s: checksum differs from the manifest's (file altered?)", path);
        rc = GRAFT_ERR_PARSE;
    }
    return rc;
}

/* Gated models: the cold users' rows first (from the transfer model's user table, zeros for a
 * cold user it lacks), then the warm model's rows of every other user, and the transfer
 * model's item rows aligned with the warm model's items. */
static graft_err
route_cold(graft_served *s, const char *dir, const graft_manifest *m,
           const graft_manifest_table *cut, const graft_manifest_table *cit, char *err,
           size_t errlen)
{
    float *crows = NULL, *cirows = NULL, *merged = NULL;
    uint64_t *ckeys = NULL, *cikeys = NULL;
    graft_keymap *cindex = NULL, *ciindex = NULL, *cold = NULL, *uindex = NULL;
    size_t w = s->width;
    graft_err rc = read_cold_users(dir, m, &cold, err, errlen);
    if (rc == GRAFT_OK)
        rc = graft_served_load_table(dir, cut, &crows, &ckeys, &cindex, err, errlen);
    if (rc == GRAFT_OK)
        rc = graft_served_load_table(dir, cit, &cirows, &cikeys, &ciindex, err, errlen);
    size_t ncold = rc == GRAFT_OK ? graft_keymap_count(cold) : 0;
    if (rc == GRAFT_OK) {
        merged = graft_calloc((ncold + s->nusers ? ncold + s->nusers : 1) * w, sizeof(float));
        s->cold_items = graft_calloc((s->nitems ? s->nitems : 1) * w, sizeof(float));
        if (!merged || !s->cold_items ||
            graft_keymap_create(ncold + s->nusers, &uindex) != GRAFT_OK) {
            snprintf(err, errlen, "out of memory");
            rc = GRAFT_ERR_NOMEM;
        }
    }
    size_t r = 0, pos = 0;
    uint64_t key;
    uint32_t val, row;
    int ins;
    while (rc == GRAFT_OK && graft_keymap_next(cold, &pos, &key, &val)) {
        if (graft_keymap_get(cindex, key, &row))
            memcpy(merged + r * w, crows + (size_t)row * w, w * sizeof(float));
        rc = graft_keymap_upsert(uindex, key, (uint32_t)r++, &val, &ins);
    }
    s->ncold = r;
    pos = 0;
    while (rc == GRAFT_OK && graft_keymap_next(s->uindex, &pos, &key, &row)) {
        if (graft_keymap_get(cold, key, &val))
            continue;
        memcpy(merged + r * w, s->users + (size_t)row * w, w * sizeof(float));
        rc = graft_keymap_upsert(uindex, key, (uint32_t)r++, &val, &ins);
    }
    for (size_t i = 0; rc == GRAFT_OK && i < s->nitems; i++)
        if (graft_keymap_get(ciindex, s->item_keys[i], &row))
            memcpy(s->cold_items + i * w, cirows + (size_t)row * w, w * sizeof(float));
    if (rc == GRAFT_OK) {
        graft_free(s->users);
        s->users = merged;
        merged = NULL;
        s->nusers = r;
        graft_keymap_destroy(&s->uindex);
        s->uindex = uindex;
        uindex = NULL;
    } else if (rc == GRAFT_ERR_NOMEM) {
        snprintf(err, errlen, "out of memory");
    }
    graft_free(crows);
    graft_free(cirows);
    graft_free(merged);
    graft_free(ckeys);
    graft_free(cikeys);
    graft_keymap_destroy(&cindex);
    graft_keymap_destroy(&ciindex);
    graft_keymap_destroy(&cold);
    graft_keymap_destroy(&uindex);
    return rc;
}

graft_err
graft_served_load(const char *dir, const char *domain, graft_served **out, char *err, size_t errlen)
{
    *out = NULL;
    graft_manifest m;
    graft_err rc = graft_manifest_read(dir, &m, err, errlen);
    if (rc != GRAFT_OK)
        return rc;
    graft_served *s = graft_calloc(1, sizeof *s);
    if (!s) {
        graft_manifest_free(&m);
        return GRAFT_ERR_NOMEM;
    }
    const char *dom = domain ? domain : (m.ndomains == 2 ? "target" : "main");
    /* A plain model's users and items, or joint's shared users, have no domain in their name. */
    const graft_manifest_table *ut = graft_manifest_find_domain(&m, dom, "user", 1);
    const graft_manifest_table *it =
        graft_manifest_find_domain(&m, dom, "item", strcmp(dom, "main") == 0);
    int d = -1;
    for (int i = 0; i < m.ndomains; i++)
        if (strcmp(m.domains[i].name, dom) == 0)
            d = i;
    if (!ut || !it || d < 0 || ut->width != it->width) {
        snprintf(err, errlen, "%s/manifest.json: no %s domain with user and item tables", dir, dom);
        rc = GRAFT_ERR_PARSE;
        goto done;
    }
    /* A gated model answers warm users from its warm tables and cold users from the others. */
    const graft_manifest_table *cut = NULL, *cit = NULL;
    if (m.domains[d].warm[0]) {
        cut = ut;
        cit = it;
        ut = graft_manifest_find_domain(&m, m.domains[d].warm, "user", 0);
        it = graft_manifest_find_domain(&m, m.domains[d].warm, "item", 0);
        if (!ut || !it || ut->width != cut->width || it->width != cut->width) {
            snprintf(err, errlen, "%s/manifest.json: the %s domain's warm tables %s.* are missing",
                     dir, dom, m.domains[d].warm);
            rc = GRAFT_ERR_PARSE;
            goto done;
        }
    }
    s->width = ut->width;
    s->k = (int)ut->width - 1;
    s->mu = (float)m.domains[d].mu;
    s->rmin = (float)m.domains[d].rmin;
    s->rmax = (float)m.domains[d].rmax;
    s->nusers = ut->rows;
    s->nitems = it->rows;
    if ((rc = graft_served_load_table(dir, ut, &s->users, NULL, &s->uindex, err, errlen)) !=
            GRAFT_OK ||
        (rc = graft_served_load_table(dir, it, &s->items, &s->item_keys, &s->iindex, err,
                                      errlen)) != GRAFT_OK)
        goto done;
    if (cut && (rc = route_cold(s, dir, &m, cut, cit, err, errlen)) != GRAFT_OK)
        goto done;
    if ((rc = graft_iddict_create(&s->item_ids)) != GRAFT_OK)
        goto done;
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/items.ids", dir);
    if (stat(path, &st) == 0)
        rc = graft_iddict_read(s->item_ids, path, err, errlen);
done:
    graft_manifest_free(&m);
    if (rc != GRAFT_OK)
        graft_served_destroy(&s);
    *out = s;
    return rc;
}

graft_err
graft_served_from_rows(int k, float mu, const float *users, size_t nusers, const float *items,
                       size_t nitems, graft_served **out)
{
    *out = NULL;
    graft_served *s = graft_calloc(1, sizeof *s);
    if (!s)
        return GRAFT_ERR_NOMEM;
    size_t w = (size_t)k + 1;
    s->k = k;
    s->width = (uint32_t)w;
    s->mu = mu;
    s->rmin = -INFINITY;
    s->rmax = INFINITY;
    s->nusers = nusers;
    s->nitems = nitems;
    s->users = graft_malloc((nusers ? nusers : 1) * w * sizeof(float));
    s->items = graft_malloc((nitems ? nitems : 1) * w * sizeof(float));
    if (!s->users || !s->items || graft_keymap_create(16, &s->uindex) != GRAFT_OK ||
        graft_keymap_create(16, &s->iindex) != GRAFT_OK ||
        graft_iddict_create(&s->item_ids) != GRAFT_OK) {
        graft_served_destroy(&s);
    } else {
        memcpy(s->users, users, nusers * w * sizeof(float));
        memcpy(s->items, items, nitems * w * sizeof(float));
    }
    *out = s;
    return s ? GRAFT_OK : GRAFT_ERR_NOMEM;
}

graft_err
graft_served_set_user(graft_served *s, uint64_t key, const float *row)
{
    uint32_t r;
    if (!graft_keymap_get(s->uindex, key, &r)) {
        if (s->nusers >= s->ucap) { /* room doubles: many users are folded in per call */
            size_t cap = s->nusers * 2 + 1024;
            float *grown = graft_realloc_array(s->users, cap, s->width * sizeof(float));
            if (!grown)
                return GRAFT_ERR_NOMEM;
            s->users = grown;
            s->ucap = cap;
        }
        int ins;
        graft_err rc = graft_keymap_upsert(s->uindex, key, (uint32_t)s->nusers, &r, &ins);
        if (rc != GRAFT_OK)
            return rc;
        s->nusers++;
    }
    memcpy(s->users + (size_t)r * s->width, row, s->width * sizeof(float));
    return GRAFT_OK;
}

size_t
graft_served_items(const graft_served *s)
{
    return s->nitems;
}

int64_t
graft_served_user(const graft_served *s, uint64_t key)
{
    uint32_t r;
    return graft_keymap_get(s->uindex, key, &r) ? (int64_t)r : -1;
}

int64_t
graft_served_item(const graft_served *s, uint64_t key)
{
    uint32_t r;
    return graft_keymap_get(s->iindex, key, &r) ? (int64_t)r : -1;
}

const char *
graft_served_item_id(const graft_served *s, size_t i, char *buf)
{
    const char *id = graft_iddict_get(s->item_ids, s->item_keys[i]);
    if (id)
        return id;
    snprintf(buf, 17, "%016" PRIx64, s->item_keys[i]);
    return buf;
}

float
graft_served_predict(const graft_served *s, int64_t user, int64_t item)
{
    float p = s->mu;
    const float *u = user >= 0 ? s->users + (size_t)user * s->width : NULL;
    const float *items = user >= 0 && (size_t)user < s->ncold ? s->cold_items : s->items;
    const float *v = item >= 0 ? items + (size_t)item * s->width : NULL;
    if (u)
        p += u[s->k];
    if (v)
        p += v[s->k];
    if (u && v)
        for (int j = 0; j < s->k; j++)
            p += u[j] * v[j];
    return p < s->rmin ? s->rmin : p > s->rmax ? s->rmax : p;
}

/* A min-heap of the k best (score, item) so far: the root is the worst kept. */
static void
sift_down(float *sc, int64_t *it, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && sc[l] < sc[m])
            m = l;
        if (r < n && sc[r] < sc[m])
            m = r;
        if (m == i)
            return;
        float ts = sc[i];
        sc[i] = sc[m];
        sc[m] = ts;
        int64_t ti = it[i];
        it[i] = it[m];
        it[m] = ti;
        i = m;
    }
}

/* Pushes (v, i) into a full heap of k when it beats the root, or fills the heap first. */
static inline void
heap_offer(float *hs, int64_t *hi, int *have, int k, float v, int64_t i)
{
    if (*have < k) {
        hs[*have] = v;
        hi[*have] = i;
        (*have)++;
        if (*have == k)
            for (int j = k / 2 - 1; j >= 0; j--)
                sift_down(hs, hi, k, j);
    } else {
        hs[0] = v;
        hi[0] = i;
        sift_down(hs, hi, k, 0);
    }
}

/* The lowest kept score, once the heap is full (before, everything is a candidate). */
static inline float
heap_floor(const float *hs, int have, int k)
{
    return have < k ? -INFINITY : hs[0];
}

/* One thread's share of a tile's selection: users u0..u1 of the block. */
typedef struct {
    const float *sc;
    size_t nt, t0, u0, u1, b;
    int k;
    const float *base;
    int *have;
    int64_t *items;
    float *scores;
    int (*exclude)(void *ctx, size_t u, size_t item);
    void *ctx;
    const size_t *pos; /* the block's users' positions in the caller's arrays (NULL: b + u) */
} select_job;

static void *
select_run(void *arg)
{
    const select_job *j = arg;
    int k = j->k;
    for (size_t u = j->u0; u < j->u1; u++) {
        size_t at = j->pos ? j->pos[j->b + u] : j->b + u;
        float *hs = j->scores + at * (size_t)k;
        int64_t *hi = j->items + at * (size_t)k;
        const float *row = j->sc + u * j->nt;
        float bu = j->base[u];
        for (size_t i0 = 0; i0 < j->nt; i0 += 16) {
            size_t ne = j->nt - i0 < 16 ? j->nt - i0 : 16;
            /* Most chunks hold nothing better than the k-th best: one vector max says so. */
            float best = -INFINITY;
#pragma omp simd reduction(max : best)
            for (size_t i = 0; i < ne; i++)
                best = row[i0 + i] > best ? row[i0 + i] : best;
            if (best + bu <= heap_floor(hs, j->have[u], k))
                continue;
            for (size_t i = i0; i < i0 + ne; i++) {
                float v = row[i] + bu;
                if (v <= heap_floor(hs, j->have[u], k) ||
                    (j->exclude && j->exclude(j->ctx, at, j->t0 + i)))
                    continue;
                heap_offer(hs, hi, &j->have[u], k, v, (int64_t)(j->t0 + i));
            }
        }
    }
    return NULL;
}

/* Top k of users[pos[0..n)] (pos NULL: 0..n-1) against the item rows imat; results, and the
 * exclude callback's user, at the positions pos names. */
static graft_err
topk_on(const graft_served *s, const float *imat, const int64_t *users, const size_t *pos, size_t n,
        int k, int (*exclude)(void *ctx, size_t u, size_t item), void *ctx, int64_t *items,
        float *scores)
{
    size_t ni = s->nitems;
    int kf = s->k, w = (int)s->width;
    /* The block's rows are [p_u, 1] so that the product against item rows [q_i, b_i] (read in
     * place, width k + 1) is p_u . q_i + b_i: the item bias costs no pass of its own. Items go in
     * tiles whose scores stay in cache while they are selected from. */
    float *ub = graft_calloc((size_t)BLOCK * (size_t)w, sizeof(float));
    float *sc = graft_malloc((size_t)BLOCK * ITEM_TILE * sizeof(float));
    int *have = graft_calloc(BLOCK, sizeof(int));
    graft_err rc = ub && sc && have ? GRAFT_OK : GRAFT_ERR_NOMEM;
    for (size_t b = 0; rc == GRAFT_OK && b < n; b += BLOCK) {
        size_t m = n - b < BLOCK ? n - b : BLOCK;
        float base[BLOCK];
        for (size_t u = 0; u < m; u++) {
            int64_t ur = users[pos ? pos[b + u] : b + u];
            const float *row = ur >= 0 ? s->users + (size_t)ur * w : NULL;
            for (int j = 0; j < kf; j++)
                ub[u * w + j] = row ? row[j] : 0.0f;
            ub[u * w + kf] = 1.0f;
            base[u] = s->mu + (row ? row[kf] : 0.0f);
            have[u] = 0;
        }
        for (size_t t0 = 0; t0 < ni; t0 += ITEM_TILE) {
            size_t nt = ni - t0 < ITEM_TILE ? ni - t0 : ITEM_TILE;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nt, w, 1.0f, ub, w,
                        imat + t0 * w, w, 0.0f, sc, (int)nt);
            /* The selection runs on as many threads as the product did: half the users each. */
            select_job jobs[2] = {{.sc = sc,
                                   .nt = nt,
                                   .t0 = t0,
                                   .u0 = 0,
                                   .u1 = m / 2,
                                   .b = b,
                                   .k = k,
                                   .base = base,
                                   .have = have,
                                   .items = items,
                                   .scores = scores,
                                   .exclude = exclude,
                                   .ctx = ctx,
                                   .pos = pos},
                                  {0}};
            jobs[1] = jobs[0];
            jobs[1].u0 = m / 2;
            jobs[1].u1 = m;
            pthread_t th;
            int two = m >= 2 && pthread_create(&th, NULL, select_run, &jobs[1]) == 0;
            if (!two)
                jobs[0].u1 = m;
            select_run(&jobs[0]);
            if (two)
                pthread_join(th, NULL);
        }
        for (size_t u = 0; u < m; u++) {
            size_t at = pos ? pos[b + u] : b + u;
            float *hs = scores + at * (size_t)k;
            int64_t *hi = items + at * (size_t)k;
            int got = have[u];
            if (got < k) /* never filled: make it a heap before popping */
                for (int j = got / 2 - 1; j >= 0; j--)
                    sift_down(hs, hi, got, j);
            /* Best first: pop the heap from the back. */
            for (int n2 = got; n2 > 1; n2--) {
                float ts = hs[0];
                hs[0] = hs[n2 - 1];
                hs[n2 - 1] = ts;
                int64_t ti = hi[0];
                hi[0] = hi[n2 - 1];
                hi[n2 - 1] = ti;
                sift_down(hs, hi, n2 - 1, 0);
            }
            for (int j = got; j < k; j++) {
                hi[j] = -1;
                hs[j] = NAN;
            }
        }
    }
    graft_free(ub);
    graft_free(sc);
    graft_free(have);
    return rc;
}

graft_err
graft_served_topk(const graft_served *s, const int64_t *users, size_t n, int k,
                  int (*exclude)(void *ctx, size_t u, size_t item), void *ctx, int64_t *items,
                  float *scores)
{
    if (s->ncold == 0)
        return topk_on(s, s->items, users, NULL, n, k, exclude, ctx, items, scores);
    /* A gated model: cold users against the transfer model's items, the others against the
     * warm model's. */
    size_t *pos = graft_malloc((n ? n : 1) * sizeof *pos), nc = 0, nw = n;
    if (!pos)
        return GRAFT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (users[i] >= 0 && (size_t)users[i] < s->ncold)
            pos[nc++] = i;
        else
            pos[--nw] = i;
    }
    graft_err rc = topk_on(s, s->cold_items, users, pos, nc, k, exclude, ctx, items, scores);
    if (rc == GRAFT_OK)
        rc = topk_on(s, s->items, users, pos + nc, n - nc, k, exclude, ctx, items, scores);
    graft_free(pos);
    return rc;
}
