#include "blocks.h"
#include "clock.h"
#include "background.h"
#include "alloc.h"
#include "hash.h"
#include "keymap.h"
#include "log.h"
#include "model.h"
#include "partition.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Keeps the block choice independent of the servers' sharding and of the owners. */
#define BLOCK_SALT 0xbb67ae8584caa73bULL

struct graft_blocks {
    const graft_config *cfg;
    const graft_job *job;
    graft_client *c;
    graft_blocks_tables tabs;
    int k, B, adagrad;
    /* This worker's users: row nu is all zeros, for test users without training ratings. */
    uint64_t *ukeys;
    size_t nu;
    float *urows; /* nu + 1 rows of W floats: k factors, the bias, the accumulator */
    /* Per block: item keys (the first ntk[b] have training ratings here, the rest only test
     * ratings), and the ratings of this worker's users, training ones sorted by user. */
    uint64_t **keys;
    uint32_t *ntk, *nk;
    graft_entry **train, **test, **valid; /* valid: --validation-fraction's held-out share */
    size_t *ntrain, *ntest, *nvalid;
    /* One block's rows as pulled, and a copy to take the differences against; next receives
     * the next block while this one trains (prefetch). */
    float *rows, *old, *next;
    size_t cap;
    int stride;           /* worker w works on block (stride w + t) mod B at clock t */
    int prefetch;         /* the next block may be pulled during this one (docs/architecture.md) */
    graft_client *pc;     /* the prefetch thread's own connections */
    graft_background *bg; /* the prefetch thread, made once (with prefetch) */
    int th_block, th_live;
    int delay_ms; /* GRAFT_DEBUG_ROUND_DELAY=W:MS slows worker W, for the consistency tests */
};

/* Marks a held-out rating as a validation one while both sets travel together. */
#define HELD_VALID 2u

static uint32_t
block_of(uint64_t item, int n)
{
    return (uint32_t)(graft_hash_mix64(item ^ BLOCK_SALT) % (uint64_t)n);
}

static graft_err prefetch_wait(graft_blocks *b);

void
graft_blocks_destroy(graft_blocks **bp)
{
    if (!bp || !*bp)
        return;
    graft_blocks *b = *bp;
    prefetch_wait(b);
    graft_background_destroy(&b->bg);
    for (int i = 0; i < b->B && b->keys; i++) {
        graft_free(b->keys[i]);
        graft_free(b->train[i]);
        graft_free(b->test[i]);
        graft_free(b->valid[i]);
    }
    graft_free(b->keys);
    graft_free(b->train);
    graft_free(b->test);
    graft_free(b->valid);
    graft_free(b->nvalid);
    graft_free(b->ntk);
    graft_free(b->nk);
    graft_free(b->ntrain);
    graft_free(b->ntest);
    graft_free(b->ukeys);
    graft_free(b->urows);
    graft_free(b->rows);
    graft_free(b->old);
    graft_free(b->next);
    graft_free(b);
    *bp = NULL;
}

/* Indexes the users of train (in order of appearance) and the items of both sets (per block,
 * training items first), then files every rating as an entry of its block: training entries
 * sorted by user (a counting sort), so a block's pass reads user rows in order. A held-out
 * rating whose domain has HELD_VALID set is a validation one. */
