/* Binary ratings files, written once by `graft prep` and read by training without parsing
 * (docs/usage.md, "graft prep"). Little-endian:
 *     header, 64 bytes: "GRAFTRB1" | u32 version (1) | u32 nparts | u64 nratings
 *                       | u64 users_len | u64 items_len | 24 bytes zero
 *     u64 part_start[nparts + 1]   first record of each part, and nratings
 *     u64 part_checksum[nparts]    graft_checksum64 of each part's records
 *     records: nratings x graft_rating (u64 user key, u64 item key, f32 rating, u32 0)
 *     the user and item id dictionaries (graft_iddict_pack), users_len and items_len bytes
 *     u64 checksum of everything before it except the records (covered per part)
 * A rating's part is graft_owner_of(user, nparts): every rating of a user is in one part. A job of
 * W workers with W dividing nparts gives worker w the parts p with p mod W = w, which are exactly
 * the users the block plane would give it; otherwise each worker takes an even range of records.
 * Each worker maps the file and verifies only what it reads. */
#ifndef GRAFT_BINFILE_H
#define GRAFT_BINFILE_H

#include "err.h"
#include "iddict.h"
#include "reader.h"

#include <stddef.h>

#define GRAFT_BINFILE_MAGIC "GRAFTRB1"

/* Whether path starts with the magic (an unreadable file is not one). */
int graft_binfile_is(const char *path);

/* Writes r (its domain fields ignored) with its id dictionaries, in nparts parts, atomically. */
graft_err graft_binfile_write(const char *path, const graft_ratings *r, const graft_iddict *users,
                              const graft_iddict *items, int nparts, char *err, size_t errlen);

/* Appends worker `part` of `nworkers`'s ratings to out (domain 0). *by_owner is set when they are
 * exactly the ratings of the users graft_owner_of(user, nworkers) gives this worker. users and
 * items (may be NULL) receive the dictionaries. Errors name the file and what is wrong. */
graft_err graft_binfile_load(const char *path, int part, int nworkers, graft_ratings *out,
                             int *by_owner, graft_iddict *users, graft_iddict *items, char *err,
                             size_t errlen);

#endif
