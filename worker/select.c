#include "select.h"
#include "alloc.h"
#include "hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SHADOWS 8

struct graft_best {
    int n;
    uint32_t table[MAX_SHADOWS], shadow[MAX_SHADOWS], width[MAX_SHADOWS];
    char name[MAX_SHADOWS][GRAFT_TABLE_NAME_MAX];
    uint64_t *keys[MAX_SHADOWS];
    size_t nkeys[MAX_SHADOWS];
};

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

graft_err
graft_best_keys(const graft_ratings *r, uint32_t domain, int items, uint64_t **keys, size_t *n)
{
    uint64_t *k = graft_malloc((r->n ? r->n : 1) * sizeof *k);
    if (!k)
        return GRAFT_ERR_NOMEM;
    size_t m = 0;
    for (size_t j = 0; j < r->n; j++)
        if (r->v[j].domain == domain)
            k[m++] = items ? r->v[j].item : r->v[j].user;
    qsort(k, m, sizeof *k, cmp_u64);
    size_t u = 0;
    for (size_t j = 0; j < m; j++)
        if (u == 0 || k[u - 1] != k[j])
            k[u++] = k[j];
    *keys = k;
    *n = u;
    return GRAFT_OK;
}

graft_err
graft_best_create(graft_client *c, graft_best_table *tabs, int n, graft_best **out)
{
    *out = NULL;
    graft_best *b = graft_calloc(1, sizeof *b);
    graft_err rc = b && n <= MAX_SHADOWS ? GRAFT_OK : b ? GRAFT_ERR_INVALID : GRAFT_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        if (rc == GRAFT_OK) {
            /* A Sum table without random columns: zeros until kept; never saved or pushed to. */
            graft_table_spec spec = {.width = tabs[i].width, .optimizer = GRAFT_OPTIM_SUM};
            snprintf(spec.name, sizeof spec.name, "%s%s", GRAFT_CHECKPOINT_SHADOW, tabs[i].name);
            rc = graft_client_create_table(c, &spec, &b->shadow[i]);
        }
        if (b && i < MAX_SHADOWS) {
            b->table[i] = tabs[i].table;
            snprintf(b->name[i], sizeof b->name[i], "%s%s", GRAFT_CHECKPOINT_SHADOW, tabs[i].name);
            b->width[i] = tabs[i].width;
            b->keys[i] = tabs[i].keys;
            b->nkeys[i] = tabs[i].nkeys;
            b->n = i + 1;
        } else {
            graft_free(tabs[i].keys);
        }
        tabs[i].keys = NULL;
    }
    if (rc != GRAFT_OK)
        graft_best_destroy(&b);
    *out = b;
    return rc;
}

void
graft_best_destroy(graft_best **b)
{
    if (!b || !*b)
        return;
    for (int i = 0; i < (*b)->n; i++)
        graft_free((*b)->keys[i]);
    graft_free(*b);
    *b = NULL;
}

static graft_err
copy_all(graft_best *b, graft_client *c, int back)
{
    graft_err rc = GRAFT_OK;
    for (int i = 0; i < b->n && rc == GRAFT_OK; i++) {
        uint64_t copied;
        rc = back ? graft_client_copy(c, b->table[i], b->shadow[i], b->width[i], b->keys[i],
                                      b->nkeys[i], &copied)
                  : graft_client_copy(c, b->shadow[i], b->table[i], b->width[i], b->keys[i],
                                      b->nkeys[i], &copied);
    }
    return rc;
}

graft_err
graft_best_keep(graft_best *b, graft_client *c)
{
    return copy_all(b, c, 0);
}

graft_err
graft_best_restore(graft_best *b, graft_client *c)
{
    return copy_all(b, c, 1);
}

int
graft_best_tables(const graft_best *b, graft_saved_table *out, int max)
{
    int n = 0;
    for (int i = 0; b && i < b->n && n < max; i++, n++) {
        out[n].id = b->shadow[i];
        snprintf(out[n].name, sizeof out[n].name, "%s", b->name[i]);
        snprintf(out[n].file, sizeof out[n].file, "%s", b->name[i]);
    }
    return n;
}

graft_err
graft_holdout(graft_ratings *r, double fraction, uint64_t seed, graft_ratings *held)
{
    graft_err rc = GRAFT_OK;
    size_t kept = 0;
    for (size_t j = 0; j < r->n; j++) {
        const graft_rating *x = &r->v[j];
        uint64_t h = graft_hash_mix64(graft_hash_mix64(x->user ^ seed) ^ x->item);
        if ((double)(h >> 11) * 0x1.0p-53 < fraction && rc == GRAFT_OK)
            rc = graft_ratings_append(held, *x);
        else
            r->v[kept++] = *x;
    }
    if (rc != GRAFT_OK) { /* r keeps what it had: put the held ones back */
        for (size_t j = 0; j < held->n; j++)
            r->v[kept++] = held->v[j];
        graft_ratings_free(held);
    }
    r->n = kept;
    return rc;
}
