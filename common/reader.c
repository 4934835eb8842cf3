#include "reader.h"
#include "alloc.h"
#include "hash.h"
#include "iddict.h"
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FIELDS 32

struct graft_datafile {
    char *name;
    const char *data;
    size_t size;
    int mapped;
    graft_format fmt;
    int ucol, icol, rcol, nfields_min;
    graft_str header;
    size_t body; /* offset of the first line after the header */
};

typedef struct {
    graft_str f[MAX_FIELDS];
    int n;
} fields;

static graft_str
trim(const char *p, size_t len)
{
    while (len && (*p == ' ' || *p == '\t' || *p == '\r')) {
        p++;
        len--;
    }
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
        len--;
    if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
        p++;
        len -= 2;
    }
    return (graft_str){p, len};
}

static void
split_fields(graft_format fmt, const char *line, size_t len, fields *out)
{
    out->n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        int sep = 0, skip = 1;
        if (i == len)
            sep = 1;
        else if (fmt == GRAFT_FMT_CSV && line[i] == ',')
            sep = 1;
        else if (fmt == GRAFT_FMT_TSV && line[i] == '\t')
            sep = 1;
        else if (fmt == GRAFT_FMT_DAT && line[i] == ':' && i + 1 < len && line[i + 1] == ':') {
            sep = 1;
            skip = 2;
        }
        if (!sep)
            continue;
        if (out->n < MAX_FIELDS)
            out->f[out->n++] = trim(line + start, i - start);
        start = i + skip;
        i += skip - 1;
    }
}

/* [+-] digits [. digits] [e [+-] digits], with a digit somewhere before any exponent: strtod
 * alone would also take hexadecimal ("0x10" as 16), "inf" and "nan". */
static int
decimal(const char *p)
{
    int digits = 0;
    if (*p == '+' || *p == '-')
        p++;
    for (; isdigit((unsigned char)*p); p++)
        digits++;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            digits++;
    if (!digits)
        return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return *p == 0;
}

/* A field that reads as a number of any kind (an id such as "1" or a rating). */
static int
numeric(graft_str s)
{
    char buf[64];
    if (s.len == 0 || s.len >= sizeof buf)
        return 0;
    memcpy(buf, s.p, s.len);
    buf[s.len] = 0;
    return decimal(buf);
}

static int
parse_rating(graft_str s, float *out, const char **why)
{
    char buf[64];
    if (s.len == 0) {
        *why = "empty rating";
        return 0;
    }
    if (s.len >= sizeof buf) {
        *why = "rating is not a number";
        return 0;
    }
    memcpy(buf, s.p, s.len);
    buf[s.len] = 0;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end == buf || *end) {
        *why = "rating is not a number";
        return 0;
    }
    if (!isfinite(v)) {
        *why = "rating is not finite";
        return 0;
    }
    if (!decimal(buf)) {
        *why = "rating is not a decimal number";
        return 0;
    }
    if (fabs(v) > GRAFT_MAX_ABS_RATING) {
        *why = "rating is out of range";
        return 0;
    }
    *out = (float)v;
    return 1;
}

static int
name_matches(graft_str s, const char *const *names)
{
    for (; *names; names++) {
        size_t n = strlen(*names);
        for (size_t i = 0; i + n <= s.len; i++)
            if (strncasecmp(s.p + i, *names, n) == 0)
                return 1;
    }
    return 0;
}

/* Finds the end of the line starting at pos; sets *next to the start of the following one. */
static size_t
line_end(const char *data, size_t size, size_t pos, size_t *next)
{
    const char *nl = memchr(data + pos, '\n', size - pos);
    size_t e = nl ? (size_t)(nl - data) : size;
    *next = nl ? e + 1 : size;
    if (e > pos && data[e - 1] == '\r')
        e--;
    return e;
}

