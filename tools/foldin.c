#include "foldin.h"
#include "alloc.h"
#include "hash.h"
#include "keymap.h"
#include "manifest.h"
#include "reader.h"
#include "store.h"

#include <cblas.h>
#include <lapacke.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Which domains' items a user's row is solved against: training's user step met both domains in
 * joint (one user row), the source alone for a seed model's cold users, else the target. */
enum { FOLD_TARGET, FOLD_BOTH, FOLD_SEED };

typedef struct {
    float *rows; /* n x (k + 1) */
    size_t n;
    graft_keymap *index;
    float weight;
    float *gram; /* k x k: sum of q q^T over every row */
} fold_domain;

struct graft_foldin {
    int k, ndom, rule;
    int target; /* the domain index of the target (or the plain model's items) */
    int only;   /* --history-domain: the one domain history items are looked up in, or -1 */
    float w0, reg, alpha;
    fold_domain dom[2];
    float *base[4]; /* per mask of domains used: reg I + w0 sum w_d G_d */
    float *a, *y, *ay, *m;
    size_t cap;
};

void
graft_foldin_destroy(graft_foldin **f)
{
    if (!f || !*f)
        return;
    graft_foldin *x = *f;
    for (int d = 0; d < 2; d++) {
        graft_free(x->dom[d].rows);
        graft_free(x->dom[d].gram);
        graft_keymap_destroy(&x->dom[d].index);
    }
    for (int b = 0; b < 4; b++)
        graft_free(x->base[b]);
    graft_free(x->a);
    graft_free(x->y);
    graft_free(x->ay);
    graft_free(x->m);
    graft_free(x);
    *f = NULL;
}

/* The Gramians and the base matrix of each mask, once the domains' rows are in. */
static graft_err
prepare(graft_foldin *f)
{
    size_t k = (size_t)f->k, kw = k + 1;
    for (int d = 0; d < f->ndom; d++) {
        fold_domain *fd = &f->dom[d];
        if (!(fd->gram = graft_calloc(k * k, sizeof(float))))
            return GRAFT_ERR_NOMEM;
        if (fd->n)
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, f->k, (int)fd->n, 1.0f, fd->rows,
                        (int)kw, 0.0f, fd->gram, f->k);
    }
    for (int mask = 1; mask < 4; mask++) {
        float *b = f->base[mask] = graft_calloc(k * k, sizeof(float));
        if (!b)
            return GRAFT_ERR_NOMEM;
        for (int d = 0; d < f->ndom; d++)
            if (mask & (1 << d))
                for (size_t q = 0; q < k * k; q++)
                    b[q] += f->w0 * f->dom[d].weight * f->dom[d].gram[q];
        for (size_t q = 0; q < k; q++)
            b[q * k + q] += f->reg;
    }
    f->m = graft_malloc(k * k * sizeof(float));
    return f->m ? GRAFT_OK : GRAFT_ERR_NOMEM;
}

graft_err
graft_foldin_from_rows(int k, double w0, double reg, double confidence, const float *items,
                       size_t nitems, graft_foldin **out)
{
    *out = NULL;
    graft_foldin *f = graft_calloc(1, sizeof *f);
    if (!f)
        return GRAFT_ERR_NOMEM;
    f->k = k;
    f->ndom = 1;
    f->w0 = (float)w0;
    f->reg = (float)reg;
    f->alpha = (float)confidence;
    f->dom[0].weight = 1;
    f->dom[0].n = nitems;
    size_t bytes = (nitems ? nitems : 1) * ((size_t)k + 1) * sizeof(float);
    graft_err rc = (f->dom[0].rows = graft_malloc(bytes)) ? GRAFT_OK : GRAFT_ERR_NOMEM;
    if (rc == GRAFT_OK) {
        memcpy(f->dom[0].rows, items, nitems * ((size_t)k + 1) * sizeof(float));
        rc = prepare(f);
    }
    if (rc != GRAFT_OK)
        graft_foldin_destroy(&f);
    *out = f;
    return rc;
}

