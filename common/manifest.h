/* A saved model's manifest, DIR/manifest.json: the format, the key hashing and sharding, the
 * dimension, each domain's mean and rating range, and each table's width, rows and shard files
 * with their checksums. It is written last and atomically, so a folder with a manifest holds a
 * complete model. docs/usage.md shows an example. */
#ifndef GRAFT_MANIFEST_H
#define GRAFT_MANIFEST_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#define GRAFT_MANIFEST_MAX_TABLES 16
#define GRAFT_MANIFEST_MAX_SHARDS 1024

typedef struct {
    char file[256]; /* a plain name inside the model folder */
    uint64_t rows, checksum;
} graft_manifest_shard;

typedef struct {
    char name[64];
    uint32_t width;
    uint64_t rows;
    int nshards;
    graft_manifest_shard *shards;
} graft_manifest_table;

typedef struct {
    char name[16];
    double mu, rmin, rmax;
    /* "" or a table prefix ("target-only"): the transfer gate kept a target-only model for warm
     * users, so every user not in cold-users.txt is answered by PREFIX.user and PREFIX.item,
     * and the cold users by the domain's own tables. */
    char warm[32];
    double weight; /* iALS models: the domain's weight in the loss */
} graft_manifest_domain;

typedef struct {
    int dim, servers;
    int ntables;
    graft_manifest_table tables[GRAFT_MANIFEST_MAX_TABLES];
    int ndomains;
    graft_manifest_domain domains[2];
    /* The training data's identity (graft_ratings_identity, summed over the workers): a
     * checkpoint resumes only on the same data. has_data 0: not recorded. */
    int has_data;
    uint64_t data_ratings, data_hash;
    /* An iALS model (loss "ials"; "" for squared error): what fold-in needs to solve a new
     * user's row as training solved them. weight: each domain's in the loss (lambda for the
     * target of joint training, else 1). */
    char loss[16];
    double w0, reg, confidence;
    char transfer[16]; /* a transfer model's mode ("joint", ...); "" for a plain one */
    /* The checksum of cold-users.txt (graft_checksum64), when the model has one. */
    int has_cold;
    uint64_t cold_checksum;
    /* A checkpoint of a job with --validation-fraction: the share held out, and early
     * stopping's best epoch so far and its score (bit for bit), whose rows are the best.*
     * tables. has_select 0: none recorded. */
    int has_select;
    double valid_fraction, best_score;
    int best_epoch;
} graft_manifest;

/* Writes DIR/manifest.json atomically, its last line a checksum of every byte before it. */
graft_err graft_manifest_write(const char *dir, const graft_manifest *m, char *err, size_t errlen);
/* Parses DIR/manifest.json after checking its checksum, and checks every field's type and
 * range (a dimension, widths, rows, means inside the rating range, plain shard names); an
 * edited, truncated or corrupted manifest is GRAFT_ERR_PARSE naming the file (and line). On
 * success free with graft_manifest_free. */
graft_err graft_manifest_read(const char *dir, graft_manifest *m, char *err, size_t errlen);
/* Opens every shard the manifest lists and checks its width, rows and checksum against it; the
 * first problem is named ("model/user.1-of-2.shard: checksum mismatch ..."). */
graft_err graft_manifest_verify(const char *dir, const graft_manifest *m, char *err, size_t errlen);
const graft_manifest_table *graft_manifest_find(const graft_manifest *m, const char *name);
/* A domain's table of a model: "DOMAIN.KIND" ("source.user"), else a plain model's or joint's
 * shared "KIND" when plain_too ("user"), else NULL. The one place these names are looked up. */
const graft_manifest_table *graft_manifest_find_domain(const graft_manifest *m, const char *domain,
                                                       const char *kind, int plain_too);
void graft_manifest_free(graft_manifest *m);

#endif
