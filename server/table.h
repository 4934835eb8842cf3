/* A server's shard of one named table: rows of `width` floats keyed by 64-bit keys, growing on
 * demand. A new row is initialised from (table seed, key) alone, so its value does not depend on
 * which worker touched it first or on how many servers there are. Rows live in fixed-size chunks
 * that never move, so growth never copies the table (and peak memory stays near the rows' size). */
#ifndef GRAFT_TABLE_H
#define GRAFT_TABLE_H

#include "err.h"
#include "tablespec.h"

#include <stddef.h>
#include <stdint.h>

typedef struct graft_table graft_table;

/* Creates an empty table; *out owns it. spec is copied. Not thread-safe. */
graft_err graft_table_create(const graft_table_spec *spec, graft_table **out);
/* Frees *t (NULL is fine) and sets it to NULL. */
void graft_table_destroy(graft_table **t);
const graft_table_spec *graft_table_spec_of(const graft_table *t);

/* The initial value of key's row: N(0, scale^2) values from a generator seeded by (seed, key) in
 * the first init_width columns (all when 0), zeros after them. */
void graft_table_init_row(uint64_t seed, uint64_t key, float scale, uint32_t width,
                          uint32_t init_width, float *row);

/* The calls below work on the keys at positions sel[0..n) of keys, in that order, and on the
 * same positions of the row arrays (row p at p x width); sel NULL means positions 0..n-1. A
 * server's threads each pass the positions of the keys of their own part (server/lanes.h). */

/* Copies the rows of the keys to out. A missing key gets a new row when create is set, else
 * zeros (and no row is made). On GRAFT_ERR_NOMEM the rows made so far stay. */
graft_err graft_table_pull(graft_table *t, const uint64_t *keys, const uint32_t *sel, uint32_t n,
                           int create, float *out);
/* Applies the optimizer to each key's row with its gradient, creating missing rows first.
 * Repeated keys are applied in order. A row the update would make non-finite is left as it was
 * and counted in *refused (graft_optim_apply). */
graft_err graft_table_push(graft_table *t, const uint64_t *keys, const uint32_t *sel, uint32_t n,
                           const float *grads, uint32_t *refused);
/* Overwrites the keys' rows (width values each), creating missing ones; their optimizer state
 * starts afresh. */
graft_err graft_table_assign(graft_table *t, const uint64_t *keys, const uint32_t *sel, uint32_t n,
                             const float *vals);
/* Copies the keys' rows from src to dst (same width), creating them in dst with fresh optimizer
 * state. Keys that src does not hold are skipped; *copied counts the others. */
graft_err graft_table_copy(graft_table *dst, const graft_table *src, const uint64_t *keys,
                           const uint32_t *sel, uint32_t n, uint64_t *copied);
/* A checkpoint's row slot: the row's values and its optimizer state (stride floats), created
 * if missing. */
graft_err graft_table_restore(graft_table *t, uint64_t key, const float *slot_vals);
/* Floats per row slot: the width plus the optimizer's state. graft_table_next's rows point at
 * whole slots. */
uint32_t graft_table_stride(const graft_table *t);
/* The row of key, or NULL. Valid until the table is destroyed (rows never move). */
float *graft_table_find(const graft_table *t, uint64_t key);

/* Visits the rows in storage order: start with *pos = 0; returns 0 when there are no more. Rows
 * made or changed during the visit may be missed. */
int graft_table_next(const graft_table *t, size_t *pos, uint64_t *key, const float **row);

uint64_t graft_table_rows(const graft_table *t);
/* Heap bytes held: rows, optimizer state and the index. */
uint64_t graft_table_bytes(const graft_table *t);

#endif
