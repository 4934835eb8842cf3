#include "domains.h"
#include "alloc.h"
#include "hash.h"
#include "keymap.h"
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Whether genre list (g, glen) holds one of the comma-separated names in list. */
static int
has_any(const char *g, size_t glen, const char *list)
{
    if (!list || !*list)
        return 0;
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        size_t i = 0;
        while (i < glen) {
            const char *bar = memchr(g + i, '|', glen - i);
            size_t e = bar ? (size_t)(bar - g) : glen;
            if (e - i == n && n && strncmp(g + i, p, n) == 0)
                return 1;
            i = e + 1;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

int
graft_genre_match(const char *genres, size_t len, const graft_genre_rule *rule)
{
    return has_any(genres, len, rule->include) && !has_any(genres, len, rule->exclude);
}

#define MAX_GENRES 64

/* Genre names of u.item's flags: from a u.genre file (name|index lines, any order), else the
 * standard order. names[i] points into *store (the caller frees it). */
static graft_err
genre_names(const char *path, char **store, const char *names[MAX_GENRES], int *n, char *err,
            size_t errlen)
{
    *n = 0;
    *store = NULL;
    char *text = NULL;
    if (!path) {
        text = strdup(GRAFT_GENRES_100K);
        if (!text)
            goto nomem;
        for (char *save = NULL, *t = strtok_r(text, "|", &save); t && *n < MAX_GENRES;
             t = strtok_r(NULL, "|", &save))
            names[(*n)++] = t;
        *store = text;
        return GRAFT_OK;
    }
    size_t len = 0;
    graft_err rrc = graft_store_read_all(path, &text, &len, err, errlen);
    if (rrc != GRAFT_OK)
        return rrc;
    for (int i = 0; i < MAX_GENRES; i++)
        names[i] = NULL;
    uint64_t lineno = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\r' || line[l - 1] == ' '))
            line[--l] = 0;
        if (!l)
            continue;
        char *bar = strrchr(line, '|'), *end;
        long idx = bar ? strtol(bar + 1, &end, 10) : -1;
        if (!bar || bar == line || *end || idx < 0 || idx >= MAX_GENRES || names[idx]) {
            snprintf(err, errlen, "%s:%llu: expected name|index, each index once, below %d", path,
                     (unsigned long long)lineno, MAX_GENRES);
            free(text);
            return GRAFT_ERR_PARSE;
        }
        *bar = 0;
        names[idx] = line;
        if (idx + 1 > *n)
            *n = (int)idx + 1;
    }
    for (int i = 0; i < *n; i++)
        if (!names[i]) {
            snprintf(err, errlen, "%s: no genre of index %d", path, i);
            free(text);
            return GRAFT_ERR_PARSE;
        }
    *store = text;
    return GRAFT_OK;
nomem:
    free(text);
    snprintf(err, errlen, "out of memory");
    return GRAFT_ERR_NOMEM;
}

/* A u.item line: id|title|date|video|url|f0|...|f(n-1), flags 0 or 1. Writes its genres as a
 * '|'-separated list into out; returns the id's length, or 0 when the line is not of this form. */
static size_t
item_line(const char *line, size_t len, const char *const *names, int n, char *out, size_t outlen)
{
    const char *f[MAX_GENRES + 6];
    size_t fl[MAX_GENRES + 6];
    int nf = 0;
    for (size_t a = 0; nf < MAX_GENRES + 6;) {
        const char *bar = memchr(line + a, '|', len - a);
        size_t e = bar ? (size_t)(bar - line) : len;
        f[nf] = line + a;
        fl[nf++] = e - a;
        if (!bar)
            break;
        a = e + 1;
    }
    /* A trailing '|' leaves an empty last field in some copies of the file. */
    if (nf > 0 && fl[nf - 1] == 0)
        nf--;
    if (nf != 5 + n || fl[0] == 0)
        return 0;
    size_t w = 0;
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        const char *v = f[5 + i];
        if (fl[5 + i] != 1 || (v[0] != '0' && v[0] != '1'))
            return 0;
        if (v[0] == '1' && w + strlen(names[i]) + 2 < outlen)
            w += (size_t)snprintf(out + w, outlen - w, "%s%s", w ? "|" : "", names[i]);
    }
    return fl[0];
}

