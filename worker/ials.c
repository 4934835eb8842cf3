/* Implicit alternating least squares (worker/objective.h): Hu, Koren and Volinsky (2008) with
 * the unobserved weight of Rendle et al. (2022). For the positives P (ratings >= --min-rating)
 * of the phase's domains d, each of weight w_d (lambda for the target of joint training):
 *
 *   L = sum_d w_d [ sum_{(u,i) in P_d} c_ui (1 - p_u.q_i)^2 + w0 sum_{u, i in d} (p_u.q_i)^2 ]
 *       + reg (sum_u |p_u - prior_u|^2 + sum_i |q_i|^2),     c_ui = 1 + alpha * value_ui
 *
 * (prior_u is the user's source row in seed transfer, else 0). An epoch is two exact steps:
 * every user row solved with the items fixed, then every item row with the users fixed. Each
 * worker solves the rows it owns (graft_partition_owner): at the start of a phase its positives
 * are exchanged once by user and once by item. The k x k Gramian of the fixed side, the only
 * term that sums over all pairs, is summed from the workers that own its rows (MPI); each row's
 * system is then w0 G + reg I + sum over the row's positives of (c - w0) y y^T, solved by LAPACK
 * (Cholesky) or by a few conjugate-gradient steps from the row's current value (as the implicit
 * library does). The fixed side's rows are pulled from the servers in bulk, and the solved rows
 * assigned back whole. Biases take no part: a user's bias column is 0 and an item's holds a
 * popularity tie-break (POP_EPS times its positives over the most any item has), so that users
 * without a row (none mode's cold users, unknown users at serving time) are ranked by
 * popularity and the scorer needs no case of its own. */
#include "alloc.h"
#include "clock.h"
#include "engine_internal.h"
#include "keymap.h"
#include "log.h"
#include "model.h"
#include "partition.h"
#include "positives.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Small enough to leave every trained user's order alone, large enough to order items for a
 * user without a row. */
#define POP_EPS 1e-4f

enum { USERS = 0, ITEMS = 1 };
#define NO_TABLE UINT32_MAX

/* One side's share of this worker: the rows it solves (groups of positives sorted by slot and
 * key) and the other side's rows those positives touch. A slot is a row table: the domain for
 * items; for users the domain too, but one slot when joint training shares the user table. */
typedef struct {
    graft_ratings r; /* positives sorted by (slot, key, other key) */
    uint32_t *oidx;  /* per positive: its other-side row within orows[its other slot] */
    size_t ng;       /* groups: rows this worker solves */
    uint64_t *gkey;  /* ng */
    uint8_t *gslot;  /* ng */
    size_t *gstart;  /* ng + 1: the positives of group g are r.v[gstart[g] .. gstart[g+1]) */
    float *rows;     /* ng x (k + 1): the solved rows, bias column last */
    float *prior;    /* users with a prior (seed): ng x (k + 1), else NULL */
    uint64_t *okeys[2];
    size_t non[2];
    float *orows[2]; /* non[t] x (k + 1): the other side's rows, pulled each step */
} side;

typedef struct {
    side s[2];
    int k, active[2], shared_users;
    float *gram[2]; /* per slot of the fixed side: its Gramian, summed over the workers */
    float *gs[2];   /* per slot of the solved side: w0 sum_d w_d G_d + reg I */
    float *y, *ay, *am, *tmp;
    size_t ycap;
    float pop_max;
} ials_state;

static int
user_slot(const ials_state *st, uint32_t domain)
{
    return st->shared_users ? 0 : (int)(domain & 1);
}

static int
slot_of(const ials_state *st, int which, const graft_rating *x)
{
    return which == USERS ? user_slot(st, x->domain) : (int)(x->domain & 1);
}

static uint64_t
key_of(int which, const graft_rating *x)
{
    return which == USERS ? x->user : x->item;
}

static uint32_t
table_of(const graft_engine *e, int which, int slot)
{
    return which == USERS ? e->dom[slot].utab : e->dom[slot].itab;
}

/* qsort takes no context: the sort's side and sharing, for cmp_rating (one engine per process,
 * used from its main thread). */
static int sort_which, sort_shared;

static int
cmp_rating(const void *a, const void *b)
{
    const graft_rating *x = a, *y = b;
    int sx = sort_which == USERS && sort_shared ? 0 : (int)(x->domain & 1);
    int sy = sort_which == USERS && sort_shared ? 0 : (int)(y->domain & 1);
    if (sx != sy)
        return sx < sy ? -1 : 1;
    uint64_t kx = key_of(sort_which, x), ky = key_of(sort_which, y);
    if (kx != ky)
        return kx < ky ? -1 : 1;
    uint64_t ox = key_of(1 - sort_which, x), oy = key_of(1 - sort_which, y);
    return ox < oy ? -1 : ox > oy;
}

