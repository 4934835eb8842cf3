#include "domains.h"
#include "alloc.h"
#include "hash.h"
#include "keymap.h"

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

graft_err
graft_domains_run(const graft_datafile *df, const char *movies_path,
                  const graft_genre_rule *src_rule, const graft_genre_rule *tgt_rule, FILE *source,
                  FILE *target, graft_domains_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    FILE *mf = fopen(movies_path, "r");
    if (!mf) {
        snprintf(err, errlen, "%s: %s", movies_path, strerror(errno));
        return GRAFT_ERR_IO;
    }
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
        /* movieId,title,genres: the title may be quoted and hold commas, so the id is what
         * precedes the first comma and the genres what follows the last. */
        char *first = memchr(line, ',', (size_t)len);
        char *last = memrchr(line, ',', (size_t)len);
        if (!first || first == last) {
            snprintf(err, errlen, "%s:%llu: expected movieId,title,genres", movies_path,
                     (unsigned long long)lineno);
            rc = GRAFT_ERR_PARSE;
            break;
        }
        if (lineno == 1 && strncasecmp(line, "movieid", 7) == 0)
            continue;
        const char *g = last + 1;
        size_t glen = (size_t)(line + len - g);
        uint32_t flags = (graft_genre_match(g, glen, src_rule) ? 1u : 0u) |
                         (graft_genre_match(g, glen, tgt_rule) ? 2u : 0u);
        res->movies++;
        res->source_movies += flags & 1;
        res->target_movies += flags >> 1;
        uint32_t got;
        int ins;
        rc = graft_keymap_upsert(which, graft_hash_id(line, (size_t)(first - line)), flags, &got,
                                 &ins);
    }
    free(line);
    fclose(mf);
    if (rc != GRAFT_OK) {
        if (rc == GRAFT_ERR_NOMEM)
            snprintf(err, errlen, "out of memory");
        graft_keymap_destroy(&which);
        return rc;
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
    graft_keymap_destroy(&which);
    return rc;
}
