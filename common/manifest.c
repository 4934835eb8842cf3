#include "manifest.h"
#include "alloc.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

graft_err
graft_manifest_write(const char *dir, const graft_manifest *m, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return GRAFT_ERR_NOMEM;
    }
    /* One table per line, so the file reads well and parses simply. */
    fprintf(f,
            "{\"format\":\"graft-model\",\"version\":1,\"key_hash\":\"fnv1a64+splitmix64 of the "
            "id\",\"sharding\":\"graft_shard_of_key\",\"dim\":%d,\"servers\":%d,\n",
            m->dim, m->servers);
    fprintf(f, "\"domains\":[");
    for (int d = 0; d < m->ndomains; d++)
        fprintf(f, "%s\n{\"name\":\"%s\",\"mu\":%.9g,\"rmin\":%.9g,\"rmax\":%.9g}", d ? "," : "",
                m->domains[d].name, m->domains[d].mu, m->domains[d].rmin, m->domains[d].rmax);
    fprintf(f, "],\n\"tables\":[");
    for (int t = 0; t < m->ntables; t++) {
        const graft_manifest_table *tb = &m->tables[t];
        fprintf(f, "%s\n{\"name\":\"%s\",\"width\":%u,\"rows\":%" PRIu64 ",\"shards\":[",
                t ? "," : "", tb->name, tb->width, tb->rows);
        for (int s = 0; s < tb->nshards; s++)
            fprintf(f, "%s{\"file\":\"%s\",\"rows\":%" PRIu64 ",\"checksum\":\"%016" PRIx64 "\"}",
                    s ? "," : "", tb->shards[s].file, tb->shards[s].rows, tb->shards[s].checksum);
        fprintf(f, "]}");
    }
    fprintf(f, "\n]}\n");
    fclose(f);
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    graft_err rc = graft_store_write_atomic(path, text, len, err, errlen);
    free(text);
    return rc;
}

void
graft_manifest_free(graft_manifest *m)
{
    for (int t = 0; t < m->ntables; t++)
        graft_free(m->tables[t].shards);
    memset(m, 0, sizeof *m);
}

static graft_err
bad(const char *path, int lineno, const char *why, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s:%d: malformed manifest: %s", path, lineno, why);
    return GRAFT_ERR_PARSE;
}

graft_err
graft_manifest_read(const char *dir, graft_manifest *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s (not a saved model?)", path, strerror(errno));
        return GRAFT_ERR_IO;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, have_header = 0;
    graft_err rc = GRAFT_OK;
    while (rc == GRAFT_OK && getline(&line, &cap, f) >= 0) {
        lineno++;
        const char *p;
        if (lineno == 1) {
            if (!strstr(line, "\"format\":\"graft-model\"") || !strstr(line, "\"version\":1,") ||
                !(p = strstr(line, "\"dim\":")) || sscanf(p, "\"dim\":%d", &m->dim) != 1 ||
                !(p = strstr(line, "\"servers\":")) ||
                sscanf(p, "\"servers\":%d", &m->servers) != 1)
                rc = bad(path, lineno, "not a graft-model version 1 header", err, errlen);
            have_header = 1;
        } else if (strncmp(line, "{\"name\":\"", 9) == 0 && strstr(line, "\"mu\":")) {
            if (m->ndomains == 2) {
                rc = bad(path, lineno, "more than two domains", err, errlen);
                break;
            }
            graft_manifest_domain *d = &m->domains[m->ndomains];
            if (sscanf(line, "{\"name\":\"%15[^\"]\",\"mu\":%lf,\"rmin\":%lf,\"rmax\":%lf}",
                       d->name, &d->mu, &d->rmin, &d->rmax) != 4)
                rc = bad(path, lineno, "bad domain", err, errlen);
            m->ndomains++;
        } else if (strncmp(line, "{\"name\":\"", 9) == 0) {
            if (m->ntables == GRAFT_MANIFEST_MAX_TABLES) {
                rc = bad(path, lineno, "too many tables", err, errlen);
                break;
            }
            graft_manifest_table *t = &m->tables[m->ntables++];
            if (sscanf(line, "{\"name\":\"%63[^\"]\",\"width\":%" SCNu32 ",\"rows\":%" SCNu64,
                       t->name, &t->width, &t->rows) != 3) {
                rc = bad(path, lineno, "bad table", err, errlen);
                break;
            }
            uint64_t sum = 0;
            for (p = strstr(line, "{\"file\":\""); p; p = strstr(p + 1, "{\"file\":\"")) {
                if (t->nshards == GRAFT_MANIFEST_MAX_SHARDS) {
                    rc = bad(path, lineno, "too many shards", err, errlen);
                    break;
                }
                graft_manifest_shard *ns =
                    graft_realloc_array(t->shards, (size_t)t->nshards + 1, sizeof *ns);
                if (!ns) {
                    rc = GRAFT_ERR_NOMEM;
                    snprintf(err, errlen, "out of memory");
                    break;
                }
                t->shards = ns;
                graft_manifest_shard *s = &t->shards[t->nshards++];
                if (sscanf(p,
                           "{\"file\":\"%255[^\"]\",\"rows\":%" SCNu64 ",\"checksum\":\"%" SCNx64
                           "\"}",
                           s->file, &s->rows, &s->checksum) != 3 ||
                    strchr(s->file, '/')) {
                    rc = bad(path, lineno, "bad shard entry", err, errlen);
                    break;
                }
                sum += s->rows;
            }
            if (rc == GRAFT_OK && (t->nshards == 0 || sum != t->rows))
                rc = bad(path, lineno, "shard rows do not add up to the table's", err, errlen);
        }
    }
    free(line);
    fclose(f);
    if (rc == GRAFT_OK && (!have_header || m->ntables == 0))
        rc = bad(path, lineno, "no tables", err, errlen);
    if (rc != GRAFT_OK)
        graft_manifest_free(m);
    return rc;
}

graft_err
graft_manifest_verify(const char *dir, const graft_manifest *m, char *err, size_t errlen)
{
    for (int t = 0; t < m->ntables; t++) {
        const graft_manifest_table *tb = &m->tables[t];
        for (int s = 0; s < tb->nshards; s++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, tb->shards[s].file);
            graft_shard sh;
            graft_err rc = graft_shard_open(path, &sh, err, errlen);
            if (rc != GRAFT_OK)
                return rc;
            const char *why =
                sh.width != tb->width                   ? "row width differs from the manifest's"
                : sh.rows != tb->shards[s].rows         ? "row count differs from the manifest's"
                : sh.checksum != tb->shards[s].checksum ? "checksum differs from the manifest's"
                                                        : NULL;
            graft_shard_close(&sh);
            if (why) {
                snprintf(err, errlen, "%s: %s", path, why);
                return GRAFT_ERR_PARSE;
            }
        }
    }
    return GRAFT_OK;
}

const graft_manifest_table *
graft_manifest_find(const graft_manifest *m, const char *name)
{
    for (int t = 0; t < m->ntables; t++)
        if (strcmp(m->tables[t].name, name) == 0)
            return &m->tables[t];
    return NULL;
}
