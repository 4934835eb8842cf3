/* What a table is, as a worker declares it and a server keeps it (server/table.c), and as the
 * CREATE message carries it (proto/wire.c encodes it; it is not the wire's own). */
#ifndef GRAFT_TABLESPEC_H
#define GRAFT_TABLESPEC_H

#include <stdint.h>

#define GRAFT_TABLE_NAME_MAX 64

typedef enum {
    GRAFT_OPTIM_SGD = 0,
    GRAFT_OPTIM_ADAGRAD = 1,
    GRAFT_OPTIM_SUM = 2, /* w += g: for accumulators such as per-key counts and sums */
} graft_optim_kind;

typedef struct {
    char name[GRAFT_TABLE_NAME_MAX];
    uint32_t width;
    uint64_t seed;
    float init_scale;
    graft_optim_kind optimizer;
    float lr;
    float l2;
    uint32_t init_width; /* random values only in the first init_width columns (0: all) */
    uint32_t save_width; /* --save writes the first save_width columns (0: all) */
} graft_table_spec;

#endif