graft_err
graft_domains_run(const graft_datafile *df, const char *movies_path, const char *genres_path,
                  const graft_genre_rule *src_rule, const graft_genre_rule *tgt_rule, FILE *source,
                  FILE *target, graft_domains_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    char *gstore = NULL;
    const char *names[MAX_GENRES];
    int ngenres = 0;
    graft_err grc = genre_names(genres_path, &gstore, names, &ngenres, err, errlen);
    if (grc != GRAFT_OK)
        return grc;
    FILE *mf = fopen(movies_path, "r");
    if (!mf) {
        snprintf(err, errlen, "%s: %s", movies_path, strerror(errno));
        free(gstore);
        return GRAFT_ERR_IO;
    }
    int pipes = -1; /* the format, from the first line: u.item (1) or movieId,title,genres (0) */
    char glist[4096];
    graft_keymap *which = NULL; /* movie key -> 1 source, 2 target, 3 both */
    graft_err rc = graft_keymap_create(1 << 14, &which);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t lineno = 0;
    while (rc == GRAFT_OK && (len = getline(&line, &cap, mf)) >= 0) {
        lineno++;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        size_t idlen = 0;
        if (pipes < 0)
            pipes = item_line(line, (size_t)len, names, ngenres, glist, sizeof glist) > 0;
        const char *g;
        size_t glen;
        if (pipes) {
            idlen = item_line(line, (size_t)len, names, ngenres, glist, sizeof glist);
            if (!idlen) {
                snprintf(err, errlen,
                         "%s:%llu: expected id|title|date|video|url| and %d genre flags (0 or 1)",
                         movies_path, (unsigned long long)lineno, ngenres);
                rc = GRAFT_ERR_PARSE;
                break;
            }
            g = glist;
            glen = strlen(glist);
        } else {
            /* movieId,title,genres: the title may be quoted and hold commas, so the id is what
             * precedes the first comma and the genres what follows the last. */
            char *first = memchr(line, ',', (size_t)len);
            char *last = memrchr(line, ',', (size_t)len);
            if (!first || first == last) {
                snprintf(err, errlen,
                         "%s:%llu: expected movieId,title,genres (or MovieLens 100K's u.item: "
                         "id|title|date|video|url| and %d genre flags)",
                         movies_path, (unsigned long long)lineno, ngenres);
                rc = GRAFT_ERR_PARSE;
                break;
            }
            if (lineno == 1 && strncasecmp(line, "movieid", 7) == 0)
                continue;
            idlen = (size_t)(first - line);
            g = last + 1;
            glen = (size_t)(line + len - g);
        }
        uint32_t flags = (graft_genre_match(g, glen, src_rule) ? 1u : 0u) |
                         (graft_genre_match(g, glen, tgt_rule) ? 2u : 0u);
        res->movies++;
        res->source_movies += flags & 1;
        res->target_movies += flags >> 1;
        uint32_t got;
        int ins;
        rc = graft_keymap_upsert(which, graft_hash_id(line, idlen), flags, &got, &ins);
    }
    free(line);
    fclose(mf);
    free(gstore);
    if (rc != GRAFT_OK) {
        if (rc == GRAFT_ERR_NOMEM)
            snprintf(err, errlen, "out of memory");
        goto out;
    }
    graft_str h = graft_datafile_header(df);
    if (h.len) {
        fprintf(source, "%.*s\n", (int)h.len, h.p);
        fprintf(target, "%.*s\n", (int)h.len, h.p);
    }
    graft_cursor c;
    graft_datafile_cursor(df, 0, 1, &c);
    for (;;) {
        graft_record rec;
        int got_rec;
        rc = graft_datafile_next(df, &c, &rec, &got_rec, err, errlen);
        if (rc != GRAFT_OK || !got_rec)
            break;
        uint32_t flags = 0;
        graft_keymap_get(which, graft_hash_id(rec.item.p, rec.item.len), &flags);
        if (flags & 1) {
            fprintf(source, "%.*s\n", (int)rec.line.len, rec.line.p);
            res->source_ratings++;
        }
        if (flags & 2) {
            fprintf(target, "%.*s\n", (int)rec.line.len, rec.line.p);
            res->target_ratings++;
        }
        if (!flags)
            res->other_ratings++;
    }
out:
    graft_keymap_destroy(&which);
    return rc;
}
