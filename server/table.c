#include "table.h"
#include "alloc.h"
#include "hash.h"
#include "keymap.h"
#include "optim.h"
#include "rng.h"

#include <string.h>

#define CHUNK_SHIFT 12
#define CHUNK_ROWS (1u << CHUNK_SHIFT)

struct graft_table {
    graft_table_spec spec;
    uint32_t stride; /* floats per row slot: width plus optimizer state */
    graft_keymap *index;
    float **chunks;
    uint32_t nchunks, chunk_cap;
    uint32_t rows;
};

graft_err
graft_table_create(const graft_table_spec *spec, graft_table **out)
{
    *out = NULL;
    graft_table *t = graft_calloc(1, sizeof *t);
    if (!t)
        return GRAFT_ERR_NOMEM;
    t->spec = *spec;
    t->stride = spec->width + graft_optim_state_width(spec->optimizer, spec->width);
    graft_err rc = graft_keymap_create(1024, &t->index);
    if (rc != GRAFT_OK)
        graft_free(t);
    else
        *out = t;
    return rc;
}

void
graft_table_destroy(graft_table **t)
{
    if (!t || !*t)
        return;
    for (uint32_t i = 0; i < (*t)->nchunks; i++)
        graft_free((*t)->chunks[i]);
    graft_free((*t)->chunks);
    graft_keymap_destroy(&(*t)->index);
    graft_free(*t);
    *t = NULL;
}

const graft_table_spec *
graft_table_spec_of(const graft_table *t)
{
    return &t->spec;
}

void
graft_table_init_row(uint64_t seed, uint64_t key, float scale, uint32_t width, uint32_t init_width,
                     float *row)
{
    graft_rng rng;
    graft_rng_seed(&rng, graft_hash_mix64(seed) ^ key);
    uint32_t n = init_width && init_width < width ? init_width : width;
    for (uint32_t j = 0; j < n; j++)
        row[j] = (float)(scale * graft_rng_normal(&rng));
    for (uint32_t j = n; j < width; j++)
        row[j] = 0;
}

static inline float *
slot(const graft_table *t, uint32_t idx)
{
    return t->chunks[idx >> CHUNK_SHIFT] + (size_t)(idx & (CHUNK_ROWS - 1)) * t->stride;
}

float *
graft_table_find(const graft_table *t, uint64_t key)
{
    uint32_t idx;
    return graft_keymap_get(t->index, key, &idx) ? slot(t, idx) : NULL;
}

/* Finds key's row, or makes it. */
static graft_err
get_or_create(graft_table *t, uint64_t key, float **row)
{
    uint32_t idx;
    if (graft_keymap_get(t->index, key, &idx)) {
        *row = slot(t, idx);
        return GRAFT_OK;
    }
    if (t->rows == UINT32_MAX - 1)
        return GRAFT_ERR_NOMEM;
    if ((t->rows >> CHUNK_SHIFT) >= t->nchunks) {
        if (t->nchunks == t->chunk_cap) {
            uint32_t ncap = t->chunk_cap ? t->chunk_cap * 2 : 8;
            float **nc = graft_realloc_array(t->chunks, ncap, sizeof *nc);
            if (!nc)
                return GRAFT_ERR_NOMEM;
            t->chunks = nc;
            t->chunk_cap = ncap;
        }
        float *c = graft_malloc((size_t)CHUNK_ROWS * t->stride * sizeof(float));
        if (!c)
            return GRAFT_ERR_NOMEM;
        t->chunks[t->nchunks++] = c;
    }
    int inserted;
    if (graft_keymap_upsert(t->index, key, t->rows, &idx, &inserted) != GRAFT_OK)
        return GRAFT_ERR_NOMEM;
    float *r = slot(t, idx);
    graft_table_init_row(t->spec.seed, key, t->spec.init_scale, t->spec.width, t->spec.init_width,
                         r);
    memset(r + t->spec.width, 0, (t->stride - t->spec.width) * sizeof(float));
    t->rows++;
    *row = r;
    return GRAFT_OK;
}

/* Rows of a request are looked up AHEAD keys before they are used, and index slots twice that,
 * each prefetched, so that the cache misses of a batch overlap instead of adding up. */
#define AHEAD 8

/* The i-th position a call works on. */
#define AT(sel, i) ((sel) ? (sel)[i] : (i))

/* Calls use(t, p, row, arg) for the keys at positions p = AT(sel, 0..n) in order, row NULL for a
 * missing key unless create. */
typedef void (*row_fn)(const graft_table *t, uint32_t p, float *row, void *arg);