static void
side_free(side *s)
{
    graft_ratings_free(&s->r);
    graft_free(s->oidx);
    graft_free(s->gkey);
    graft_free(s->gslot);
    graft_free(s->gstart);
    graft_free(s->rows);
    graft_free(s->prior);
    for (int t = 0; t < 2; t++) {
        graft_free(s->okeys[t]);
        graft_free(s->orows[t]);
    }
    memset(s, 0, sizeof *s);
}

static void
state_free(ials_state *st)
{
    if (!st)
        return;
    for (int t = 0; t < 2; t++) {
        side_free(&st->s[t]);
        graft_free(st->gram[t]);
        graft_free(st->gs[t]);
    }
    graft_free(st->y);
    graft_free(st->ay);
    graft_free(st->am);
    graft_free(st->tmp);
    graft_free(st);
}

/* Sorts side `which`'s positives into groups, and numbers the other side's distinct keys per
 * slot (oidx, okeys). */
static graft_err
side_index(ials_state *st, int which, size_t kw)
{
    side *s = &st->s[which];
    size_t n = s->r.n;
    sort_which = which;
    sort_shared = st->shared_users;
    qsort(s->r.v, n, sizeof *s->r.v, cmp_rating);
    s->gkey = graft_malloc((n + 1) * sizeof *s->gkey);
    s->gslot = graft_malloc((n + 1) * sizeof *s->gslot);
    s->gstart = graft_malloc((n + 2) * sizeof *s->gstart);
    s->oidx = graft_malloc((n + 1) * sizeof *s->oidx);
    graft_keymap *map[2] = {NULL, NULL};
    graft_err rc = GRAFT_OK;
    if (!s->gkey || !s->gslot || !s->gstart || !s->oidx) {
        rc = GRAFT_ERR_NOMEM; /* the side's arrays are the state's to free */
        goto out;
    }
    for (size_t j = 0; j < n; j++) {
        int t = slot_of(st, which, &s->r.v[j]);
        uint64_t key = key_of(which, &s->r.v[j]);
        if (s->ng == 0 || s->gkey[s->ng - 1] != key || s->gslot[s->ng - 1] != t) {
            s->gkey[s->ng] = key;
            s->gslot[s->ng] = (uint8_t)t;
            s->gstart[s->ng++] = j;
        }
    }
    s->gstart[s->ng] = n;
    s->rows = graft_calloc((s->ng ? s->ng : 1) * kw, sizeof(float));
    rc = s->rows ? GRAFT_OK : GRAFT_ERR_NOMEM;
    size_t cap[2] = {0, 0};
    for (int t = 0; t < 2 && rc == GRAFT_OK; t++)
        rc = graft_keymap_create(1024, &map[t]);
    for (size_t j = 0; j < n && rc == GRAFT_OK; j++) {
        int t = slot_of(st, 1 - which, &s->r.v[j]);
        uint64_t key = key_of(1 - which, &s->r.v[j]);
        int inserted;
        rc = graft_keymap_upsert(map[t], key, (uint32_t)s->non[t], &s->oidx[j], &inserted);
        if (rc != GRAFT_OK || !inserted)
            continue;
        if (s->non[t] == cap[t]) {
            size_t nc = cap[t] ? cap[t] * 2 : 1024;
            uint64_t *nk = graft_realloc_array(s->okeys[t], nc, sizeof *nk);
            if (!nk) {
                rc = GRAFT_ERR_NOMEM;
                continue;
            }
            s->okeys[t] = nk;
            cap[t] = nc;
        }
        s->okeys[t][s->non[t]++] = key;
    }
    for (int t = 0; t < 2 && rc == GRAFT_OK; t++) {
        s->orows[t] = graft_malloc((s->non[t] ? s->non[t] : 1) * kw * sizeof(float));
        if (!s->orows[t])
            rc = GRAFT_ERR_NOMEM;
    }
out:
    for (int t = 0; t < 2; t++)
        graft_keymap_destroy(&map[t]);
    return rc;
}

/* Pulls the rows of a side's groups from `tables` (one per slot; NO_TABLE: none), slot by slot:
 * a slot's groups are contiguous. create: missing rows are made (random), else they read as zeros.
 */