static graft_err
detect_layout(graft_datafile *df, graft_format fmt, char *err, size_t errlen)
{
    size_t pos = 0, next;
    uint64_t lineno = 0;
    /* A UTF-8 byte order mark is never part of an id: the body starts after it. */
    if (df->size >= 3 && memcmp(df->data, "\xef\xbb\xbf", 3) == 0)
        pos = df->body = 3;
    /* The first non-blank line decides the separator and whether there is a header. */
    for (;;) {
        if (pos >= df->size) {
            snprintf(err, errlen, "%s: no ratings in the file", df->name);
            return GRAFT_ERR_PARSE;
        }
        size_t e = line_end(df->data, df->size, pos, &next);
        lineno++;
        graft_str t = trim(df->data + pos, e - pos);
        if (t.len)
            break;
        pos = next;
    }
    size_t e = line_end(df->data, df->size, pos, &next);
    const char *line = df->data + pos;
    size_t len = e - pos;
    if (fmt == GRAFT_FMT_AUTO) {
        if (memmem(line, len, "::", 2))
            fmt = GRAFT_FMT_DAT;
        else if (memchr(line, '\t', len))
            fmt = GRAFT_FMT_TSV;
        else if (memchr(line, ',', len))
            fmt = GRAFT_FMT_CSV;
        else {
            snprintf(err, errlen,
                     "%s:%llu: cannot tell the format (no ',', tab or '::'); give --format",
                     df->name, (unsigned long long)lineno);
            return GRAFT_ERR_PARSE;
        }
    }
    df->fmt = fmt;
    fields f;
    split_fields(fmt, line, len, &f);
    df->ucol = 0;
    df->icol = 1;
    df->rcol = 2;
    float r;
    const char *why;
    /* A header is a line whose rating field is not a number and that looks like names: no field
     * of it is a number. "1<TAB>2<TAB>five" is a malformed first rating, reported as FILE:1. */
    int names = f.n >= 2;
    for (int k = 0; k < f.n && names; k++)
        if (numeric(f.f[k]))
            names = 0;
    static const char *const unames[] = {"user", NULL};
    static const char *const inames[] = {"item", "movie", "book", "product", NULL};
    if (f.n == 2) {
        /* Implicit feedback: (user, item) pairs, each one positive of value 1. Ids may be words,
         * so a header must name both columns. */
        df->rcol = -1;
        if (names && name_matches(f.f[0], unames) && name_matches(f.f[1], inames)) {
            df->header = (graft_str){line, len};
            df->body = next;
        } else {
            df->header = (graft_str){line, 0};
        }
        df->nfields_min = 2;
        return GRAFT_OK;
    }
    if (names && f.n >= 3 && !parse_rating(f.f[2], &r, &why)) {
        /* A header: honour its column names where it has them. */
        static const char *const rnames[] = {"rating", "score", NULL};
        int u = -1, it = -1, rc = -1;
        for (int k = 0; k < f.n; k++) {
            if (u < 0 && name_matches(f.f[k], unames))
                u = k;
            else if (it < 0 && name_matches(f.f[k], inames))
                it = k;
            else if (rc < 0 && name_matches(f.f[k], rnames))
                rc = k;
        }
        if (u >= 0 && it >= 0 && rc >= 0) {
            df->ucol = u;
            df->icol = it;
            df->rcol = rc;
        }
        df->header = (graft_str){line, len};
        df->body = next;
    } else {
        df->header = (graft_str){line, 0};
    }
    df->nfields_min = 1 + (df->ucol > df->icol ? df->ucol : df->icol);
    if (df->rcol + 1 > df->nfields_min)
        df->nfields_min = df->rcol + 1;
    return GRAFT_OK;
}

graft_err
graft_datafile_open_mem(const char *name, const char *buf, size_t len, graft_format fmt,
                        graft_datafile **out, char *err, size_t errlen)
{
    *out = NULL;
    graft_datafile *df = graft_calloc(1, sizeof *df);
    if (!df || !(df->name = graft_strdup(name))) {
        graft_free(df);
        snprintf(err, errlen, "%s: out of memory", name);
        return GRAFT_ERR_NOMEM;
    }
    df->data = buf;
    df->size = len;
    graft_err rc = detect_layout(df, fmt, err, errlen);
    if (rc != GRAFT_OK)
        graft_datafile_close(&df);
    *out = df;
    return rc;
}

