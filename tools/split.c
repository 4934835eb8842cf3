#include "split.h"
#include "alloc.h"
#include "hash.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t user, draw;
    uint64_t line; /* ordinal among the good records */
} entry;

static int
by_user_then_draw(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    if (x->draw != y->draw)
        return x->draw < y->draw ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* Visits every good record in file order; marks[i] says where record i goes when given. */
static graft_err
pass(const graft_datafile *df, const graft_split_opts *o, entry **entries, size_t *n,
     const uint8_t *marks, FILE *train, FILE *test, graft_split_result *res, char *err,
     size_t errlen)
{
    graft_cursor c;
    graft_datafile_cursor(df, 0, 1, &c);
    graft_rng rng;
    graft_rng_seed(&rng, o->seed);
    size_t cap = 0, i = 0;
    char msg[512];
    for (;;) {
        graft_record rec;
        int got;
        graft_err rc = graft_datafile_next(df, &c, &rec, &got, msg, sizeof msg);
        if (rc == GRAFT_ERR_PARSE) {
            if (!o->skip_bad) {
                snprintf(err, errlen, "%s", msg);
                return rc;
            }
            if (!marks)
                res->bad_lines++;
            continue;
        }
        if (!got)
            break;
        if (entries) {
            if (i == cap) {
                cap = cap ? cap * 2 : 4096;
                entry *ne = graft_realloc_array(*entries, cap, sizeof *ne);
                if (!ne) {
                    snprintf(err, errlen, "out of memory");
                    return GRAFT_ERR_NOMEM;
                }
                *entries = ne;
            }
            (*entries)[i] =
                (entry){graft_hash_id(rec.user.p, rec.user.len), graft_rng_next(&rng), i};
        } else {
            int to_test = marks ? marks[i] : graft_rng_uniform(&rng) < o->fraction;
            FILE *f = to_test ? test : train;
            fwrite(rec.line.p, 1, rec.line.len, f);
            fputc('\n', f);
            if (to_test)
                res->test++;
            else
                res->train++;
        }
        i++;
    }
    *n = i;
    return GRAFT_OK;
}

graft_err
graft_split_run(const graft_datafile *df, const graft_split_opts *o, FILE *train, FILE *test,
                graft_split_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    graft_str h = graft_datafile_header(df);
    if (h.len) {
        fprintf(train, "%.*s\n", (int)h.len, h.p);
        fprintf(test, "%.*s\n", (int)h.len, h.p);
    }
    size_t n = 0;
    if (!o->per_user)
        return pass(df, o, NULL, &n, NULL, train, test, res, err, errlen);
    entry *e = NULL;
    uint8_t *marks = NULL;
    graft_err rc = pass(df, o, &e, &n, NULL, NULL, NULL, res, err, errlen);
    if (rc != GRAFT_OK)
        goto done;
    marks = graft_calloc(n ? n : 1, 1);
    if (!marks) {
        rc = GRAFT_ERR_NOMEM;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    qsort(e, n, sizeof *e, by_user_then_draw);
    for (size_t a = 0; a < n;) {
        size_t b = a;
        while (b < n && e[b].user == e[a].user)
            b++;
        size_t take = (size_t)((double)(b - a) * o->fraction + 0.5);
        for (size_t k = a; k < a + take; k++)
            marks[e[k].line] = 1;
        a = b;
    }
    rc = pass(df, o, NULL, &n, marks, train, test, res, err, errlen);
done:
    graft_free(e);
    graft_free(marks);
    return rc;
}