static graft_err
pull_groups(graft_client *c, const side *s, const uint32_t tables[2], size_t kw, int create,
            float *rows)
{
    graft_err rc = GRAFT_OK;
    for (size_t g = 0; g < s->ng && rc == GRAFT_OK;) {
        size_t h = g;
        while (h < s->ng && s->gslot[h] == s->gslot[g])
            h++;
        if (tables[s->gslot[g]] != NO_TABLE)
            rc = graft_client_pull(c, tables[s->gslot[g]], (uint32_t)kw, s->gkey + g, h - g, create,
                                   rows + g * kw);
        g = h;
    }
    return rc;
}

/* Assigns the solved rows of a side's groups to their tables. */
static graft_err
assign_groups(graft_client *c, const side *s, const uint32_t tables[2], size_t kw)
{
    graft_err rc = GRAFT_OK;
    for (size_t g = 0; g < s->ng && rc == GRAFT_OK;) {
        size_t h = g;
        while (h < s->ng && s->gslot[h] == s->gslot[g])
            h++;
        rc = graft_client_assign(c, tables[s->gslot[g]], (uint32_t)kw, s->gkey + g, h - g,
                                 s->rows + g * kw);
        g = h;
    }
    return rc;
}

static graft_err
ials_begin(graft_engine *e, graft_client *c, graft_ratings *stream)
{
    const graft_config *cfg = e->cfg;
    const graft_job *job = e->job;
    size_t k = (size_t)e->k, kw = k + 1;
    /* A worker is one rank per core, and each row's system is small: OpenBLAS's own threads
     * would only fight the other ranks for the cores (2.0x slower on 2 cores with 2 workers). */
    openblas_set_num_threads(1);
    ials_state *st = graft_calloc(1, sizeof *st);
    graft_err rc = st ? GRAFT_OK : GRAFT_ERR_NOMEM;
    if (st) {
        st->k = e->k;
        st->shared_users = e->dom[0].utab == e->dom[1].utab;
        for (int t = 0; t < 2 && rc == GRAFT_OK; t++) {
            st->gram[t] = graft_malloc(k * k * sizeof(float));
            st->gs[t] = graft_malloc(k * k * sizeof(float));
            rc = st->gram[t] && st->gs[t] ? GRAFT_OK : GRAFT_ERR_NOMEM;
        }
        st->tmp = graft_malloc(4 * kw * sizeof(float));
        if (!st->tmp)
            rc = GRAFT_ERR_NOMEM;
    }
    for (int d = 0; d < 2 && rc == GRAFT_OK; d++)
        if (e->dom[d].uwidth != kw)
            rc = GRAFT_ERR_INVALID;
    /* Every worker selects (a collective), also after a local failure. */
    graft_ratings pos = {0};
    int active[2] = {0, 0};
    graft_err prc = graft_positives_select(cfg, job, "iALS", stream, &pos, active);
    if (rc == GRAFT_OK)
        rc = prc;
    /* Both sides start from the same positives, then each is exchanged its own way. */
    for (int d = 0; d < 2 && rc == GRAFT_OK; d++)
        st->active[d] = active[d];
    for (int w = 0; w < 2 && rc == GRAFT_OK; w++)
        for (size_t j = 0; rc == GRAFT_OK && j < pos.n; j++)
            rc = graft_ratings_append(&st->s[w].r, pos.v[j]);
    graft_ratings_free(&pos);
    rc = graft_job_agree_ok(job->role_comm, rc);
    for (int w = 0; w < 2 && rc == GRAFT_OK; w++)
        rc = graft_partition_exchange(job, &st->s[w].r, w == USERS ? GRAFT_BY_USER : GRAFT_BY_ITEM);
    for (int w = 0; w < 2 && rc == GRAFT_OK; w++)
        rc = side_index(st, w, kw);
    rc = graft_job_agree_ok(job->role_comm, rc);
    uint32_t utabs[2] = {e->dom[0].utab, e->dom[1].utab},
             itabs[2] = {e->dom[0].itab, e->dom[1].itab};
    /* The rows this worker solves start as the servers hold them (random, seeded, resumed). */
    if (rc == GRAFT_OK)
        rc = pull_groups(c, &st->s[USERS], utabs, kw, 1, st->s[USERS].rows);
    if (rc == GRAFT_OK)
        rc = pull_groups(c, &st->s[ITEMS], itabs, kw, 1, st->s[ITEMS].rows);
    /* seed: warm users are regularised toward their source rows. */
    side *us = &st->s[USERS];
    if (rc == GRAFT_OK && (e->dom[0].has_prior || e->dom[1].has_prior)) {
        uint32_t ptabs[2] = {e->dom[0].has_prior ? e->dom[0].prior_utab : NO_TABLE,
                             e->dom[1].has_prior ? e->dom[1].prior_utab : NO_TABLE};
        us->prior = graft_calloc((us->ng ? us->ng : 1) * kw, sizeof(float));
        rc = us->prior ? pull_groups(c, us, ptabs, kw, 0, us->prior) : GRAFT_ERR_NOMEM;
    }
    float most = 0;
    for (size_t g = 0; st && g < st->s[ITEMS].ng; g++)
        most = fmaxf(most, (float)(st->s[ITEMS].gstart[g + 1] - st->s[ITEMS].gstart[g]));
    graft_job_allreduce(job->role_comm, &most, st ? &st->pop_max : &most, 1, GRAFT_JOB_F32,
                        GRAFT_JOB_MAX);
    rc = graft_job_agree_ok(job->role_comm, rc);
    if (rc != GRAFT_OK) {
        if (rc == GRAFT_ERR_INVALID && e->lead)
            GRAFT_LOG_ERROR("GRAFT-IALS", "iALS needs user rows of width dim + 1");
        state_free(st);
        st = NULL;
    }
    e->obj_state = st;
    return rc;
}