graft_err
graft_datafile_open(const char *path, graft_format fmt, graft_datafile **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    int fd;
    graft_err orc = graft_store_open_regular(path, &fd, err, errlen);
    if (orc != GRAFT_OK)
        return orc;
    struct stat st;
    const char *data = "";
    graft_err rc = GRAFT_OK;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = GRAFT_ERR_IO;
    } else if (st.st_size > 0 && (data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd,
                                              0)) == MAP_FAILED) {
        snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
        rc = GRAFT_ERR_IO;
    }
    close(fd);
    if (rc == GRAFT_OK)
        rc = graft_datafile_open_mem(path, data, (size_t)st.st_size, fmt, out, err, errlen);
    if (rc == GRAFT_OK)
        (*out)->mapped = st.st_size > 0;
    else if (data != MAP_FAILED && st.st_size > 0)
        munmap((void *)data, (size_t)st.st_size);
    return rc;
}

void
graft_datafile_close(graft_datafile **df)
{
    if (!df || !*df)
        return;
    if ((*df)->mapped)
        munmap((void *)(*df)->data, (*df)->size);
    graft_free((*df)->name);
    graft_free(*df);
    *df = NULL;
}

graft_format
graft_datafile_format(const graft_datafile *df)
{
    return df->fmt;
}

graft_str
graft_datafile_header(const graft_datafile *df)
{
    return df->header;
}

const char *
graft_datafile_name(const graft_datafile *df)
{
    return df->name;
}

static uint64_t
count_lines(const char *p, size_t n)
{
    uint64_t c = 0;
    const char *end = p + n;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
        c++;
        p++;
    }
    return c;
}

void
graft_datafile_cursor(const graft_datafile *df, int part, int nparts, graft_cursor *c)
{
    size_t begin = (size_t)((unsigned __int128)df->size * (unsigned)part / (unsigned)nparts);
    size_t end = (size_t)((unsigned __int128)df->size * (unsigned)(part + 1) / (unsigned)nparts);
    /* A line belongs to the part holding its first byte: skip a line begun in the part before.
     * The body's first line starts a line too, though no newline precedes it after a byte
     * order mark (a part starting there would otherwise skip it, and no part would read it). */
    if (begin <= df->body) {
        begin = df->body;
    } else if (df->data[begin - 1] != '\n') {
        const char *nl = memchr(df->data + begin, '\n', df->size - begin);
        begin = nl ? (size_t)(nl - df->data) + 1 : df->size;
    }
    c->pos = begin;
    c->end = end > begin ? end : begin;
    c->lineno = count_lines(df->data, begin);
}

graft_err
graft_datafile_next(const graft_datafile *df, graft_cursor *c, graft_record *rec, int *got,
                    char *err, size_t errlen)
{
    *got = 0;
    while (c->pos < c->end && c->pos < df->size) {
        size_t next;
        size_t e = line_end(df->data, df->size, c->pos, &next);
        const char *line = df->data + c->pos;
        size_t len = e - c->pos;
        c->pos = next;
        c->lineno++;
        const char *why = NULL;
        if (len > GRAFT_MAX_LINE)
            why = "line is longer than 65536 bytes";
        else if (memchr(line, 0, len))
            why = "line holds a NUL byte";
        if (why)
            goto bad;
        graft_str t = trim(line, len);
        if (t.len == 0)
            continue;
        fields f;
        split_fields(df->fmt, line, len, &f);
        if (f.n < df->nfields_min) {
            snprintf(err, errlen, "%s:%llu: expected at least %d fields, found %d", df->name,
                     (unsigned long long)c->lineno, df->nfields_min, f.n);
            return GRAFT_ERR_PARSE;
        }
        rec->user = f.f[df->ucol];
        rec->item = f.f[df->icol];
        if (rec->user.len == 0)
            why = "empty user id";
        else if (rec->item.len == 0)
            why = "empty item id";
        else if (df->rcol < 0)
            rec->rating = 1;
        else
            parse_rating(f.f[df->rcol], &rec->rating, &why);
        if (why)
            goto bad;
        rec->line = (graft_str){line, len};
        rec->lineno = c->lineno;
        *got = 1;
        return GRAFT_OK;
    bad:
        snprintf(err, errlen, "%s:%llu: %s", df->name, (unsigned long long)c->lineno, why);
        return GRAFT_ERR_PARSE;
    }
    return GRAFT_OK;
}