graft_err
graft_foldin_load(const char *dir, graft_foldin **out, char *err, size_t errlen)
{
    *out = NULL;
    graft_manifest m;
    graft_err rc = graft_manifest_read(dir, &m, err, errlen);
    if (rc != GRAFT_OK)
        return rc;
    graft_foldin *f = graft_calloc(1, sizeof *f);
    if (!f) {
        graft_manifest_free(&m);
        return GRAFT_ERR_NOMEM;
    }
    if (!m.loss[0]) {
        snprintf(err, errlen,
                 "%s: fold-in needs a model trained with a ranking loss (--loss ials or bpr; this "
                 "one minimised squared error)",
                 dir);
        rc = GRAFT_ERR_PARSE;
    }
    f->k = m.dim;
    f->w0 = (float)m.w0;
    f->reg = (float)m.reg;
    f->alpha = (float)m.confidence;
    f->rule = strcmp(m.transfer, "joint") == 0  ? FOLD_BOTH
              : strcmp(m.transfer, "seed") == 0 ? FOLD_SEED
                                                : FOLD_TARGET;
    /* Domain 0 is the source of a transfer model, the last one its target (or the only one). */
    for (int i = 0; i < m.ndomains && rc == GRAFT_OK; i++) {
        const graft_manifest_table *tb =
            graft_manifest_find_domain(&m, m.domains[i].name, "item", m.ndomains == 1);
        if (!tb || tb->width != (uint32_t)m.dim + 1) {
            snprintf(err, errlen, "%s/manifest.json: no %s item table of width %d", dir,
                     m.domains[i].name, m.dim + 1);
            rc = GRAFT_ERR_PARSE;
            break;
        }
        f->dom[i].weight = (float)m.domains[i].weight;
        f->dom[i].n = tb->rows;
        rc = graft_served_load_table(dir, tb, &f->dom[i].rows, NULL, &f->dom[i].index, err, errlen);
        f->ndom = i + 1;
    }
    f->target = f->ndom - 1;
    f->only = -1;
    if (rc == GRAFT_OK && (rc = prepare(f)) != GRAFT_OK)
        snprintf(err, errlen, "out of memory");
    graft_manifest_free(&m);
    if (rc != GRAFT_OK)
        graft_foldin_destroy(&f);
    *out = f;
    return rc;
}

static graft_err
reserve(graft_foldin *f, size_t n)
{
    if (n <= f->cap && f->y)
        return GRAFT_OK;
    size_t cap = n > 2 * f->cap ? n : 2 * f->cap, k = (size_t)f->k;
    graft_free(f->a);
    graft_free(f->y);
    graft_free(f->ay);
    f->a = graft_malloc(cap * sizeof(float));
    f->y = graft_malloc(cap * k * sizeof(float));
    f->ay = graft_malloc(cap * k * sizeof(float));
    f->cap = cap;
    return f->a && f->y && f->ay ? GRAFT_OK : GRAFT_ERR_NOMEM;
}

graft_err
graft_foldin_solve(graft_foldin *f, const graft_foldin_item *items, size_t n, float *row)
{
    int k = f->k;
    size_t kw = (size_t)k + 1;
    memset(row, 0, kw * sizeof *row);
    int mask = 0;
    for (size_t j = 0; j < n; j++)
        mask |= 1 << items[j].domain;
    if (n == 0)
        return GRAFT_OK; /* a zero row: ranked by the items' popularity column */
    if (f->rule == FOLD_BOTH && f->ndom == 2)
        mask = 3; /* joint's user step meets both domains' unobserved pairs, whatever was rated */
    graft_err rc = reserve(f, n);
    if (rc != GRAFT_OK)
        return rc;
    for (size_t j = 0; j < n; j++) {
        const fold_domain *fd = &f->dom[items[j].domain];
        const float *q = fd->rows + (size_t)items[j].row * kw;
        float c = 1 + f->alpha * items[j].value;
        memcpy(f->y + j * (size_t)k, q, (size_t)k * sizeof(float));
        f->a[j] = fd->weight * (c - f->w0);
        for (int x = 0; x < k; x++) {
            f->ay[j * (size_t)k + (size_t)x] = f->a[j] * q[x];
            row[x] += fd->weight * c * q[x];
        }
    }
    memcpy(f->m, f->base[mask], (size_t)k * k * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, k, (int)n, 1.0f, f->ay, k, f->y, k,
                1.0f, f->m, k);
    if (LAPACKE_sposv(LAPACK_ROW_MAJOR, 'U', k, 1, f->m, k, row, 1) != 0)
        memset(row, 0, kw * sizeof *row); /* not positive definite (reg 0): popularity */
    row[k] = 0;
    return GRAFT_OK;
}