static void
ials_end(graft_engine *e)
{
    state_free(e->obj_state);
    e->obj_state = NULL;
}

/* out = A v, A = gs + Y^T diag(a) Y, Y n x k, gs full (both triangles): the loop that bounds
 * an iALS epoch. gs v as k scaled adds of its rows (a cblas_ssymv call per product cost more
 * than the product at k = 64); then one pass over Y, four rows at a time so that their four dot
 * products run side by side instead of one reduction chain each. Built for AVX2 too
 * (docs/performance.md). */
GRAFT_CLONES static void
apply_a(const float *gs, const float *y, const float *a, size_t n, int k, const float *v,
        float *out)
{
    for (int f = 0; f < k; f++)
        out[f] = 0;
    for (int g = 0; g < k; g++) {
        const float *row = gs + (size_t)g * k;
        float s = v[g];
#pragma omp simd
        for (int f = 0; f < k; f++)
            out[f] += s * row[f];
    }
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *y0 = y + j * (size_t)k, *y1 = y0 + k, *y2 = y1 + k, *y3 = y2 + k;
        float d0 = 0, d1 = 0, d2 = 0, d3 = 0;
#pragma omp simd reduction(+ : d0, d1, d2, d3)
        for (int f = 0; f < k; f++) {
            d0 += y0[f] * v[f];
            d1 += y1[f] * v[f];
            d2 += y2[f] * v[f];
            d3 += y3[f] * v[f];
        }
        d0 *= a[j];
        d1 *= a[j + 1];
        d2 *= a[j + 2];
        d3 *= a[j + 3];
#pragma omp simd
        for (int f = 0; f < k; f++)
            out[f] += d0 * y0[f] + d1 * y1[f] + d2 * y2[f] + d3 * y3[f];
    }
    for (; j < n; j++) {
        const float *yj = y + j * (size_t)k;
        float dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int f = 0; f < k; f++)
            dot += yj[f] * v[f];
        dot *= a[j];
#pragma omp simd
        for (int f = 0; f < k; f++)
            out[f] += dot * yj[f];
    }
}

/* Solves (gs + Y^T diag(a) Y) x = b for one row; x holds its current value. Cholesky is exact;
 * CG takes --cg-steps steps from x (each costs O(k^2 + n k)). Returns 0 when Cholesky finds the
 * system not positive definite (x is then left as it was). */
