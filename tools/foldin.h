/* Fold-in: rows for users a model never trained, from their interactions, by the iALS user
 * step against the saved item rows (one regularised least-squares solve per user), so that
 * graft recommend and graft eval answer them like trained users. */
#ifndef GRAFT_FOLDIN_H
#define GRAFT_FOLDIN_H

#include "err.h"
#include "serve.h"

#include <stddef.h>
#include <stdint.h>

typedef struct graft_foldin graft_foldin;

/* Loads an iALS model's item rows of every domain a history may name, their Gramians, and the
 * loss's settings (manifest.json). A squared-error model is GRAFT_ERR_PARSE, said in err. */
graft_err graft_foldin_load(const char *dir, graft_foldin **out, char *err, size_t errlen);
/* Item rows in memory for one domain (k factors and the bias each, copied): benchmarks. */
graft_err graft_foldin_from_rows(int k, double w0, double reg, double confidence,
                                 const float *items, size_t nitems, graft_foldin **out);
void graft_foldin_destroy(graft_foldin **f);
/* --history-domain: "source" or "target" (every history item is looked up in that domain
 * alone), or "auto"/NULL (the target first, then the source: the default). A source domain the
 * model cannot fold in from (none, a plain model) is GRAFT_ERR_PARSE, said in err. */
graft_err graft_foldin_set_domain(graft_foldin *f, const char *name, char *err, size_t errlen);

/* One interaction of a history: an item row of domain `domain` (0 or 1, as loaded), its value. */
typedef struct {
    int domain;
    uint32_t row;
    float value;
} graft_foldin_item;

/* The row (k factors, then 0 for the bias) of a user with these interactions. */
graft_err graft_foldin_solve(graft_foldin *f, const graft_foldin_item *items, size_t n, float *row);

typedef struct {
    size_t users;     /* distinct users in the file */
    size_t unknown;   /* lines naming an item no folded domain of the model knows (skipped) */
    size_t no_known;  /* users left without a known item: ranked by popularity */
    size_t ambiguous; /* lines (auto) whose item id both domains know: taken as the target's */
    char **ids;       /* users' ids, in the order of their first line; the caller frees */
    uint64_t *keys;   /* their keys */
} graft_foldin_report;

/* Reads a history file (user, item[, value] lines; any format the reader takes), folds every
 * user in and gives s their rows (replacing a trained user's). Each skipped line is named as
 * FILE:LINE on stderr (the first 5, then a count). */
graft_err graft_foldin_history(graft_foldin *f, const char *path, graft_served *s,
                               graft_foldin_report *rep, char *err, size_t errlen);
void graft_foldin_report_free(graft_foldin_report *rep);

#endif
