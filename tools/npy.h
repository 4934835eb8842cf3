/* NumPy .npy files (format version 1.0): a 2-D little-endian float32 array in C order, readable
 * by numpy.load without Graft. */
#ifndef GRAFT_NPY_H
#define GRAFT_NPY_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The header for a rows x cols float32 array: magic, version 1.0, header length, and the dict
 * padded with spaces and a newline so that the data starts at a multiple of 64 bytes. Writes
 * *len bytes into buf (cap at least 128). */
graft_err graft_npy_header(uint64_t rows, uint32_t cols, char *buf, size_t cap, size_t *len);
/* Reads a 2-D '<f4' C-order .npy file: *data (rows x cols, caller frees with graft_free). Errors
 * name the file. */
graft_err graft_npy_read(const char *path, float **data, uint64_t *rows, uint32_t *cols, char *err,
                         size_t errlen);

#endif