static int
solve_row(ials_state *st, const graft_config *cfg, const float *gs, size_t n, float *b, float *x)
{
    int k = st->k;
    const float *y = st->y, *a = st->am;
    if (cfg->solver == GRAFT_SOLVER_CHOLESKY) {
        float *m = st->ay + st->ycap * (size_t)k; /* k x k after the n x k scaled rows */
        memcpy(m, gs, (size_t)k * k * sizeof *m);
        float *ay = st->ay;
        /* sum_j a_j y_j y_j^T: with every a_j >= 0 (c >= w0, the usual case) a rank-n update of
         * the upper triangle alone, by the rows scaled by sqrt(a_j) (half sgemm's flops; sposv
         * reads only that triangle); else the full product. */
        int nonneg = 1;
        for (size_t j = 0; j < n && nonneg; j++)
            nonneg = a[j] >= 0;
        for (size_t j = 0; j < n; j++) {
            float s = nonneg ? sqrtf(a[j]) : a[j];
            for (int f = 0; f < k; f++)
                ay[j * (size_t)k + f] = s * y[j * (size_t)k + f];
        }
        if (n && nonneg)
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, k, (int)n, 1.0f, ay, k, 1.0f, m, k);
        else if (n)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, k, (int)n, 1.0f, ay, k, y, k,
                        1.0f, m, k);
        if (LAPACKE_sposv(LAPACK_ROW_MAJOR, 'U', k, 1, m, k, b, 1) != 0)
            return 0;
        memcpy(x, b, (size_t)k * sizeof *x);
        return 1;
    }
    float *r = st->tmp, *p = r + k, *ap = p + k;
    apply_a(gs, y, a, n, k, x, ap);
    double rs = 0;
    for (int f = 0; f < k; f++) {
        r[f] = b[f] - ap[f];
        p[f] = r[f];
        rs += (double)r[f] * r[f];
    }
    for (int it = 0; it < cfg->cg_steps && rs > 1e-20; it++) {
        apply_a(gs, y, a, n, k, p, ap);
        double pap = 0;
        for (int f = 0; f < k; f++)
            pap += (double)p[f] * ap[f];
        if (pap <= 0)
            break;
        float alpha = (float)(rs / pap);
        double rs2 = 0;
        for (int f = 0; f < k; f++) {
            x[f] += alpha * p[f];
            r[f] -= alpha * ap[f];
            rs2 += (double)r[f] * r[f];
        }
        float beta = (float)(rs2 / rs);
        for (int f = 0; f < k; f++)
            p[f] = r[f] + beta * p[f];
        rs = rs2;
    }
    return 1;
}

/* Room for a row's n gathered rows (and, for Cholesky, its k x k matrix). */
static graft_err
reserve(ials_state *st, size_t n)
{
    if (n <= st->ycap && st->y)
        return GRAFT_OK;
    size_t cap = n > 2 * st->ycap ? n : 2 * st->ycap, k = (size_t)st->k;
    graft_free(st->y);
    graft_free(st->ay);
    graft_free(st->am);
    st->y = graft_malloc(cap * k * sizeof(float));
    st->ay = graft_malloc((cap * k + k * k) * sizeof(float));
    st->am = graft_malloc(cap * sizeof(float));
    st->ycap = cap;
    return st->y && st->ay && st->am ? GRAFT_OK : GRAFT_ERR_NOMEM;
}

/* One exact step: the rows of side `which` solved with the other side fixed, and assigned to
 * the servers. *sse (items step) gets the weighted squared errors on the positives. */
