/* Model selection's memory on the servers: a copy of the best epoch's tables (--early-stopping).
 * Each model table the engine saves gets a shadow table of its width on the servers; keeping an
 * epoch copies the model's rows into the shadows and restoring copies them back, each inside the
 * server that holds the row (GRAFT_MSG_COPY: keys go out, no row crosses the network). */
#ifndef GRAFT_SELECT_H
#define GRAFT_SELECT_H

#include "checkpoint.h"
#include "client.h"
#include "err.h"
#include "reader.h"

typedef struct graft_best graft_best;

/* A table to shadow and this worker's keys of it (every worker names those its ratings touch, so
 * that their union is every trained row); keys is taken over (freed by graft_best_destroy). */
typedef struct {
    const char *name;
    uint32_t table, width;
    uint64_t *keys;
    size_t nkeys;
} graft_best_table;

/* Declares the shadows ("best.NAME": zeros until kept) of tabs[0..n), n <= 8. Takes the keys
 * of every table, also on failure. */
graft_err graft_best_create(graft_client *c, graft_best_table *tabs, int n, graft_best **out);
void graft_best_destroy(graft_best **b);
/* This worker's rows of every table into the shadows (the servers' current model). */
graft_err graft_best_keep(graft_best *b, graft_client *c);
/* And back: the model tables get the kept rows. */
graft_err graft_best_restore(graft_best *b, graft_client *c);
/* The shadows as saved tables ("best.NAME"), for checkpoints: writes at most max, returns how
 * many. */
int graft_best_tables(const graft_best *b, graft_saved_table *out, int max);

/* The distinct user (items 0) or item (items 1) keys of the ratings of domain `domain`; *keys is
 * the caller's. */
graft_err graft_best_keys(const graft_ratings *r, uint32_t domain, int items, uint64_t **keys,
                          size_t *n);

/* --validation-fraction: moves a seeded share of r's ratings into held. A rating is held by a
 * hash of (user, item, seed), so the choice depends on neither the file's order nor the number
 * of workers. */
graft_err graft_holdout(graft_ratings *r, double fraction, uint64_t seed, graft_ratings *held);

#endif
