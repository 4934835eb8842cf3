#include "manifest.h"
#include "alloc.h"
#include "hash.h"
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Version 2 added the checksum line; version 1 manifests had none and are refused. */
#define VERSION 2
#define MAX_BYTES (16u << 20)
#define CHECKSUM_KEY "\"checksum\":\""

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
            "{\"format\":\"graft-model\",\"version\":%d,\"key_hash\":\"fnv1a64+splitmix64 of the "
            "id\",\"sharding\":\"graft_shard_of_key\",\"dim\":%d,\"servers\":%d",
            VERSION, m->dim, m->servers);
    if (m->has_data)
        fprintf(f, ",\"data_ratings\":%" PRIu64 ",\"data_hash\":\"%016" PRIx64 "\"",
                m->data_ratings, m->data_hash);
    if (m->has_cold)
        fprintf(f, ",\"cold_users_checksum\":\"%016" PRIx64 "\"", m->cold_checksum);
    if (m->loss[0])
        fprintf(f, ",\"loss\":\"%s\",\"unobserved_weight\":%.9g,\"reg\":%.9g,\"confidence\":%.9g",
                m->loss, m->w0, m->reg, m->confidence);
    if (m->transfer[0])
        fprintf(f, ",\"transfer\":\"%s\"", m->transfer);
    if (m->has_select) {
        uint64_t fb, sb;
        memcpy(&fb, &m->valid_fraction, 8);
        memcpy(&sb, &m->best_score, 8);
        fprintf(f,
                ",\"validation_fraction\":\"%016" PRIx64 "\",\"best_epoch\":%d,"
                "\"best_score\":\"%016" PRIx64 "\"",
                fb, m->best_epoch, sb);
    }
    fprintf(f, ",\n\"domains\":[");
    for (int d = 0; d < m->ndomains; d++) {
        fprintf(f, "%s\n{\"name\":\"%s\",\"mu\":%.9g,\"rmin\":%.9g,\"rmax\":%.9g", d ? "," : "",
                m->domains[d].name, m->domains[d].mu, m->domains[d].rmin, m->domains[d].rmax);
        if (m->domains[d].warm[0])
            fprintf(f, ",\"warm\":\"%s\"", m->domains[d].warm);
        if (m->loss[0])
            fprintf(f, ",\"weight\":%.9g", m->domains[d].weight);
        fprintf(f, "}");
    }
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
    fprintf(f, "\n],\n");
    if (fflush(f) != 0) {
        fclose(f);
        free(text);
        snprintf(err, errlen, "out of memory");
        return GRAFT_ERR_NOMEM;
    }
    /* The checksum covers every byte before its own line. */
    fprintf(f, CHECKSUM_KEY "%016" PRIx64 "\"}\n", graft_checksum64(text, len, 0));
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
    if (lineno > 0)
        snprintf(err, errlen, "%s:%d: malformed manifest: %s", path, lineno, why);
    else
        snprintf(err, errlen, "%s: malformed manifest: %s", path, why);
    return GRAFT_ERR_PARSE;
}

/* A name that is safe as a table name or a file inside the model folder. */
static int
plain_name(const char *s)
{
    if (!s[0] || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return 0;
    return 1;
}

/* Reads the whole file and checks its last line's checksum against every byte before it. */
static graft_err
read_checked(const char *path, char **text, size_t *body, char *err, size_t errlen)
{
    *text = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s (not a saved model?)", path, strerror(errno));
        return GRAFT_ERR_IO;
    }
    char *buf = graft_malloc(MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAX_BYTES + 1, f) : 0;
    int ioerr = ferror(f);
    fclose(f);
    graft_err rc = GRAFT_OK;
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        rc = GRAFT_ERR_NOMEM;
        goto out;
    }
    buf[n < MAX_BYTES ? n : MAX_BYTES] = 0;
    const char *why = NULL;
    uint64_t want = 0;
    char *line = NULL;
    if (ioerr)
        why = "cannot be read";
    else if (n > MAX_BYTES)
        why = "larger than 16 MB";
    else if (n < 2 || buf[n - 1] != '\n')
        why = "truncated (no final line)";
    if (!why) {
        buf[n - 1] = 0;
        line = strrchr(buf, '\n');
        line = line ? line + 1 : buf;
        buf[n - 1] = '\n';
        if (strncmp(line, CHECKSUM_KEY, strlen(CHECKSUM_KEY)) != 0) {
            why = strstr(buf, "\"version\":1,") ? "written by an older Graft (version 1, without "
                                                  "a checksum): save the model again"
                                                : "no checksum line at the end (truncated?)";
        } else {
            char tail[8];
            if (sscanf(line + strlen(CHECKSUM_KEY), "%16" SCNx64 "%7s", &want, tail) != 2 ||
                strcmp(tail, "\"}") != 0 ||
                (size_t)(line - buf) + strlen(CHECKSUM_KEY) + 16 + 3 != n)
                why = "malformed checksum line";
            else if (graft_checksum64(buf, (size_t)(line - buf), 0) != want)
                why = "checksum mismatch (the file was edited or corrupted)";
        }
    }
    if (why) {
        rc = bad(path, 0, why, err, errlen);
        graft_free(buf);
        goto out;
    }
    *text = buf;
    *body = (size_t)(line - buf);
