/* Saved tables on the worker's side: --save (the model) and checkpoints (docs/usage.md,
 * "Checkpoints"). The servers write the shards; worker 0 writes the manifest last, atomically,
 * so a folder with a manifest holds a complete set. A checkpoint of epoch E is the folder
 * CHECKPOINT_DIR/ckpt-E, with each table's rows and optimizer state; --resume loads the newest
 * one that has a manifest, after checking every shard's checksum. */
#ifndef GRAFT_CHECKPOINT_H
#define GRAFT_CHECKPOINT_H

#include "client.h"
#include "manifest.h"

typedef struct {
    uint32_t id;
    char name[GRAFT_TABLE_NAME_MAX]; /* the name in the manifest */
    char file[GRAFT_TABLE_NAME_MAX]; /* the table's own name, which names its shard files */
} graft_saved_table;

/* Has every server write its shards of tabs[0..n) (clock 0: into --save; clock E: into
 * --checkpoint-dir/ckpt-E with optimizer state) and adds the tables to m (dim, servers and
 * domains are the caller's). */
graft_err graft_saved_write(graft_client *c, uint64_t clock, const graft_saved_table *tabs, int n,
                            int nservers, graft_manifest *m);

/* Worker 0, after every worker's state is on the servers: checkpoint `epoch` of tabs into dir,
 * its manifest last, then removes checkpoints older than the previous complete one. */
graft_err graft_checkpoint_write(graft_client *c, const char *dir, int epoch,
                                 const graft_saved_table *tabs, int n, graft_manifest *m, char *err,
                                 size_t errlen);

/* The newest checkpoint in dir that has a manifest (older torn ones, without, are skipped and
 * logged); its shards must all pass their checks, else the error names the shard. *epoch is 0
 * when dir holds no complete checkpoint. On success with *epoch > 0, free m. */
graft_err graft_checkpoint_find(const char *dir, int *epoch, graft_manifest *m, char *err,
                                size_t errlen);

/* The prefix of early stopping's shadow tables (worker/select.h) in a checkpoint. */
#define GRAFT_CHECKPOINT_SHADOW "best."

/* Loads checkpoint `epoch` (manifest m) into the tables of tabs, with the same width: shadows 0,
 * every table of m but the shadows (each must be one of tabs); shadows 1, the shadows only (the
 * selection loads them once it has made them). */
graft_err graft_checkpoint_load(graft_client *c, int epoch, const graft_manifest *m,
                                const graft_saved_table *tabs, int n, int shadows, char *err,
                                size_t errlen);

#endif
