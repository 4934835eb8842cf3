#include "iddict.h"
#include "alloc.h"
#include "keymap.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct graft_iddict {
    graft_keymap *index; /* key -> entry */
    uint64_t *keys;
    size_t *offs; /* into text */
    size_t n, cap;
    char *text; /* NUL-terminated ids, back to back */
    size_t used, tcap;
};

graft_err
graft_iddict_create(graft_iddict **out)
{
    *out = graft_calloc(1, sizeof **out);
    if (!*out || graft_keymap_create(1024, &(*out)->index) != GRAFT_OK) {
        graft_free(*out);
        *out = NULL;
        return GRAFT_ERR_NOMEM;
    }
    return GRAFT_OK;
}

void
graft_iddict_destroy(graft_iddict **d)
{
    if (!d || !*d)
        return;
    graft_keymap_destroy(&(*d)->index);
    graft_free((*d)->keys);
    graft_free((*d)->offs);
    graft_free((*d)->text);
    graft_free(*d);
    *d = NULL;
}

graft_err
graft_iddict_add(graft_iddict *d, uint64_t key, const char *id, size_t len)
{
    uint32_t slot;
    if (graft_keymap_get(d->index, key, &slot))
        return GRAFT_OK;
    if (d->n == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 1024;
        uint64_t *k = graft_realloc_array(d->keys, ncap, sizeof *k);
        if (!k)
            return GRAFT_ERR_NOMEM;
        d->keys = k;
        size_t *o = graft_realloc_array(d->offs, ncap, sizeof *o);
        if (!o)
            return GRAFT_ERR_NOMEM;
        d->offs = o;
        d->cap = ncap;
    }
    if (d->used + len + 1 > d->tcap) {
        size_t ncap = d->tcap ? d->tcap * 2 : 65536;
        while (ncap < d->used + len + 1)
            ncap *= 2;
        char *t = graft_realloc_array(d->text, ncap, 1);
        if (!t)
            return GRAFT_ERR_NOMEM;
        d->text = t;
        d->tcap = ncap;
    }
    int ins;
    if (graft_keymap_upsert(d->index, key, (uint32_t)d->n, &slot, &ins) != GRAFT_OK)
        return GRAFT_ERR_NOMEM;
    memcpy(d->text + d->used, id, len);
    d->text[d->used + len] = 0;
    d->keys[d->n] = key;
    d->offs[d->n++] = d->used;
    d->used += len + 1;
    return GRAFT_OK;
}

const char *
graft_iddict_get(const graft_iddict *d, uint64_t key)
{
    uint32_t slot;
    return graft_keymap_get(d->index, key, &slot) ? d->text + d->offs[slot] : NULL;
}

size_t
graft_iddict_count(const graft_iddict *d)
{
    return d->n;
}

graft_err
graft_iddict_pack(const graft_iddict *d, char **buf, size_t *len)
{
    /* key (8 bytes) then the NUL-terminated id, per entry */
    *len = d->n * 8 + d->used;
    *buf = graft_malloc(*len ? *len : 1);
    if (!*buf)
        return GRAFT_ERR_NOMEM;
    char *p = *buf;
    for (size_t i = 0; i < d->n; i++) {
        memcpy(p, &d->keys[i], 8);
        size_t l = strlen(d->text + d->offs[i]) + 1;
        memcpy(p + 8, d->text + d->offs[i], l);
        p += 8 + l;
    }
    *len = (size_t)(p - *buf);
    return GRAFT_OK;
}

graft_err
graft_iddict_merge(graft_iddict *d, const char *buf, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (len - i < 9)
            return GRAFT_ERR_PARSE;
        uint64_t key;
        memcpy(&key, buf + i, 8);
        const char *id = buf + i + 8;
        const char *nul = memchr(id, 0, len - i - 8);
        if (!nul)
            return GRAFT_ERR_PARSE;
        graft_err rc = graft_iddict_add(d, key, id, (size_t)(nul - id));
        if (rc != GRAFT_OK)
            return rc;
        i = (size_t)(nul - buf) + 1;
    }
    return GRAFT_OK;
}

graft_err
graft_iddict_write(const graft_iddict *d, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        snprintf(err, errlen, "%s: out of memory", path);
        return GRAFT_ERR_NOMEM;
    }
    for (size_t i = 0; i < d->n; i++)
        fprintf(f, "%016" PRIx64 "\t%s\n", d->keys[i], d->text + d->offs[i]);
    fclose(f);
    graft_err rc = graft_store_write_atomic(path, text, len, err, errlen);
    free(text);
    return rc;
}

graft_err
graft_iddict_read(graft_iddict *d, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return GRAFT_ERR_IO;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t lineno = 0;
    graft_err rc = GRAFT_OK;
    while (rc == GRAFT_OK && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len && line[len - 1] == '\n')
            line[--len] = 0;
        char *end;
        uint64_t key = strtoull(line, &end, 16);
        if (end != line + 16 || *end != '\t') {
            snprintf(err, errlen, "%s:%llu: expected KEY<TAB>ID", path, (unsigned long long)lineno);
            rc = GRAFT_ERR_PARSE;
            break;
        }
        rc = graft_iddict_add(d, key, end + 1, (size_t)(line + len - end - 1));
    }
    free(line);
    fclose(f);
    return rc;
}