static graft_err
build(graft_blocks *b, const graft_ratings *train, const graft_ratings *test)
{
    graft_keymap *um = NULL, *im = NULL;
    uint64_t *gkeys = NULL;
    uint32_t *gloc = NULL, *ucount = NULL;
    graft_entry *sorted = NULL;
    uint8_t *gtrain = NULL;
    size_t ng = 0, cap_g = 1024;
    graft_err rc = GRAFT_ERR_NOMEM;
    int B = b->B;
    b->keys = graft_calloc((size_t)B, sizeof *b->keys);
    b->train = graft_calloc((size_t)B, sizeof *b->train);
    b->test = graft_calloc((size_t)B, sizeof *b->test);
    b->ntk = graft_calloc((size_t)B, sizeof *b->ntk);
    b->nk = graft_calloc((size_t)B, sizeof *b->nk);
    b->ntrain = graft_calloc((size_t)B, sizeof *b->ntrain);
    b->ntest = graft_calloc((size_t)B, sizeof *b->ntest);
    b->valid = graft_calloc((size_t)B, sizeof *b->valid);
    b->nvalid = graft_calloc((size_t)B, sizeof *b->nvalid);
    b->ukeys = graft_malloc((train->n + 1) * sizeof *b->ukeys);
    gkeys = graft_malloc(cap_g * sizeof *gkeys);
    gtrain = graft_malloc(cap_g);
    if (!b->keys || !b->train || !b->test || !b->ntk || !b->nk || !b->ntrain || !b->ntest ||
        !b->valid || !b->nvalid || !b->ukeys || !gkeys || !gtrain ||
        graft_keymap_create(train->n / 16 + 16, &um) != GRAFT_OK ||
        graft_keymap_create(train->n / 64 + 16, &im) != GRAFT_OK)
        goto out;
    /* Users and items, with their indices. */
    for (int pass = 0; pass < 2; pass++) {
        const graft_ratings *r = pass == 0 ? train : test;
        for (size_t j = 0; j < r->n; j++) {
            uint32_t v;
            int ins;
            if (pass == 0) {
                if (graft_keymap_upsert(um, r->v[j].user, (uint32_t)b->nu, &v, &ins) != GRAFT_OK)
                    goto out;
                if (ins)
                    b->ukeys[b->nu++] = r->v[j].user;
            }
            if (graft_keymap_upsert(im, r->v[j].item, (uint32_t)ng, &v, &ins) != GRAFT_OK)
                goto out;
            if (!ins)
                continue;
            if (ng == cap_g) {
                cap_g *= 2;
                uint64_t *nk = graft_realloc_array(gkeys, cap_g, sizeof *gkeys);
                if (!nk)
                    goto out;
                gkeys = nk;
                uint8_t *nt = graft_realloc_array(gtrain, cap_g, 1);
                if (!nt)
                    goto out;
                gtrain = nt;
            }
            gkeys[ng] = r->v[j].item;
            gtrain[ng++] = pass == 0;
        }
    }
    gloc = graft_malloc((ng ? ng : 1) * sizeof *gloc);
    if (!gloc)
        goto out;
    for (int pass = 0; pass < 2; pass++)
        for (size_t g = 0; g < ng; g++)
            if (gtrain[g] == (pass == 0)) {
                uint32_t blk = block_of(gkeys[g], B);
                gloc[g] = b->nk[blk]++;
                if (pass == 0)
                    b->ntk[blk]++;
            }
    for (int i = 0; i < B; i++) {
        b->keys[i] = graft_malloc((b->nk[i] ? b->nk[i] : 1) * sizeof(uint64_t));
        if (!b->keys[i])
            goto out;
        if (b->nk[i] > b->cap)
            b->cap = b->nk[i];
        b->nk[i] = 0;
    }
    for (size_t g = 0; g < ng; g++) {
        uint32_t blk = block_of(gkeys[g], B);
        b->keys[blk][gloc[g]] = gkeys[g];
        b->nk[blk]++;
    }
    /* Training entries by user (counting sort), then dealt to blocks in that order. */
    ucount = graft_calloc(b->nu + 1, sizeof *ucount);
    sorted = graft_malloc((train->n ? train->n : 1) * sizeof *sorted);
    if (!ucount || !sorted)
        goto out;
    for (size_t j = 0; j < train->n; j++) {
        uint32_t u;
        graft_keymap_get(um, train->v[j].user, &u);
        ucount[u + 1]++;
    }
    for (size_t u = 0; u < b->nu; u++)
        ucount[u + 1] += ucount[u];
    for (size_t j = 0; j < train->n; j++) {
        uint32_t u, g;
        graft_keymap_get(um, train->v[j].user, &u);
        graft_keymap_get(im, train->v[j].item, &g);
        sorted[ucount[u]++] = (graft_entry){u, g, train->v[j].rating};
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t n = pass == 0 ? train->n : test->n;
        for (size_t j = 0; j < n; j++) {
            uint32_t g = pass == 0 ? sorted[j].i : 0;
            size_t *cnt = pass == 0                        ? b->ntrain
                          : test->v[j].domain & HELD_VALID ? b->nvalid
                                                           : b->ntest;
            if (pass == 1)
                graft_keymap_get(im, test->v[j].item, &g);
            cnt[block_of(gkeys[g], B)]++;
        }
        for (int i = 0; i < B; i++) {
            for (int s = 0; s < (pass == 0 ? 1 : 2); s++) {
                graft_entry **dst = pass == 0 ? b->train : s ? b->valid : b->test;
                size_t *cnt = pass == 0 ? b->ntrain : s ? b->nvalid : b->ntest;
                dst[i] = graft_malloc((cnt[i] ? cnt[i] : 1) * sizeof(graft_entry));
                if (!dst[i])
                    goto out;
                cnt[i] = 0;
            }
        }
        for (size_t j = 0; j < n; j++) {
            graft_entry e;
            int valid = pass == 1 && (test->v[j].domain & HELD_VALID);
            if (pass == 0) {
                e = sorted[j];
            } else {
                uint32_t u = (uint32_t)b->nu; /* the zero row, unless the user trained here */
                graft_keymap_get(um, test->v[j].user, &u);
                graft_keymap_get(im, test->v[j].item, &e.i);
                e.u = u;
                e.r = test->v[j].rating;
            }
            graft_entry **dst = pass == 0 ? b->train : valid ? b->valid : b->test;
            size_t *cnt = pass == 0 ? b->ntrain : valid ? b->nvalid : b->ntest;
            uint32_t blk = block_of(gkeys[e.i], B);
            e.i = gloc[e.i];
            dst[blk][cnt[blk]++] = e;
        }
    }
    rc = GRAFT_OK;
out:
    graft_keymap_destroy(&um);
    graft_keymap_destroy(&im);
    graft_free(gkeys);
    graft_free(gtrain);
    graft_free(gloc);
    graft_free(ucount);
    graft_free(sorted);
    return rc;
}

