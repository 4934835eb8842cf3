#include "export.h"
#include "alloc.h"
#include "iddict.h"
#include "manifest.h"
#include "npy.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static graft_err
load_ids(const char *dir, const char *name, graft_iddict **d, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (graft_iddict_create(d) != GRAFT_OK)
        return GRAFT_ERR_NOMEM;
    struct stat st;
    if (stat(path, &st) != 0)
        return GRAFT_OK; /* a model saved without ids: rows are named by their keys */
    return graft_iddict_read(*d, path, err, errlen);
}

static graft_err
export_table(const char *dir, const char *out, const graft_manifest_table *tb,
             const graft_iddict *ids, graft_export_format fmt, char *err, size_t errlen)
{
    char path[4096], idpath[4096];
    snprintf(path, sizeof path, "%s/%s.%s", out, tb->name, fmt == GRAFT_EXPORT_NPY ? "npy" : "tsv");
    snprintf(idpath, sizeof idpath, "%s/%s.ids", out, tb->name);
    FILE *f = fopen(path, "wb");
    FILE *fi = fmt == GRAFT_EXPORT_NPY ? fopen(idpath, "w") : NULL;
    float *row = graft_malloc(tb->width * sizeof(float));
    graft_err rc = GRAFT_OK;
    if (!f || (fmt == GRAFT_EXPORT_NPY && !fi) || !row) {
        snprintf(err, errlen, "%s: %s", !f ? path : idpath,
                 row ? strerror(errno) : "out of memory");
        rc = row ? GRAFT_ERR_IO : GRAFT_ERR_NOMEM;
        goto done;
    }
    if (fmt == GRAFT_EXPORT_NPY) {
        char hdr[256];
        size_t hlen;
        if (graft_npy_header(tb->rows, tb->width, hdr, sizeof hdr, &hlen) != GRAFT_OK ||
            fwrite(hdr, 1, hlen, f) != hlen) {
            snprintf(err, errlen, "%s: write failed", path);
            rc = GRAFT_ERR_IO;
            goto done;
        }
    }
    for (int s = 0; s < tb->nshards && rc == GRAFT_OK; s++) {
        char sp[4096];
        snprintf(sp, sizeof sp, "%s/%s", dir, tb->shards[s].file);
        graft_shard sh;
        if ((rc = graft_shard_open(sp, &sh, err, errlen)) != GRAFT_OK)
            break;
        for (uint64_t i = 0; i < sh.rows; i++) {
            uint64_t key;
            graft_shard_row(&sh, i, &key, row);
            const char *id = graft_iddict_get(ids, key);
            char hex[17];
            if (!id) {
                snprintf(hex, sizeof hex, "%016" PRIx64, key);
                id = hex;
            }
            if (fmt == GRAFT_EXPORT_NPY) {
                fwrite(row, sizeof(float), tb->width, f);
                fprintf(fi, "%s\n", id);
            } else {
                fputs(id, f);
                for (uint32_t j = 0; j < tb->width; j++)
                    fprintf(f, "\t%.9g", row[j]);
                fputc('\n', f);
            }
        }
        graft_shard_close(&sh);
    }
    if (rc == GRAFT_OK && (ferror(f) || (fi && ferror(fi)))) {
        snprintf(err, errlen, "%s: write failed", path);
        rc = GRAFT_ERR_IO;
    }
done:
    if (f && fclose(f) != 0 && rc == GRAFT_OK) {
        snprintf(err, errlen, "%s: write failed", path);
        rc = GRAFT_ERR_IO;
    }
    if (fi)
        fclose(fi);
    graft_free(row);
    return rc;
}

graft_err
graft_export_run(const char *dir, const char *out, graft_export_format fmt, char *err,
                 size_t errlen)
{
    graft_manifest m;
    graft_err rc = graft_manifest_read(dir, &m, err, errlen);
    if (rc != GRAFT_OK)
        return rc;
    graft_iddict *users = NULL, *items = NULL;
    if ((rc = graft_manifest_verify(dir, &m, err, errlen)) != GRAFT_OK ||
        (rc = load_ids(dir, "users.ids", &users, err, errlen)) != GRAFT_OK ||
        (rc = load_ids(dir, "items.ids", &items, err, errlen)) != GRAFT_OK)
        goto done;
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", out, strerror(errno));
        rc = GRAFT_ERR_IO;
        goto done;
    }
    for (int t = 0; t < m.ntables && rc == GRAFT_OK; t++) {
        const graft_manifest_table *tb = &m.tables[t];
        rc = export_table(dir, out, tb, strstr(tb->name, "user") ? users : items, fmt, err, errlen);
    }
    if (rc == GRAFT_OK) {
        char path[4096];
        snprintf(path, sizeof path, "%s/model.json", out);
        FILE *f = fopen(path, "w");
        if (!f) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            rc = GRAFT_ERR_IO;
            goto done;
        }
        fprintf(f, "{\"dim\": %d, \"domains\": [", m.dim);
        for (int d = 0; d < m.ndomains; d++)
            fprintf(f, "%s{\"name\": \"%s\", \"mu\": %.9g, \"rmin\": %.9g, \"rmax\": %.9g}",
                    d ? ", " : "", m.domains[d].name, m.domains[d].mu, m.domains[d].rmin,
                    m.domains[d].rmax);
        fprintf(f, "], \"tables\": [");
        for (int t = 0; t < m.ntables; t++)
            fprintf(f, "%s{\"name\": \"%s\", \"rows\": %" PRIu64 ", \"width\": %u}", t ? ", " : "",
                    m.tables[t].name, m.tables[t].rows, m.tables[t].width);
        fprintf(f, "], \"row_layout\": \"dim factors, then the bias\"}\n");
        if (fclose(f) != 0) {
            snprintf(err, errlen, "%s: write failed", path);
            rc = GRAFT_ERR_IO;
        }
    }
done:
    graft_iddict_destroy(&users);
    graft_iddict_destroy(&items);
    graft_manifest_free(&m);
    return rc;
}