/* One usable line of a history. */
typedef struct {
    uint64_t user;
    size_t first; /* index of the user's first line among all lines, for output order */
    graft_foldin_item it;
} hist_line;

static int
by_user(const void *a, const void *b)
{
    const hist_line *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    if (x->it.domain != y->it.domain)
        return x->it.domain - y->it.domain;
    return x->it.row < y->it.row ? -1 : x->it.row > y->it.row;
}

void
graft_foldin_report_free(graft_foldin_report *rep)
{
    for (size_t i = 0; rep->ids && i < rep->users; i++)
        graft_free(rep->ids[i]);
    graft_free(rep->ids);
    graft_free(rep->keys);
    memset(rep, 0, sizeof *rep);
}

graft_err
graft_foldin_set_domain(graft_foldin *f, const char *name, char *err, size_t errlen)
{
    if (!name || strcmp(name, "auto") == 0) {
        f->only = -1;
        return GRAFT_OK;
    }
    if (strcmp(name, "target") == 0) {
        f->only = f->target;
        return GRAFT_OK;
    }
    if (strcmp(name, "source") != 0) {
        snprintf(err, errlen, "--history-domain is auto, source or target, not '%s'", name);
        return GRAFT_ERR_PARSE;
    }
    if (f->ndom < 2 || f->rule == FOLD_TARGET) {
        snprintf(err, errlen,
                 "--history-domain source: %s; its users are folded in from target items only",
                 f->ndom < 2 ? "the model has no source domain"
                             : "a none or map model's user rows are the target's");
        return GRAFT_ERR_PARSE;
    }
    f->only = 0;
    return GRAFT_OK;
}

/* The domain and row of an item key: in --history-domain's domain, else the target first, then
 * (joint, seed) the source; *both says that the source knows a key the target took. */
static int
find_item(const graft_foldin *f, uint64_t key, graft_foldin_item *it, int *both)
{
    uint32_t r;
    int source = f->rule != FOLD_TARGET && f->ndom == 2;
    *both = 0;
    if (f->only >= 0) {
        if (!graft_keymap_get(f->dom[f->only].index, key, &r))
            return 0;
        *it = (graft_foldin_item){f->only, r, 0};
        return 1;
    }
    if (graft_keymap_get(f->dom[f->target].index, key, &r)) {
        *it = (graft_foldin_item){f->target, r, 0};
        *both = source && graft_keymap_get(f->dom[0].index, key, &r);
        return 1;
    }
    if (source && graft_keymap_get(f->dom[0].index, key, &r)) {
        *it = (graft_foldin_item){0, r, 0};
        return 1;
    }
    return 0;
}