out:
    return rc;
}

/* Reads "key":"16 hex digits" from line into *v; 1 when present and well formed, 0 absent,
 * -1 malformed. */
static int
hex_field(const char *line, const char *key, uint64_t *v)
{
    const char *p = strstr(line, key);
    if (!p)
        return 0;
    char end;
    return sscanf(p + strlen(key), "%16" SCNx64 "%c", v, &end) == 2 && end == '"' ? 1 : -1;
}

graft_err
graft_manifest_read(const char *dir, graft_manifest *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    char *text;
    size_t body;
    graft_err rc = read_checked(path, &text, &body, err, errlen);
    if (rc != GRAFT_OK)
        return rc;
    int lineno = 0, have_header = 0;
    char *save = NULL;
    text[body] = 0; /* the checksum line is done with */
    for (char *line = strtok_r(text, "\n", &save); rc == GRAFT_OK && line;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        const char *p;
        if (lineno == 1) {
            int version = 0;
            if (!strstr(line, "\"format\":\"graft-model\"") ||
                !(p = strstr(line, "\"version\":")) || sscanf(p, "\"version\":%d", &version) != 1 ||
                version != VERSION || !(p = strstr(line, "\"dim\":")) ||
                sscanf(p, "\"dim\":%d", &m->dim) != 1 || !(p = strstr(line, "\"servers\":")) ||
                sscanf(p, "\"servers\":%d", &m->servers) != 1) {
                rc = bad(path, lineno, "not a graft-model version 2 header", err, errlen);
                break;
            }
            if (m->dim < 1 || m->dim > 4096 || m->servers < 1 || m->servers > 65536) {
                rc = bad(path, lineno, "dim or servers out of range", err, errlen);
                break;
            }
            if ((p = strstr(line, "\"data_ratings\":"))) {
                m->has_data = 1;
                if (sscanf(p, "\"data_ratings\":%" SCNu64, &m->data_ratings) != 1 ||
                    hex_field(line, "\"data_hash\":\"", &m->data_hash) != 1) {
                    rc = bad(path, lineno, "bad data identity", err, errlen);
                    break;
                }
            }
            int c = hex_field(line, "\"cold_users_checksum\":\"", &m->cold_checksum);
            if (c < 0) {
                rc = bad(path, lineno, "bad cold_users_checksum", err, errlen);
                break;
            }
            m->has_cold = c;
            if ((p = strstr(line, "\"loss\":\""))) {
                const char *q;
                if (sscanf(p, "\"loss\":\"%15[^\"]\"", m->loss) != 1 ||
                    (strcmp(m->loss, "ials") != 0 && strcmp(m->loss, "bpr") != 0) ||
                    !(q = strstr(line, "\"unobserved_weight\":")) ||
                    sscanf(q, "\"unobserved_weight\":%lf", &m->w0) != 1 ||
                    !(q = strstr(line, "\"reg\":")) || sscanf(q, "\"reg\":%lf", &m->reg) != 1 ||
                    !(q = strstr(line, "\"confidence\":")) ||
                    sscanf(q, "\"confidence\":%lf", &m->confidence) != 1 || !(m->w0 >= 0) ||
                    !(m->reg >= 0) || !(m->confidence >= 0) ||
                    !isfinite(m->w0 + m->reg + m->confidence)) {
                    rc = bad(path, lineno, "bad loss or fold-in settings", err, errlen);
                    break;
                }
            }
            if ((p = strstr(line, "\"transfer\":\"")) &&
                (sscanf(p, "\"transfer\":\"%15[^\"]\"", m->transfer) != 1 ||
                 !plain_name(m->transfer))) {
                rc = bad(path, lineno, "bad transfer mode", err, errlen);
                break;
            }
            if ((p = strstr(line, "\"best_epoch\":"))) {
                uint64_t fb = 0, sb = 0;
                m->has_select = 1;
                if (sscanf(p, "\"best_epoch\":%d", &m->best_epoch) != 1 || m->best_epoch < 0 ||
                    hex_field(line, "\"validation_fraction\":\"", &fb) != 1 ||
                    hex_field(line, "\"best_score\":\"", &sb) != 1) {
                    rc = bad(path, lineno, "bad validation record", err, errlen);
                    break;
                }
                memcpy(&m->valid_fraction, &fb, 8);
                memcpy(&m->best_score, &sb, 8);
                if (!(m->valid_fraction > 0 && m->valid_fraction < 1)) {
                    rc = bad(path, lineno, "validation_fraction out of range", err, errlen);
                    break;
                }
            }
            have_header = 1;
        } else if (strncmp(line, "{\"name\":\"", 9) == 0 && strstr(line, "\"mu\":")) {
            if (m->ndomains == 2) {
                rc = bad(path, lineno, "more than two domains", err, errlen);
                break;
            }
            graft_manifest_domain *d = &m->domains[m->ndomains];
            int used = 0;
            int ok = sscanf(line, "{\"name\":\"%15[^\"]\",\"mu\":%lf,\"rmin\":%lf,\"rmax\":%lf%n",
                            d->name, &d->mu, &d->rmin, &d->rmax, &used) == 4;
            if (ok && strncmp(line + used, ",\"warm\":\"", 9) == 0) {
                int more = 0;
                ok = sscanf(line + used, ",\"warm\":\"%31[^\"]\"%n", d->warm, &more) == 1 && more;
                used += more;
            }
            d->weight = 1;
            if (ok && m->loss[0]) {
                int more = 0;
                ok = sscanf(line + used, ",\"weight\":%lf%n", &d->weight, &more) == 1 && more &&
                     isfinite(d->weight) && d->weight >= 0;
                used += more;
            }
            if (!ok || line[used] != '}') {
                rc = bad(path, lineno, "bad domain", err, errlen);
                break;
            }
            if (!plain_name(d->name) || (d->warm[0] && !plain_name(d->warm)) || !isfinite(d->mu) ||
                !isfinite(d->rmin) || !isfinite(d->rmax) || d->rmin > d->mu || d->mu > d->rmax) {
                rc = bad(path, lineno, "domain mean or rating range out of range", err, errlen);
                break;
            }
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
            /* Rows are dim factors and one or two biases, twice that with AdaGrad's state in a
             * checkpoint. */
            if (!plain_name(t->name) || t->width < 1 || t->width > 2 * (uint32_t)m->dim + 4 ||
                t->rows > ((uint64_t)1 << 40)) {
                rc = bad(path, lineno, "table name, width or rows out of range", err, errlen);
                break;
            }
            for (int o = 0; o + 1 < m->ntables; o++)
                if (strcmp(m->tables[o].name, t->name) == 0)
                    rc = bad(path, lineno, "a table named twice", err, errlen);
            if (rc != GRAFT_OK)
                break;
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
                    !plain_name(s->file) || s->rows > t->rows) {
                    rc = bad(path, lineno, "bad shard entry", err, errlen);
                    break;
                }
                sum += s->rows;
            }
            if (rc == GRAFT_OK && (t->nshards == 0 || sum != t->rows))
                rc = bad(path, lineno, "shard rows do not add up to the table's", err, errlen);
        }
    }
    graft_free(text);
    if (rc == GRAFT_OK && (!have_header || m->ntables == 0))
        rc = bad(path, lineno, "no tables", err, errlen);
    for (int d = 0; rc == GRAFT_OK && d < m->ndomains; d++)
        for (int o = 0; o < d; o++)
            if (strcmp(m->domains[o].name, m->domains[d].name) == 0)
                rc = bad(path, 0, "a domain named twice", err, errlen);
    if (rc != GRAFT_OK)
        graft_manifest_free(m);
    return rc;
}

