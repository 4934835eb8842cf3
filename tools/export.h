/* graft export: a saved model's tables as NumPy .npy files (or TSV), with the ids of their rows. */
#ifndef GRAFT_EXPORT_H
#define GRAFT_EXPORT_H

#include "err.h"

#include <stddef.h>

typedef enum { GRAFT_EXPORT_NPY = 0, GRAFT_EXPORT_TSV = 1 } graft_export_format;

/* For every table T of the model in dir: OUT/T.npy (rows x width float32) and OUT/T.ids (one id
 * per line, in row order), or OUT/T.tsv (id, then the values); and OUT/model.json (dimension,
 * domains' means and ranges, tables). Rows are in shard order. A key whose id the model does not
 * know is written as its 16 hex digits. The model is verified first; errors name the file. */
graft_err graft_export_run(const char *dir, const char *out, graft_export_format fmt, char *err,
                           size_t errlen);

#endif