static graft_err
each_row(graft_table *t, const uint64_t *keys, const uint32_t *sel, uint32_t n, int create,
         row_fn use, void *arg)
{
    float *ahead[AHEAD];
    uint32_t looked = 0;
    size_t bytes = (size_t)t->spec.width * sizeof(float);
    for (uint32_t i = 0; i < n; i++) {
        for (; looked < n && looked < i + AHEAD; looked++) {
            if (looked + AHEAD < n)
                graft_keymap_prefetch(t->index, keys[AT(sel, looked + AHEAD)]);
            float **r = &ahead[looked % AHEAD];
            if (create) {
                graft_err rc = get_or_create(t, keys[AT(sel, looked)], r);
                if (rc != GRAFT_OK)
                    return rc;
            } else {
                *r = graft_table_find(t, keys[AT(sel, looked)]);
            }
            if (*r) {
                __builtin_prefetch(*r);
                __builtin_prefetch((char *)*r + bytes - 1);
            }
        }
        use(t, AT(sel, i), ahead[i % AHEAD], arg);
    }
    return GRAFT_OK;
}

static void
pull_row(const graft_table *t, uint32_t i, float *row, void *arg)
{
    float *out = (float *)arg + (size_t)i * t->spec.width;
    if (row)
        memcpy(out, row, t->spec.width * sizeof(float));
    else
        memset(out, 0, t->spec.width * sizeof(float));
}

graft_err
graft_table_pull(graft_table *t, const uint64_t *keys, const uint32_t *sel, uint32_t n, int create,
                 float *out)
{
    return each_row(t, keys, sel, n, create, pull_row, out);
}

typedef struct {
    const float *grads;
    uint32_t refused;
} push_arg;

static void
push_row(const graft_table *t, uint32_t i, float *row, void *arg)
{
    push_arg *a = arg;
    uint32_t w = t->spec.width;
    if (!graft_optim_apply(t->spec.optimizer, t->spec.lr, t->spec.l2, w, row, row + w,
                           a->grads + (size_t)i * w))
        a->refused++;
}

graft_err
graft_table_push(graft_table *t, const uint64_t *keys, const uint32_t *sel, uint32_t n,
                 const float *grads, uint32_t *refused)
{
    push_arg a = {grads, 0};
    graft_err rc = each_row(t, keys, sel, n, 1, push_row, &a);
    *refused = a.refused;
    return rc;
}

/* Sets key's row to vals (width floats), creating it, with fresh optimizer state. */
static graft_err
set_row(graft_table *t, uint64_t key, const float *vals)
{
    float *row;
    graft_err rc = get_or_create(t, key, &row);
    if (rc != GRAFT_OK)
        return rc;
    memcpy(row, vals, t->spec.width * sizeof(float));
    memset(row + t->spec.width, 0, (t->stride - t->spec.width) * sizeof(float));
    return GRAFT_OK;
}

graft_err
graft_table_assign(graft_table *t, const uint64_t *keys, const uint32_t *sel, uint32_t n,
                   const float *vals)
{
    for (uint32_t i = 0; i < n; i++) {
        graft_err rc = set_row(t, keys[AT(sel, i)], vals + (size_t)AT(sel, i) * t->spec.width);
        if (rc != GRAFT_OK)
            return rc;
    }
    return GRAFT_OK;
}

graft_err
graft_table_restore(graft_table *t, uint64_t key, const float *slot_vals)
{
    float *row;
    graft_err rc = get_or_create(t, key, &row);
    if (rc == GRAFT_OK)
        memcpy(row, slot_vals, t->stride * sizeof(float));
    return rc;
}

uint32_t
graft_table_stride(const graft_table *t)
{
    return t->stride;
}

graft_err
graft_table_copy(graft_table *dst, const graft_table *src, const uint64_t *keys,
                 const uint32_t *sel, uint32_t n, uint64_t *copied)
{
    uint32_t w = dst->spec.width;
    *copied = 0;
    if (src->spec.width != w)
        return GRAFT_ERR_SIZE;
    for (uint32_t i = 0; i < n; i++) {
        const float *from = graft_table_find(src, keys[AT(sel, i)]);
        if (!from)
            continue;
        graft_err rc = set_row(dst, keys[AT(sel, i)], from);
        if (rc != GRAFT_OK)
            return rc;
        (*copied)++;
    }
    return GRAFT_OK;
}

int
graft_table_next(const graft_table *t, size_t *pos, uint64_t *key, const float **row)
{
    uint32_t idx;
    if (!graft_keymap_next(t->index, pos, key, &idx))
        return 0;
    *row = slot(t, idx);
    return 1;
}

uint64_t
graft_table_rows(const graft_table *t)
{
    return t->rows;
}

uint64_t
graft_table_bytes(const graft_table *t)
{
    return (uint64_t)t->nchunks * CHUNK_ROWS * t->stride * sizeof(float) +
           graft_keymap_bytes(t->index) + t->chunk_cap * sizeof(float *) + sizeof *t;
}