static graft_err
step(graft_engine *e, graft_client *c, ials_state *st, int which, double *sse,
     graft_blocks_times *tm)
{
    const graft_config *cfg = e->cfg;
    int k = st->k, other = 1 - which;
    size_t kw = (size_t)k + 1;
    side *s = &st->s[which], *o = &st->s[other];
    float w0 = (float)cfg->unobserved_weight, reg = (float)cfg->reg, alpha = (float)cfg->confidence;
    /* The fixed side's Gramian per slot, from the rows each worker owns, summed. */
    for (int t = 0; t < 2; t++) {
        float *part = st->gs[t]; /* free until the Gramians are summed */
        memset(part, 0, (size_t)k * k * sizeof(float));
        size_t g = 0;
        while (g < o->ng && o->gslot[g] != t)
            g++;
        size_t h = g;
        while (h < o->ng && o->gslot[h] == t)
            h++;
        if (h > g)
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, k, (int)(h - g), 1.0f,
                        o->rows + g * kw, (int)kw, 0.0f, part, k);
        graft_job_allreduce(e->job->role_comm, part, st->gram[t], k * k, GRAFT_JOB_F32,
                            GRAFT_JOB_SUM);
    }
    /* Per slot of the solved side: w0 times the weighted Gramians of the domains it meets. */
    for (int t = 0; t < 2; t++) {
        float *gs = st->gs[t];
        memset(gs, 0, (size_t)k * k * sizeof *gs);
        for (int d = 0; d < 2; d++) {
            int sd = which == USERS ? user_slot(st, (uint32_t)d) : d;
            int od = which == USERS ? d : user_slot(st, (uint32_t)d);
            if (!st->active[d] || sd != t)
                continue;
            float f = w0 * e->dom[d].weight;
            for (int q = 0; q < k * k; q++)
                gs[q] += f * st->gram[od][q];
        }
        for (int q = 0; q < k; q++)
            gs[q * k + q] += reg;
        /* ssyrk filled the upper triangle; apply_a reads whole rows. */
        for (int q = 0; q < k; q++)
            for (int f = 0; f < q; f++)
                gs[q * k + f] = gs[f * k + q];
    }
    uint32_t otabs[2], stabs[2];
    for (int t = 0; t < 2; t++) {
        otabs[t] = table_of(e, other, t);
        stabs[t] = table_of(e, which, t);
    }
    graft_err rc = GRAFT_OK;
    double t0 = graft_clock_now();
    for (int t = 0; t < 2 && rc == GRAFT_OK; t++)
        if (s->non[t])
            rc = graft_client_pull(c, otabs[t], (uint32_t)kw, s->okeys[t], s->non[t], 1,
                                   s->orows[t]);
    double t1 = graft_clock_now();
    tm->pull_s += t1 - t0;
    size_t unsolved = 0;
    double err = 0;
    for (size_t g = 0; g < s->ng && rc == GRAFT_OK; g++) {
        size_t a0 = s->gstart[g], n = s->gstart[g + 1] - a0;
        if ((rc = reserve(st, n)) != GRAFT_OK)
            break;
        float *b = st->tmp + 3 * kw, *x = s->rows + g * kw;
        memset(b, 0, (size_t)k * sizeof *b);
        for (size_t j = 0; j < n; j++) {
            const graft_rating *r = &s->r.v[a0 + j];
            int ot = slot_of(st, other, r);
            const float *row = s->orows[ot] + (size_t)s->oidx[a0 + j] * kw;
            float w = e->dom[r->domain & 1].weight, conf = 1 + alpha * r->rating;
            memcpy(st->y + j * (size_t)k, row, (size_t)k * sizeof(float));
            st->am[j] = w * (conf - w0);
            float wc = w * conf;
#pragma omp simd
            for (int f = 0; f < k; f++)
                b[f] += wc * row[f];
        }
        if (s->prior && e->dom[s->gslot[g]].has_prior)
            for (int f = 0; f < k; f++)
                b[f] += reg * s->prior[g * kw + (size_t)f];
        unsolved += !solve_row(st, cfg, st->gs[s->gslot[g]], n, b, x);
        x[k] = which == USERS ? 0 : POP_EPS * (float)n / (st->pop_max > 0 ? st->pop_max : 1);
        for (size_t j = 0; sse && j < n; j++) {
            const graft_rating *r = &s->r.v[a0 + j];
            const float *yj = st->y + j * (size_t)k;
            float p = 0, conf = 1 + alpha * r->rating;
#pragma omp simd reduction(+ : p)
            for (int f = 0; f < k; f++)
                p += x[f] * yj[f];
            err += (double)e->dom[r->domain & 1].weight * conf * (1 - p) * (1 - p);
        }
    }
    if (sse)
        *sse = err;
    if (unsolved && e->lead)
        GRAFT_LOG_WARN("GRAFT-IALS-SOLVE",
                       "%zu %s rows were not positive definite and stayed as "
                       "they were (raise --reg)",
                       unsolved, which == USERS ? "user" : "item");
    double t2 = graft_clock_now();
    tm->compute_s += t2 - t1;
    if (rc == GRAFT_OK)
        rc = assign_groups(c, s, stabs, kw);
    tm->push_s += graft_clock_now() - t2;
    /* Every worker's rows are on the servers before anyone pulls them for the next step. */
    rc = graft_job_agree_ok(e->job->role_comm, rc);
    if (rc == GRAFT_OK)
        rc = graft_engine_barrier(e, c);
    return rc;
}

static graft_err
ials_epoch(graft_engine *e, graft_client *c, graft_ratings *stream, const graft_epoch_args *a,
           double *sse, graft_blocks_times *tm)
{
    (void)stream;
    (void)a;
    ials_state *st = e->obj_state;
    graft_err rc = step(e, c, st, USERS, NULL, tm);
    if (rc == GRAFT_OK)
        rc = step(e, c, st, ITEMS, sse, tm);
    return rc;
}

const graft_objective_ops graft_ials_ops = {
    .name = "ials",
    .begin = ials_begin,
    .epoch = ials_epoch,
    .end = ials_end,
    .times = 1,
    .ranking = 1,
};
