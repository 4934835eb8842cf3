/* A worker's part of the ratings: the training and test files (or a transfer job's source,
 * target and target test files) read as text or as graft prep's binary form, the id strings
 * behind the keys (with --save), duplicated pairs handled and the data's identity. The drivers
 * own a dataset and hand its sets to the engine. */
#ifndef GRAFT_DATASET_H
#define GRAFT_DATASET_H

#include "config.h"
#include "dedupe.h"
#include "iddict.h"
#include "job.h"
#include "reader.h"

typedef struct {
    /* A plain job keeps its training set in tgt and its test set in warm; a transfer job's
     * protocol (worker/transfer.c) moves target ratings to warm and cold. */
    graft_ratings src, tgt, warm, cold;
    uint64_t bad_lines;
    graft_iddict *users, *items;      /* with --save: the ids behind the keys this worker read */
    int tgt_owned, warm_owned;        /* read from binary files by owner (graft prep) */
    graft_dup_counts dups;            /* of the training files, global (graft_dataset_prepare) */
    uint64_t data_ratings, data_hash; /* the training data's identity, global */
} graft_dataset;

/* Reads this worker's part of every file the configuration names; with --user-map, source
 * users are renamed to their target ids. Errors name the file (and line); *out is then NULL. */
graft_err graft_dataset_load(const graft_config *cfg, const graft_job *job, graft_dataset **out,
                             char *err, size_t errlen);
void graft_dataset_destroy(graft_dataset **d);

/* Collective over the workers, after every one loaded: the data's identity (before any policy
 * changes the sets) and --duplicates on the training files. GRAFT_ERR_PARSE on every worker,
 * with the file named in err, when --duplicates error finds any. */
graft_err graft_dataset_prepare(graft_dataset *d, const graft_config *cfg, const graft_job *job,
                                char *err, size_t errlen);

/* Rewrites the user keys of source ratings through a (source id, target id) file. */
graft_err graft_dataset_apply_user_map(const char *path, graft_ratings *src, char *err,
                                       size_t errlen);

/* --duplicates' policy names, by graft_dup_policy. */
extern const char *const graft_dataset_dup_names[5];

#endif