graft_err
graft_ratings_append(graft_ratings *r, graft_rating x)
{
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 1024;
        graft_rating *nv = graft_realloc_array(r->v, ncap, sizeof *nv);
        if (!nv)
            return GRAFT_ERR_NOMEM;
        r->v = nv;
        r->cap = ncap;
    }
    r->v[r->n++] = x;
    return GRAFT_OK;
}

graft_err
graft_ratings_push(graft_ratings *r, uint64_t user, uint64_t item, float rating)
{
    return graft_ratings_append(r, (graft_rating){user, item, rating, 0});
}

void
graft_ratings_free(graft_ratings *r)
{
    graft_free(r->v);
    r->v = NULL;
    r->n = r->cap = 0;
}

graft_err
graft_ratings_load(const graft_datafile *df, int part, int nparts, int skip_bad, graft_ratings *out,
                   uint64_t *bad_lines, struct graft_iddict *users, struct graft_iddict *items,
                   char *err, size_t errlen)
{
    graft_cursor c;
    graft_datafile_cursor(df, part, nparts, &c);
    char msg[512];
    for (;;) {
        graft_record rec;
        int got;
        graft_err rc = graft_datafile_next(df, &c, &rec, &got, msg, sizeof msg);
        if (rc == GRAFT_ERR_PARSE) {
            if (*bad_lines == 0 || !skip_bad)
                snprintf(err, errlen, "%s", msg);
            (*bad_lines)++;
            if (!skip_bad)
                return rc;
            continue;
        }
        if (!got)
            break;
        uint64_t u = graft_hash_id(rec.user.p, rec.user.len);
        uint64_t i = graft_hash_id(rec.item.p, rec.item.len);
        rc = graft_ratings_push(out, u, i, rec.rating);
        if (rc == GRAFT_OK && users)
            rc = graft_iddict_add(users, u, rec.user.p, rec.user.len);
        if (rc == GRAFT_OK && items)
            rc = graft_iddict_add(items, i, rec.item.p, rec.item.len);
        if (rc != GRAFT_OK) {
            snprintf(err, errlen, "%s: out of memory after %zu ratings", df->name, out->n);
            return rc;
        }
    }
    return GRAFT_OK;
}

graft_err
graft_pairs_load(const char *path, uint64_t **src, uint64_t **dst, size_t *n, char *err,
                 size_t errlen)
{
    *src = *dst = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return GRAFT_ERR_IO;
    }
    char *line = NULL;
    size_t cap = 0, have = 0;
    ssize_t len;
    uint64_t lineno = 0;
    graft_err rc = GRAFT_OK;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        graft_str t = trim(line, (size_t)len);
        while (t.len && (t.p[t.len - 1] == '\n' || t.p[t.len - 1] == '\r'))
            t.len--;
        if (!t.p || t.len == 0 || t.p[0] == '#')
            continue;
        graft_format fmt = memmem(t.p, t.len, "::", 2) ? GRAFT_FMT_DAT
                           : memchr(t.p, '\t', t.len)  ? GRAFT_FMT_TSV
                                                       : GRAFT_FMT_CSV;
        fields fs;
        split_fields(fmt, t.p, t.len, &fs);
        if (fs.n != 2 || fs.f[0].len == 0 || fs.f[1].len == 0) {
            snprintf(err, errlen, "%s:%llu: expected two ids (source id, target id)", path,
                     (unsigned long long)lineno);
            rc = GRAFT_ERR_PARSE;
            break;
        }
        if (*n == have) {
            have = have ? have * 2 : 1024;
            uint64_t *a = graft_realloc_array(*src, have, sizeof *a);
            uint64_t *b = a ? graft_realloc_array(*dst, have, sizeof *b) : NULL;
            if (a)
                *src = a;
            if (b)
                *dst = b;
            if (!a || !b) {
                snprintf(err, errlen, "%s: out of memory", path);
                rc = GRAFT_ERR_NOMEM;
                break;
            }
        }
        (*src)[*n] = graft_hash_id(fs.f[0].p, fs.f[0].len);
        (*dst)[*n] = graft_hash_id(fs.f[1].p, fs.f[1].len);
        (*n)++;
    }
    free(line);
    fclose(f);
    if (rc != GRAFT_OK) {
        graft_free(*src);
        graft_free(*dst);
        *src = *dst = NULL;
        *n = 0;
    }
    return rc;
}