graft_err
graft_blocks_create(const graft_config *cfg, const graft_job *job, graft_client *c,
                    graft_client *pc, uint32_t bound, const graft_blocks_tables *tabs,
                    graft_ratings *train, graft_ratings *test, graft_ratings *valid, int owned,
                    graft_blocks **out)
{
    *out = NULL;
    graft_blocks *b = graft_calloc(1, sizeof *b);
    /* Without memory this worker still joins the collectives below, then all stop. */
    graft_err rc = b ? GRAFT_OK : GRAFT_ERR_NOMEM;
    if (!b)
        goto collect;
    b->cfg = cfg;
    b->job = job;
    b->c = c;
    b->tabs = *tabs;
    b->k = (int)cfg->dim;
    b->B = graft_blocks_count(cfg, job->nworkers);
    /* With B a multiple of W and stride B / W >= 2, the blocks in use at clock t are all
     * congruent to t modulo the stride, so each worker's next block is idle and already final
     * for this clock: it can be pulled while the current one trains, even under BSP. */
    b->stride = b->B % job->nworkers == 0 ? b->B / job->nworkers : 1;
    b->pc = pc;
    b->prefetch = pc && (b->stride >= 2 || bound > 0);
    /* Without its thread the plane still works, pulling each block when it is needed. */
    if (b->prefetch && graft_background_create(&b->bg) != GRAFT_OK)
        b->prefetch = 0;
    b->adagrad = cfg->optimizer == GRAFT_OPTIM_ADAGRAD;
    const char *dbg = getenv("GRAFT_DEBUG_ROUND_DELAY");
    int dw, dms;
    if (dbg && sscanf(dbg, "%d:%d", &dw, &dms) == 2 && dw == job->index)
        b->delay_ms = dms;
    /* The validation ratings travel with the test ones, marked. */
    for (size_t j = 0; valid && j < valid->n && rc == GRAFT_OK; j++) {
        graft_rating x = valid->v[j];
        x.domain |= HELD_VALID;
        rc = graft_ratings_append(test, x);
    }
    if (valid && valid->n)
        owned &= ~2;
collect:
    if (valid)
        graft_ratings_free(valid);
    rc = graft_job_agree_ok(job->role_comm, rc);
    /* Ratings read from a binary file by owner are already where they belong. */
    if (rc == GRAFT_OK && !(owned & 1))
        rc = graft_partition_exchange(job, train, GRAFT_BY_USER);
    if (rc == GRAFT_OK && !(owned & 2))
        rc = graft_partition_exchange(job, test, GRAFT_BY_USER);
    if (rc == GRAFT_OK)
        rc = build(b, train, test);
    graft_ratings_free(train);
    graft_ratings_free(test);
    size_t w = (size_t)GRAFT_BLOCKS_WIDTH(cfg->dim);
    if (rc == GRAFT_OK) {
        b->urows = graft_calloc((b->nu + 1) * w, sizeof(float));
        b->rows = graft_malloc((b->cap + 1) * w * sizeof(float));
        b->old = graft_malloc((b->cap + 1) * w * sizeof(float));
        b->next = graft_malloc((b->cap + 1) * w * sizeof(float));
        if (!b->urows || !b->rows || !b->old || !b->next)
            rc = GRAFT_ERR_NOMEM;
    }
    /* A user's first rows come from the servers, as in the batch plane: the same seed gives the
     * same start whatever the number of workers. */
    if (rc == GRAFT_OK && b->nu)
        rc = graft_client_pull(c, tabs->utab, (uint32_t)w, b->ukeys, b->nu, 1, b->urows);
    /* Every item row this worker will train exists on the servers before the first clock: the
     * creation is setup, not training, and a row's first values depend only on (seed, key), so
     * it does not matter which worker creates it. */
    for (int i = 0; rc == GRAFT_OK && i < b->B; i++)
        if (b->ntk[i])
            rc = graft_client_pull(c, tabs->itab, (uint32_t)w, b->keys[i], b->ntk[i], 1, b->rows);
    if (rc != GRAFT_OK)
        graft_blocks_destroy(&b);
    *out = b;
    return rc;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int
graft_blocks_count(const graft_config *cfg, int nworkers)
{
    return cfg->item_blocks > 0 ? (int)cfg->item_blocks : 2 * nworkers;
}

/* Pulls block th_block's rows into next, on the prefetch client (on the background thread). */
static graft_err
prefetch_task(void *arg)
{
    graft_blocks *b = arg;
    int i = b->th_block;
    return graft_client_pull(b->pc, b->tabs.itab, (uint32_t)GRAFT_BLOCKS_WIDTH(b->k), b->keys[i],
                             b->ntk[i], 1, b->next);
}

static graft_err
prefetch_wait(graft_blocks *b)
{
    if (!b->th_live)
        return GRAFT_OK;
    b->th_live = 0;
    return graft_background_wait(b->bg);
}

static void
swap(float **x, float **y)
{
    float *tmp = *x;
    *x = *y;
    *y = tmp;
}

graft_err
graft_blocks_epoch(graft_blocks *b, graft_clockstate *cs, double *sse, graft_blocks_times *tm)
{
    const graft_config *cfg = b->cfg;
    uint32_t w = (uint32_t)GRAFT_BLOCKS_WIDTH(b->k);
    *sse = 0;
    for (int t = 0; t < b->B; t++) {
        int i = (b->stride * b->job->index + t) % b->B;
        if (b->delay_ms)
            sleep_ms(b->delay_ms);
        graft_err rc = graft_client_tick(b->c, cs);
        size_t n = b->ntk[i];
        if (rc != GRAFT_OK) {
            prefetch_wait(b);
            return rc;
        }
        double t0 = graft_clock_now();
        int have = b->th_live && b->th_block == i;
        if ((rc = prefetch_wait(b)) != GRAFT_OK)
            return rc;
        if (have)
            swap(&b->rows, &b->next);
        int nexti = (b->stride * b->job->index + t + 1) % b->B;
        if (b->prefetch && t + 1 < b->B && b->ntk[nexti]) {
            b->th_block = nexti;
            b->th_live = graft_background_start(b->bg, prefetch_task, b) == GRAFT_OK;
        }
        if (n == 0)
            continue;
        if (!have && (rc = graft_client_pull(b->c, b->tabs.itab, w, b->keys[i], n, 1, b->rows)) !=
                         GRAFT_OK) {
            prefetch_wait(b);
            return rc;
        }
        double t1 = graft_clock_now();
        memcpy(b->old, b->rows, n * w * sizeof(float));
        *sse += graft_model_sgd_block(b->train[i], b->ntrain[i], b->urows, b->rows, b->k, (int)w,
                                      b->tabs.mu, (float)cfg->lr, (float)cfg->reg,
                                      (float)cfg->reg_bias, b->adagrad);
        /* What the block's rows (accumulators included) moved by: the servers add it (Sum
         * tables), so concurrent holders of a block under SSP or ASP lose nothing. */
        for (size_t j = 0; j < n * w; j++)
            b->rows[j] -= b->old[j];
        double t2 = graft_clock_now();
        if ((rc = graft_client_push(b->c, b->tabs.itab, w, b->keys[i], n, b->rows)) != GRAFT_OK) {
            prefetch_wait(b);
            return rc;
        }
        tm->pull_s += t1 - t0;
        tm->compute_s += t2 - t1;
        tm->push_s += graft_clock_now() - t2;
    }
    return GRAFT_OK;
}

graft_err
graft_blocks_evaluate(graft_blocks *b, int set, double *sse, double *sae)
{
    uint32_t w = (uint32_t)GRAFT_BLOCKS_WIDTH(b->k);
    graft_entry **held = set ? b->valid : b->test;
    const size_t *nheld = set ? b->nvalid : b->ntest;
    *sse = *sae = 0;
    for (int i = 0; i < b->B; i++) {
        if (nheld[i] == 0)
            continue;
        /* Rows no one trained read as zeros: such items get mu plus the user's bias. */
        graft_err rc = graft_client_pull(b->c, b->tabs.itab, w, b->keys[i], b->nk[i], 0, b->rows);
        if (rc != GRAFT_OK)
            return rc;
        for (size_t j = 0; j < nheld[i]; j++) {
            const graft_entry *e = &held[i][j];
            float p = graft_model_predict(b->tabs.mu, b->urows + (size_t)e->u * w,
                                          b->rows + (size_t)e->i * w, b->k);
            p = p < b->tabs.rmin ? b->tabs.rmin : p > b->tabs.rmax ? b->tabs.rmax : p;
            double err = (double)p - e->r;
            *sse += err * err;
            *sae += fabs(err);
        }
    }
    return GRAFT_OK;
}

graft_err
graft_blocks_store_users(graft_blocks *b)
{
    graft_err rc = GRAFT_OK;
    if (b->nu)
        rc = graft_client_assign(b->c, b->tabs.utab, (uint32_t)GRAFT_BLOCKS_WIDTH(b->k), b->ukeys,
                                 b->nu, b->urows);
    return rc == GRAFT_OK ? graft_client_sync(b->c) : rc;
}

graft_err
graft_blocks_load_users(graft_blocks *b)
{
    if (!b->nu)
        return GRAFT_OK;
    return graft_client_pull(b->c, b->tabs.utab, (uint32_t)GRAFT_BLOCKS_WIDTH(b->k), b->ukeys,
                             b->nu, 0, b->urows);
}

graft_err
graft_blocks_keys(const graft_blocks *b, int items, uint64_t **keys, size_t *n)
{
    size_t total = 0;
    for (int i = 0; items && i < b->B; i++)
        total += b->ntk[i];
    size_t m = items ? total : b->nu;
    *keys = graft_malloc((m ? m : 1) * sizeof **keys);
    if (!*keys)
        return GRAFT_ERR_NOMEM;
    if (!items) {
        memcpy(*keys, b->ukeys, m * sizeof **keys);
    } else {
        size_t at = 0;
        for (int i = 0; i < b->B; i++) {
            memcpy(*keys + at, b->keys[i], b->ntk[i] * sizeof **keys);
            at += b->ntk[i];
        }
    }
    *n = m;
    return GRAFT_OK;
}
