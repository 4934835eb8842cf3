/* Id dictionaries: the id string behind each key, so that a saved model's rows can be named again
 * (graft export, graft recommend). Saved as "KEY<TAB>ID" lines, KEY in 16 hex digits. */
#ifndef GRAFT_IDDICT_H
#define GRAFT_IDDICT_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct graft_iddict graft_iddict;

graft_err graft_iddict_create(graft_iddict **out);
void graft_iddict_destroy(graft_iddict **d);
/* Records id (len bytes) for key; a key already known keeps its first id. */
graft_err graft_iddict_add(graft_iddict *d, uint64_t key, const char *id, size_t len);
/* The id of key (NUL-terminated, owned by d), or NULL. */
const char *graft_iddict_get(const graft_iddict *d, uint64_t key);
size_t graft_iddict_count(const graft_iddict *d);
/* A flat copy for sending (the caller frees *buf with graft_free), and its merge on the other
 * side; a buffer that does not parse is GRAFT_ERR_PARSE. */
graft_err graft_iddict_pack(const graft_iddict *d, char **buf, size_t *len);
graft_err graft_iddict_merge(graft_iddict *d, const char *buf, size_t len);
/* Writes (atomically) and reads the "KEY<TAB>ID" file. Errors name the file (and line). */
graft_err graft_iddict_write(const graft_iddict *d, const char *path, char *err, size_t errlen);
graft_err graft_iddict_read(graft_iddict *d, const char *path, char *err, size_t errlen);

#endif
