/* Bayesian personalised ranking (worker/objective.h): Rendle et al. (2009), by mini-batch SGD in
 * the batch plane. For each positive (u, i) of domain d (a rating >= --min-rating) and each of
 * --negatives items j drawn from d's items that u has no positive for,
 *
 *   l = w_d [ -ln sigma(x_uij) + reg/2 (|p_u - prior_u|^2 + |q_i|^2 + |q_j|^2)
 *             + reg_bias/2 (b_i^2 + b_j^2) ],     x_uij = p_u.(q_i - q_j) + b_i - b_j
 *
 * (w_d: lambda for the target of joint training, else 1; prior_u: the user's source row in seed
 * transfer, else 0). The gradients of a batch are summed per row and pushed, and the servers
 * apply --optimizer, as for squared error. A user's bias cancels in x and stays 0; an item's
 * learns how often it wins, so users without a row are ranked by it, like popularity.
 *
 * At the start of a phase the positives are exchanged by user, so each worker holds all of its
 * users' positives (sorted) and can check a drawn negative against them; negatives are drawn
 * uniformly from the items with a positive in the domain, or in proportion to their positives
 * (--negative-sampling popularity), from a table every worker builds alike from the summed
 * counts. */
#include "alloc.h"
#include "clock.h"
#include "engine_internal.h"
#include "log.h"
#include "model.h"
#include "partition.h"
#include "positives.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Draws of a negative before one the user has a positive for is taken anyway (a user with
 * positives for nearly every item). */
#define DRAWS 16

typedef struct {
    graft_ratings pos; /* this worker's users' positives, sorted by (domain, user, item) */
    size_t *gstart;    /* ng + 1: the positives of group g (a (domain, user)) */
    uint32_t *grp;     /* per positive: its group */
    size_t ng;
    uint32_t *order; /* the positives' visiting order, shuffled each epoch */
    uint64_t *items[2];
    uint64_t *cum[2]; /* popularity: running sums of the items' positives */
    size_t nitems[2];
    graft_rating *ent; /* a batch: each positive followed by its negatives */
    size_t per_batch;  /* positives per batch */
} bpr_state;

