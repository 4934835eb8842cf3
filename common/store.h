/* Saved tables. Each server writes its shard of a table to one file:
 *     "GRAFTSH1" | u32 width | u32 0 | u64 rows | rows x (u64 key | width x f32) | u64 checksum
 * (little-endian). A file is written under a temporary name, flushed, fsync'ed, then renamed, so
 * a reader never sees a half-written shard. The checksum covers everything before it; readers
 * verify it, the size and the header before using a byte. docs/usage.md describes the manifest
 * that lists the shards. */
#ifndef GRAFT_STORE_H
#define GRAFT_STORE_H

#include "err.h"

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

typedef struct graft_shard_writer graft_shard_writer;

/* Starts path's temporary file. Errors name the file. */
graft_err graft_shard_writer_open(const char *path, uint32_t width, graft_shard_writer **out,
                                  char *err, size_t errlen);
graft_err graft_shard_writer_add(graft_shard_writer *w, uint64_t key, const float *row);
/* Writes the header and checksum, flushes, fsyncs and renames the file into place; frees *w. */
graft_err graft_shard_writer_commit(graft_shard_writer **w, uint64_t *rows, uint64_t *checksum,
                                    char *err, size_t errlen);
/* Removes the temporary file and frees *w (NULL is fine). */
void graft_shard_writer_abort(graft_shard_writer **w);

typedef struct {
    uint32_t width;
    uint64_t rows;
    uint64_t checksum;
    const unsigned char *data; /* the mapped file */
    size_t size;
} graft_shard;

/* Maps and verifies path: magic, size for its row count, checksum. Errors name the file and what
 * is wrong ("model/user.0-of-2.shard: checksum mismatch (file altered or torn)"). */
graft_err graft_shard_open(const char *path, graft_shard *s, char *err, size_t errlen);
/* Row i's key and values (copied to row, width floats: the file's rows are not aligned). */
void graft_shard_row(const graft_shard *s, uint64_t i, uint64_t *key, float *row);
void graft_shard_close(graft_shard *s);

/* The one place shard and checkpoint names are made: "TABLE.I-of-S.shard" (server I of S), and
 * "DIR/ckpt-E" (the checkpoint of epoch E). Servers, the checkpoint code and the drivers all
 * use these. */
void graft_store_shard_file(char *buf, size_t len, const char *table, int index, int nservers);
void graft_store_checkpoint_dir(char *buf, size_t len, const char *dir, uint64_t epoch);

/* Opens path read-only for a reader that will map or read it, refusing anything that is not a
 * regular file by name (a FIFO, a device, a directory) without blocking on it: a FIFO given as a
 * ratings file would otherwise hang open() until a writer came. On success *fd is the caller's
 * to close; errors are GRAFT_ERR_IO with "PATH: why" in err. */
graft_err graft_store_open_regular(const char *path, int *fd, char *err, size_t errlen);

/* The one way files are put in place: flushes f (written to tmp) to the disk, closes it and
 * renames tmp to path when ok and all of that succeeds; otherwise removes tmp and names path in
 * err (GRAFT_ERR_IO). f is closed either way. */
graft_err graft_store_commit_file(FILE *f, const char *tmp, const char *path, int ok, char *err,
                                  size_t errlen);

/* Reads the whole of path into *text (NUL-terminated; the caller frees it with free(), as it
 * comes from open_memstream) and *len. Errors name the file. */
graft_err graft_store_read_all(const char *path, char **text, size_t *len, char *err,
                               size_t errlen);

/* Writes text to path atomically (temporary file, fsync, rename). */
graft_err graft_store_write_atomic(const char *path, const char *text, size_t len, char *err,
                                   size_t errlen);

#endif
