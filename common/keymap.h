/* An open-addressing map from 64-bit keys to 32-bit indices. Servers use it to find a row, and
 * workers to deduplicate a batch's keys. Any 64-bit key, 0 included, is allowed. */
#ifndef GRAFT_KEYMAP_H
#define GRAFT_KEYMAP_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct graft_keymap graft_keymap;

/* Creates an empty map sized for about `hint` keys. On failure *out is NULL. */
graft_err graft_keymap_create(size_t hint, graft_keymap **out);
/* Frees *map (NULL is fine) and sets it to NULL. */
void graft_keymap_destroy(graft_keymap **map);
/* Looks key up: returns 1 and sets *val when present, else 0. */
int graft_keymap_get(const graft_keymap *map, uint64_t key, uint32_t *val);
/* Starts loading the slot where key's lookup begins into the cache (a hint, for batches). */
void graft_keymap_prefetch(const graft_keymap *map, uint64_t key);
/* Finds key, or inserts it with value newval. *val gets the stored value and *inserted 1 when it
 * was new. Fails only for lack of memory, leaving the map as it was. */
graft_err graft_keymap_upsert(graft_keymap *map, uint64_t key, uint32_t newval, uint32_t *val,
                              int *inserted);
size_t graft_keymap_count(const graft_keymap *map);
/* Bytes the map holds on the heap. */
size_t graft_keymap_bytes(const graft_keymap *map);
/* Visits the entries in slot order: start with *pos = 0; returns 0 when there are no more. */
int graft_keymap_next(const graft_keymap *map, size_t *pos, uint64_t *key, uint32_t *val);
/* Removes every key, keeping the memory. */
void graft_keymap_clear(graft_keymap *map);

#endif