static int
cmp_pos(const void *a, const void *b)
{
    const graft_rating *x = a, *y = b;
    if (x->domain != y->domain)
        return x->domain < y->domain ? -1 : 1;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

static void
state_free(bpr_state *st)
{
    if (!st)
        return;
    graft_ratings_free(&st->pos);
    graft_free(st->gstart);
    graft_free(st->grp);
    graft_free(st->order);
    for (int d = 0; d < 2; d++) {
        graft_free(st->items[d]);
        graft_free(st->cum[d]);
    }
    graft_free(st->ent);
    graft_free(st);
}

/* Each domain's sampling table, alike on all workers: its items with a positive and the running
 * sums of their counts. The positives are already those at least --min-rating. */
static graft_err
build_tables(const graft_job *job, bpr_state *st)
{
    graft_err rc = GRAFT_OK;
    for (int d = 0; d < 2 && rc == GRAFT_OK; d++) {
        rc = graft_positives_items(job, &st->pos, (uint32_t)d, -INFINITY, &st->items[d],
                                   &st->cum[d], &st->nitems[d]);
        for (size_t j = 1; rc == GRAFT_OK && j < st->nitems[d]; j++)
            st->cum[d][j] += st->cum[d][j - 1];
    }
    return rc;
}

/* Groups of the sorted positives, by (domain, user). */
static graft_err
index_groups(bpr_state *st)
{
    size_t n = st->pos.n;
    st->grp = graft_malloc((n ? n : 1) * sizeof *st->grp);
    st->gstart = graft_malloc((n + 1) * sizeof *st->gstart);
    st->order = graft_malloc((n ? n : 1) * sizeof *st->order);
    if (!st->grp || !st->gstart || !st->order)
        return GRAFT_ERR_NOMEM;
    if (n > UINT32_MAX)
        return GRAFT_ERR_NOMEM; /* visiting order is 32-bit: use more workers */
    for (size_t j = 0; j < n; j++) {
        const graft_rating *x = &st->pos.v[j], *p = j ? &st->pos.v[j - 1] : NULL;
        if (!p || p->domain != x->domain || p->user != x->user)
            st->gstart[st->ng++] = j;
        st->grp[j] = (uint32_t)(st->ng - 1);
        st->order[j] = (uint32_t)j;
    }
    st->gstart[st->ng] = n;
    return GRAFT_OK;
}

static int
has_positive(const bpr_state *st, uint32_t g, uint64_t item)
{
    size_t lo = st->gstart[g], hi = st->gstart[g + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t v = st->pos.v[mid].item;
        if (v == item)
            return 1;
        if (v < item)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static uint64_t
draw(const bpr_state *st, int d, int popularity, graft_rng *rng)
{
    size_t n = st->nitems[d];
    if (!popularity)
        return st->items[d][graft_rng_below(rng, n)];
    const uint64_t *cum = st->cum[d];
    uint64_t t = graft_rng_below(rng, cum[n - 1]);
    size_t lo = 0, hi = n - 1; /* the first item whose running sum exceeds t */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > t)
            hi = mid;
        else
            lo = mid + 1;
    }
    return st->items[d][lo];
}

static graft_err
bpr_begin(graft_engine *e, graft_client *c, graft_ratings *stream)
{
    (void)c;
    const graft_config *cfg = e->cfg;
    const graft_job *job = e->job;
    bpr_state *st = graft_calloc(1, sizeof *st);
    int active[2];
    /* Every worker selects and exchanges (collectives), also after a local failure. */
    graft_ratings pos = {0};
    graft_err rc = graft_positives_select(cfg, job, "BPR", stream, &pos, active);
    if (st)
        st->pos = pos;
    else
        graft_ratings_free(&pos);
    if (rc == GRAFT_OK && !st)
        rc = GRAFT_ERR_NOMEM;
    rc = graft_job_agree_ok(job->role_comm, rc);
    if (rc == GRAFT_OK)
        rc = graft_partition_exchange(job, &st->pos, GRAFT_BY_USER);
    if (rc == GRAFT_OK) {
        if (st->pos.n) /* qsort of a NULL array, even of 0 items, is undefined */
            qsort(st->pos.v, st->pos.n, sizeof *st->pos.v, cmp_pos);
        rc = graft_job_agree_ok(job->role_comm, index_groups(st));
    }
    if (rc == GRAFT_OK)
        rc = build_tables(job, st);
    if (rc == GRAFT_OK) {
        size_t per = (size_t)cfg->batch / (1 + (size_t)cfg->negatives);
        st->per_batch = per ? per : 1;
        st->ent = graft_malloc(st->per_batch * (1 + (size_t)cfg->negatives) * sizeof *st->ent);
        rc = graft_job_agree_ok(job->role_comm, st->ent ? GRAFT_OK : GRAFT_ERR_NOMEM);
    }
    if (rc == GRAFT_OK) {
        /* The engine counted ticks for batches of --batch ratings; a batch here holds fewer
         * positives, so count again. */
        uint64_t mine = (st->pos.n + st->per_batch - 1) / st->per_batch, most;
        graft_job_allreduce(job->role_comm, &mine, &most, 1, GRAFT_JOB_U64, GRAFT_JOB_MAX);
        e->clocks_per_epoch = (most + GRAFT_ENGINE_CLOCK_BATCHES - 1) / GRAFT_ENGINE_CLOCK_BATCHES;
    }
    if (rc != GRAFT_OK) {
        if (rc == GRAFT_ERR_NOMEM && e->lead)
            GRAFT_LOG_ERROR("GRAFT-BPR", "out of memory for BPR's positives (or over 2^32 of "
                                         "them for one worker: use more workers)");
        state_free(st);
        st = NULL;
    }
    e->obj_state = st;
    return rc;
}

static void
bpr_end(graft_engine *e)
{
    state_free(e->obj_state);
    e->obj_state = NULL;
}

/* The gradients of one batch's triples; ent holds each positive and then its negatives, and
 * prior (or NULL) the users' prior rows, at the user slot's indices. */
static double
batch_gradients(graft_engine *e, const graft_bank *b, size_t np, int negs, const float *prior)
{
    const graft_config *cfg = e->cfg;
    const bpr_state *st = e->obj_state;
    int k = e->k;
    float reg = (float)cfg->reg, regb = (float)cfg->reg_bias;
    double loss = 0;
    for (size_t p = 0; p < np; p++) {
        size_t at = p * (size_t)(1 + negs);
        const graft_domain *d = &e->dom[st->ent[at].domain];
        graft_keyset *ku = &b->ks[d->uslot], *ki = &b->ks[d->islot];
        const float *pu = ku->rows + (size_t)b->uidx[at] * ku->width;
        float *gu = ku->grads + (size_t)b->uidx[at] * ku->width;
        const float *pr = prior && d->has_prior ? prior + (size_t)b->uidx[at] * ku->width : NULL;
        const float *qi = ki->rows + (size_t)b->iidx[at] * ki->width;
        float *gi = ki->grads + (size_t)b->iidx[at] * ki->width;
        for (int t = 1; t <= negs; t++) {
            const float *qj = ki->rows + (size_t)b->iidx[at + t] * ki->width;
            float *gj = ki->grads + (size_t)b->iidx[at + t] * ki->width;
            loss += d->weight *
                    graft_model_bpr_grad(pu, pr, qi, qj, k, reg, regb, d->weight, gu, gi, gj);
        }
    }
    return loss;
}

static graft_err
bpr_epoch(graft_engine *e, graft_client *c, graft_ratings *stream, const graft_epoch_args *a,
          double *sse, graft_blocks_times *tm)
{
    (void)stream;
    (void)tm;
    double t0 = graft_clock_now();
    const graft_config *cfg = e->cfg;
    bpr_state *st = e->obj_state;
    int negs = (int)cfg->negatives, popular = cfg->negative_sampling == GRAFT_NEG_POPULARITY;
    graft_rng rng;
    graft_rng_seed(&rng, a->seed);
    graft_rng_shuffle(&rng, st->order, st->pos.n, sizeof *st->order);
    int us[2] = {e->dom[0].uslot, e->dom[1].uslot}, is[2] = {e->dom[0].islot, e->dom[1].islot};
    graft_bank bank = {e->ks, e->uidx, e->iidx};
    /* seed: the users' source rows, read into the evaluation slot's buffer (unused while
     * training). */
    const graft_domain *tdom = &e->dom[GRAFT_DOM_TARGET];
    float *prior = tdom->has_prior ? e->ks[GRAFT_SLOT_EVAL_USERS].rows : NULL;
    double loss = 0;
    uint64_t triples = 0;
    graft_err rc = GRAFT_OK;
    uint64_t ticked = 0, C = e->clocks_per_epoch;
    size_t n = st->pos.n;
    for (size_t b = 0; b < n || ticked < C; b += st->per_batch) {
        while (rc == GRAFT_OK && ticked < C && (b >= n || (double)b >= (double)ticked / C * n)) {
            rc = graft_client_tick(c, &e->cs);
            ticked++;
        }
        if (rc != GRAFT_OK || b >= n)
            break;
        size_t np = n - b < st->per_batch ? n - b : st->per_batch, m = 0;
        for (size_t p = 0; p < np; p++) {
            uint32_t at = st->order[b + p];
            const graft_rating *x = &st->pos.v[at];
            int d = (int)(x->domain & 1);
            st->ent[m++] = *x;
            for (int t = 0; t < negs; t++) {
                uint64_t j = draw(st, d, popular, &rng);
                for (int tries = 1; tries < DRAWS && has_positive(st, st->grp[at], j); tries++)
                    j = draw(st, d, popular, &rng);
                st->ent[m++] = (graft_rating){x->user, j, 0, x->domain};
            }
        }
        if ((rc = graft_engine_gather(c, bank, st->ent, m, 1, us, is)) != GRAFT_OK)
            break;
        if (prior) {
            graft_keyset *ku = &e->ks[tdom->uslot];
            graft_client_rows q = {tdom->prior_utab, ku->width, ku->keys, ku->n, prior};
            if ((rc = graft_client_pull_many(c, &q, 1, 0)) != GRAFT_OK)
                break;
        }
        for (int s = 0; s < GRAFT_ENGINE_SLOTS; s++)
            if (e->ks[s].active)
                memset(e->ks[s].grads, 0, (size_t)e->ks[s].n * e->ks[s].width * sizeof(float));
        loss += batch_gradients(e, &bank, np, negs, prior);
        triples += (uint64_t)np * (uint64_t)negs;
        if ((rc = graft_engine_scatter(c, bank)) != GRAFT_OK)
            break;
        graft_engine_progress(e, a->phase, a->epoch, b + np, n, t0);
    }
    e->epoch_loss += loss;
    e->epoch_loss_n += triples;
    *sse = NAN; /* no squared error to speak of: train_loss says how training went */
    return rc;
}

const graft_objective_ops graft_bpr_ops = {
    .name = "bpr",
    .begin = bpr_begin,
    .epoch = bpr_epoch,
    .end = bpr_end,
    .ranking = 1,
};
