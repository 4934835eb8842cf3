/* Declarative options: one table per program lists each option's name, type, bounds, default and
 * help text. Parsing, --help and --print-config all come from that table, so they cannot drift. */
#ifndef GRAFT_OPTS_H
#define GRAFT_OPTS_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    GRAFT_OPT_INT,    /* stored as int64_t */
    GRAFT_OPT_DOUBLE, /* stored as double */
    GRAFT_OPT_STRING, /* stored as const char *, borrowed from argv or the default */
    GRAFT_OPT_FLAG,   /* stored as int; present means 1 */
    GRAFT_OPT_CHOICE, /* stored as int, the index into `choices` ("a|b|c") */
} graft_opt_type;

typedef struct {
    const char *name; /* without the leading "--" */
    graft_opt_type type;
    size_t offset;   /* where the value lives in the options struct */
    const char *def; /* default, as it would be written on the command line; NULL: none */
    double min, max; /* bounds for INT and DOUBLE */
    const char *choices;
    const char *help;
} graft_opt;

#define GRAFT_OPT_END                                                                              \
    {                                                                                              \
        NULL, 0, 0, NULL, 0, 0, NULL, NULL                                                         \
    }

/* Sets every option of obj to its default. */
graft_err graft_opts_defaults(const graft_opt *table, void *obj);
/* Parses argv[from..argc) ("--name value", "--name=value", "--flag"). Unknown options, missing
 * values and values out of bounds are errors described in err ("--dim: 0 is below 1"). Positional
 * arguments are errors too. Borrowed strings stay valid as long as argv does. */
graft_err graft_opts_parse(const graft_opt *table, void *obj, int argc, char **argv, int from,
                           char *err, size_t errlen);
/* Whether argv holds --help or -h: checked before anything else, even before MPI starts. */
int graft_opts_wants_help(int argc, char **argv);
/* Prints one block per option: name, type or choices, default, bounds, help. */
void graft_opts_help(const graft_opt *table, FILE *out);
/* Prints "name = value" for every option, in table order. */
void graft_opts_print(const graft_opt *table, const void *obj, FILE *out);

#endif