graft_err
graft_manifest_verify(const char *dir, const graft_manifest *m, char *err, size_t errlen)
{
    graft_err rc = GRAFT_OK;
    for (int t = 0; rc == GRAFT_OK && t < m->ntables; t++) {
        const graft_manifest_table *tb = &m->tables[t];
        for (int s = 0; rc == GRAFT_OK && s < tb->nshards; s++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, tb->shards[s].file);
            graft_shard sh;
            if ((rc = graft_shard_open(path, &sh, err, errlen)) != GRAFT_OK)
                break;
            const char *why =
                sh.width != tb->width                   ? "row width differs from the manifest's"
                : sh.rows != tb->shards[s].rows         ? "row count differs from the manifest's"
                : sh.checksum != tb->shards[s].checksum ? "checksum differs from the manifest's"
                                                        : NULL;
            graft_shard_close(&sh);
            if (why) {
                snprintf(err, errlen, "%s: %s", path, why);
                rc = GRAFT_ERR_PARSE;
            }
        }
    }
    return rc;
}

const graft_manifest_table *
graft_manifest_find(const graft_manifest *m, const char *name)
{
    for (int t = 0; t < m->ntables; t++)
        if (strcmp(m->tables[t].name, name) == 0)
            return &m->tables[t];
    return NULL;
}

const graft_manifest_table *
graft_manifest_find_domain(const graft_manifest *m, const char *domain, const char *kind,
                           int plain_too)
{
    char name[80];
    snprintf(name, sizeof name, "%s.%s", domain, kind);
    const graft_manifest_table *t = graft_manifest_find(m, name);
    return t || !plain_too ? t : graft_manifest_find(m, kind);
}
