#include "arenas.h"
#include "alloc.h"
#include "shm.h"

#include <stdio.h>
#include <string.h>

#define MAX_ID 256

typedef struct {
    unsigned char id[MAX_ID];
    size_t idlen;
    graft_shm shm;
} arena;

struct graft_arenas {
    arena *v;
    int n, max;
};

graft_err
graft_arenas_create(int max, graft_arenas **out)
{
    *out = NULL;
    graft_arenas *a = graft_calloc(1, sizeof *a);
    if (!a || !(a->v = graft_calloc((size_t)(max > 0 ? max : 1), sizeof *a->v))) {
        graft_free(a);
        return GRAFT_ERR_NOMEM;
    }
    a->max = max;
    *out = a;
    return GRAFT_OK;
}

void
graft_arenas_destroy(graft_arenas **a)
{
    if (!a || !*a)
        return;
    for (int i = 0; i < (*a)->n; i++)
        graft_shm_close(&(*a)->v[i].shm);
    graft_free((*a)->v);
    graft_free(*a);
    *a = NULL;
}

static arena *
find(graft_arenas *a, const void *id, size_t idlen)
{
    for (int i = 0; i < a->n; i++)
        if (a->v[i].idlen == idlen && memcmp(a->v[i].id, id, idlen) == 0)
            return &a->v[i];
    return NULL;
}

graft_err
graft_arenas_attach(graft_arenas *a, const void *id, size_t idlen, const graft_msg *req, char *why,
                    size_t whylen)
{
    arena *slot = find(a, id, idlen);
    if (!slot && (idlen > MAX_ID || a->n == a->max)) {
        snprintf(why, whylen, "%s", idlen > MAX_ID ? "identity too long" : "too many arenas");
        return GRAFT_ERR_TOOBIG;
    }
    graft_shm shm;
    graft_err rc = graft_shm_open_peer(req->arena_pid, req->arena_fd, req->arena_bytes,
                                       req->arena_nonce, &shm, why, whylen);
    if (rc != GRAFT_OK)
        return rc;
    if (slot)
        graft_shm_close(&slot->shm);
    else
        slot = &a->v[a->n++];
    memcpy(slot->id, id, idlen);
    slot->idlen = idlen;
    slot->shm = shm;
    return GRAFT_OK;
}

void *
graft_arenas_region(graft_arenas *a, const void *id, size_t idlen, uint64_t offset, uint64_t len,
                    char *why, size_t whylen)
{
    arena *s = find(a, id, idlen);
    if (!s) {
        snprintf(why, whylen, "rows in an arena, but this connection attached none");
        return NULL;
    }
    /* The first bytes hold the nonce; rows must lie wholly after them. */
    if (offset < GRAFT_SHM_HEADER || offset > s->shm.size || len > s->shm.size - offset) {
        snprintf(why, whylen, "%llu bytes at arena offset %llu are not inside its %zu bytes",
                 (unsigned long long)len, (unsigned long long)offset, s->shm.size);
        return NULL;
    }
    return (unsigned char *)s->shm.base + offset;
}

int
graft_arenas_count(const graft_arenas *a)
{
    return a->n;
}
