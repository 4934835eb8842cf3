/* Splits one ratings file into a train and a test file, copying lines verbatim (and the header,
 * if any, to both). By default each rating goes to test with probability `fraction`; with
 * per_user, each user's ratings are shuffled and round(fraction x count) of them go to test. The
 * result depends only on the file and the seed. */
#ifndef GRAFT_SPLIT_H
#define GRAFT_SPLIT_H

#include "err.h"
#include "reader.h"

#include <stdint.h>
#include <stdio.h>

typedef struct {
    double fraction;
    int per_user;
    int skip_bad;
    uint64_t seed;
} graft_split_opts;

typedef struct {
    uint64_t train, test, bad_lines;
} graft_split_result;

/* Malformed lines stop the split (GRAFT_ERR_PARSE, "FILE:LINE: ..." in err) unless skip_bad,
 * when they are dropped and counted. */
graft_err graft_split_run(const graft_datafile *df, const graft_split_opts *o, FILE *train,
                          FILE *test, graft_split_result *res, char *err, size_t errlen);

#endif
