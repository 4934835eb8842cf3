/* A saved model loaded for serving: one domain's user and item rows in memory, scored with
 * OpenBLAS. Used by graft recommend and graft eval. Not thread-safe. */
#ifndef GRAFT_SERVE_H
#define GRAFT_SERVE_H

#include "err.h"
#include "keymap.h"
#include "manifest.h"

#include <stddef.h>
#include <stdint.h>

typedef struct graft_served graft_served;

/* Loads the user and item tables of `domain` ("target" or "source" of a transfer model; NULL for
 * the only domain of a plain model, or the target of a transfer model) and the id dictionaries.
 * Errors name the file. */
graft_err graft_served_load(const char *dir, const char *domain, graft_served **out, char *err,
                            size_t errlen);
void graft_served_destroy(graft_served **s);
/* Reads every shard of a manifest table (DIR/FILE) into *rows (rows x width), *keys (when keys is
 * not NULL) and a key -> row index; errors name the file. Also fold-in's reader. */
graft_err graft_served_load_table(const char *dir, const graft_manifest_table *tb, float **rows,
                                  uint64_t **keys, graft_keymap **index, char *err, size_t errlen);
/* A model from rows in memory (k factors and the bias each, copied), without ids or key index:
 * for benchmarks and tests of the scoring, which address users and items by row. */
graft_err graft_served_from_rows(int k, float mu, const float *users, size_t nusers,
                                 const float *items, size_t nitems, graft_served **out);

size_t graft_served_items(const graft_served *s);
/* Gives user key the row (k factors and the bias, copied): a folded-in user, replacing the
 * model's row when it has one. */
graft_err graft_served_set_user(graft_served *s, uint64_t key, const float *row);
/* The row of a user or an item key, or -1 when the model does not know it. */
int64_t graft_served_user(const graft_served *s, uint64_t key);
int64_t graft_served_item(const graft_served *s, uint64_t key);
/* The id of item row i (the key in hex when the model lacks ids: buf, 17 bytes, is used then). */
const char *graft_served_item_id(const graft_served *s, size_t i, char *buf);

/* The prediction mu + b_u + b_i + p_u . q_i clipped to the rating range; user or item -1 counts
 * as a zero row. */
float graft_served_predict(const graft_served *s, int64_t user, int64_t item);

/* Top k items for each of n users (rows, -1 for unknown: biases only), best first: items[u*k+j],
 * scores[u*k+j]. Scores of a block of users against a tile of items are one sgemm (the item
 * bias folded into the product), then a partial selection (a heap of k per user, on two
 * threads), never a full sort. exclude(u, item) true leaves an item out (the user's seen items;
 * it is called from two threads at once, so it must only read); NULL excludes nothing. Fewer
 * than k candidates leave items -1. */
graft_err graft_served_topk(const graft_served *s, const int64_t *users, size_t n, int k,
                            int (*exclude)(void *ctx, size_t u, size_t item), void *ctx,
                            int64_t *items, float *scores);

#endif
