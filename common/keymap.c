#include "keymap.h"
#include "alloc.h"
#include "hash.h"

#include <string.h>

#define EMPTY UINT32_MAX

struct graft_keymap {
    uint64_t *keys;
    uint32_t *vals; /* EMPTY marks a free slot, so every key value is usable */
    size_t cap;     /* a power of two */
    size_t count;
};

static graft_err
alloc_slots(size_t cap, uint64_t **keys, uint32_t **vals)
{
    *keys = graft_malloc(cap * sizeof **keys);
    *vals = graft_malloc(cap * sizeof **vals);
    graft_err rc = GRAFT_OK;
    if (!*keys || !*vals) {
        graft_free(*keys);
        graft_free(*vals);
        *keys = NULL;
        *vals = NULL;
        rc = GRAFT_ERR_NOMEM;
    } else {
        memset(*vals, 0xff, cap * sizeof **vals);
    }
    return rc;
}

graft_err
graft_keymap_create(size_t hint, graft_keymap **out)
{
    *out = NULL;
    graft_keymap *m = graft_calloc(1, sizeof *m);
    if (!m)
        return GRAFT_ERR_NOMEM;
    size_t cap = 16;
    while (cap < hint * 2)
        cap <<= 1;
    graft_err rc = alloc_slots(cap, &m->keys, &m->vals);
    if (rc == GRAFT_OK) {
        m->cap = cap;
        *out = m;
    } else {
        graft_free(m);
    }
    return rc;
}

void
graft_keymap_destroy(graft_keymap **map)
{
    if (!map || !*map)
        return;
    graft_free((*map)->keys);
    graft_free((*map)->vals);
    graft_free(*map);
    *map = NULL;
}

static inline size_t
slot_of(uint64_t key, size_t cap)
{
    return (size_t)graft_hash_mix64(key) & (cap - 1);
}

int
graft_keymap_get(const graft_keymap *m, uint64_t key, uint32_t *val)
{
    size_t i = slot_of(key, m->cap);
    for (;;) {
        if (m->vals[i] == EMPTY)
            return 0;
        if (m->keys[i] == key) {
            *val = m->vals[i];
            return 1;
        }
        i = (i + 1) & (m->cap - 1);
    }
}

void
graft_keymap_prefetch(const graft_keymap *m, uint64_t key)
{
    size_t i = slot_of(key, m->cap);
    __builtin_prefetch(&m->vals[i]);
    __builtin_prefetch(&m->keys[i]);
}

static graft_err
grow(graft_keymap *m)
{
    size_t ncap = m->cap * 2;
    uint64_t *nk;
    uint32_t *nv;
    if (alloc_slots(ncap, &nk, &nv) != GRAFT_OK)
        return GRAFT_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->vals[i] == EMPTY)
            continue;
        size_t j = slot_of(m->keys[i], ncap);
        while (nv[j] != EMPTY)
            j = (j + 1) & (ncap - 1);
        nk[j] = m->keys[i];
        nv[j] = m->vals[i];
    }
    graft_free(m->keys);
    graft_free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
    return GRAFT_OK;
}

graft_err
graft_keymap_upsert(graft_keymap *m, uint64_t key, uint32_t newval, uint32_t *val, int *inserted)
{
    /* Grow before the load passes 1/2 so probes stay short. */
    if ((m->count + 1) * 2 > m->cap && grow(m) != GRAFT_OK)
        return GRAFT_ERR_NOMEM;
    size_t i = slot_of(key, m->cap);
    while (m->vals[i] != EMPTY) {
        if (m->keys[i] == key) {
            *val = m->vals[i];
            *inserted = 0;
            return GRAFT_OK;
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = key;
    m->vals[i] = newval;
    m->count++;
    *val = newval;
    *inserted = 1;
    return GRAFT_OK;
}

size_t
graft_keymap_count(const graft_keymap *m)
{
    return m->count;
}

size_t
graft_keymap_bytes(const graft_keymap *m)
{
    return m->cap * (sizeof(uint64_t) + sizeof(uint32_t)) + sizeof *m;
}

void
graft_keymap_clear(graft_keymap *m)
{
    memset(m->vals, 0xff, m->cap * sizeof *m->vals);
    m->count = 0;
}

int
graft_keymap_next(const graft_keymap *m, size_t *pos, uint64_t *key, uint32_t *val)
{
    while (*pos < m->cap) {
        size_t i = (*pos)++;
        if (m->vals[i] != EMPTY) {
            *key = m->keys[i];
            *val = m->vals[i];
            return 1;
        }
    }
    return 0;
}