graft_err
graft_foldin_history(graft_foldin *f, const char *path, graft_served *s, graft_foldin_report *rep,
                     char *err, size_t errlen)
{
    memset(rep, 0, sizeof *rep);
    graft_datafile *df;
    graft_err rc = graft_datafile_open(path, GRAFT_FMT_AUTO, &df, err, errlen);
    if (rc != GRAFT_OK)
        return rc;
    graft_cursor cur;
    graft_datafile_cursor(df, 0, 1, &cur);
    hist_line *lines = NULL;
    size_t n = 0, cap = 0, idcap = 0;
    graft_keymap *seen = NULL;
    rc = graft_keymap_create(1024, &seen);
    for (;;) {
        graft_record rec;
        int got = 0;
        if (rc != GRAFT_OK ||
            (rc = graft_datafile_next(df, &cur, &rec, &got, err, errlen)) != GRAFT_OK || !got)
            break;
        uint64_t ukey = graft_hash_id(rec.user.p, rec.user.len);
        uint32_t uidx;
        int fresh;
        if ((rc = graft_keymap_upsert(seen, ukey, (uint32_t)rep->users, &uidx, &fresh)) != GRAFT_OK)
            break;
        if (fresh) {
            if (rep->users == idcap) {
                idcap = idcap ? 2 * idcap : 256;
                char **ni = graft_realloc_array(rep->ids, idcap, sizeof *ni);
                uint64_t *nk = ni ? graft_realloc_array(rep->keys, idcap, sizeof *nk) : NULL;
                if (ni)
                    rep->ids = ni;
                if (nk)
                    rep->keys = nk;
                if (!ni || !nk) {
                    rc = GRAFT_ERR_NOMEM;
                    break;
                }
            }
            char *id = graft_malloc(rec.user.len + 1);
            if (!id) {
                rc = GRAFT_ERR_NOMEM;
                break;
            }
            memcpy(id, rec.user.p, rec.user.len);
            id[rec.user.len] = 0;
            rep->ids[rep->users] = id;
            rep->keys[rep->users++] = ukey;
        }
        graft_foldin_item it;
        int both;
        int found = find_item(f, graft_hash_id(rec.item.p, rec.item.len), &it, &both);
        rep->ambiguous += (size_t)both;
        if (!found) {
            if (rep->unknown++ < 5)
                fprintf(stderr,
                        "%s:%llu: item '%.*s' is not in the model (or only in a domain its users "
                        "were not trained on): skipped\n",
                        path, (unsigned long long)rec.lineno, (int)rec.item.len, rec.item.p);
            continue;
        }
        it.value = rec.rating;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            hist_line *nl = graft_realloc_array(lines, cap, sizeof *nl);
            if (!nl) {
                rc = GRAFT_ERR_NOMEM;
                break;
            }
            lines = nl;
        }
        lines[n++] = (hist_line){ukey, uidx, it};
    }
    graft_datafile_close(&df);
    if (rep->unknown > 5)
        fprintf(stderr, "%s: %zu lines in all named items the model does not know: skipped\n", path,
                rep->unknown);
    /* Both domains may use the same item ids (graft gen --domains 2 does): say which was taken. */
    if (rep->ambiguous)
        fprintf(stderr,
                "%s: %zu lines name items whose ids are in both domains of the model: taken as "
                "target items (--history-domain source reads the file as source items)\n",
                path, rep->ambiguous);
    if (rc == GRAFT_OK)
        qsort(lines, n, sizeof *lines, by_user);
    size_t kw = (size_t)f->k + 1;
    float *row = graft_malloc(kw * sizeof *row);
    graft_foldin_item *its = graft_malloc((n ? n : 1) * sizeof *its);
    uint8_t *has = graft_calloc(rep->users ? rep->users : 1, 1);
    if (rc == GRAFT_OK && (!row || !its || !has))
        rc = GRAFT_ERR_NOMEM;
    for (size_t a = 0; rc == GRAFT_OK && a < n;) {
        size_t b = a, m = 0;
        int src = 0, tgt = 0;
        for (; b < n && lines[b].user == lines[a].user; b++) {
            src |= lines[b].it.domain != f->target;
            tgt |= lines[b].it.domain == f->target;
        }
        for (size_t j = a; j < b; j++) {
            /* A seed model's user row is the target's, trained on target items; a user with
             * none is answered by the source row, as seed answers cold users. */
            if (f->rule == FOLD_SEED && src && tgt && lines[j].it.domain != f->target)
                continue;
            /* A pair given twice is one positive whose values add up, as in training. */
            if (m && its[m - 1].domain == lines[j].it.domain && its[m - 1].row == lines[j].it.row)
                its[m - 1].value += lines[j].it.value;
            else
                its[m++] = lines[j].it;
        }
        rc = graft_foldin_solve(f, its, m, row);
        if (rc == GRAFT_OK)
            rc = graft_served_set_user(s, lines[a].user, row);
        has[lines[a].first] = 1;
        a = b;
    }
    /* Users without a known item get a zero row: the popularity column alone ranks for them. */
    if (row)
        memset(row, 0, kw * sizeof *row);
    for (size_t u = 0; rc == GRAFT_OK && u < rep->users; u++)
        if (!has[u]) {
            rep->no_known++;
            rc = graft_served_set_user(s, rep->keys[u], row);
        }
    if (rc == GRAFT_ERR_NOMEM)
        snprintf(err, errlen, "%s: out of memory", path);
    graft_free(row);
    graft_free(its);
    graft_free(has);
    graft_free(lines);
    graft_keymap_destroy(&seen);
    if (rc != GRAFT_OK)
        graft_foldin_report_free(rep);
    return rc;
}
