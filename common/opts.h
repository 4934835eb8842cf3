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

#define GRAFT_OPT_SOURCE_LEN 80
#define GRAFT_OPTS_MAX 96

/* Where each option's value came from ("default", "FILE:LINE", "command line"), indexed like the
 * table. Optional wherever it is taken (NULL). */
typedef char graft_opt_sources[GRAFT_OPTS_MAX][GRAFT_OPT_SOURCE_LEN];

/* Sets every option of obj to its default. */
graft_err graft_opts_defaults(const graft_opt *table, void *obj);
/* Parses argv[from..argc) ("--name value", "--name=value", "--flag"). Unknown options, missing
 * values and values out of bounds are errors described in err ("--dim: 0 is below 1"). Positional
 * arguments are errors too. Borrowed strings stay valid as long as argv does. */
graft_err graft_opts_parse(const graft_opt *table, void *obj, int argc, char **argv, int from,
                           char *err, size_t errlen);
/* The same, recording each value's source. */
graft_err graft_opts_parse_src(const graft_opt *table, void *obj, int argc, char **argv, int from,
                               graft_opt_sources *src, char *err, size_t errlen);
/* Reads "name = value" lines (blank lines and '#' comments skipped) from path. An unknown name, a
 * value out of bounds or a line without '=' is an error "FILE:LINE: ...". String values are
 * copied into *strings (a NULL-terminated list the caller frees with graft_opts_free_strings). */
graft_err graft_opts_parse_file(const graft_opt *table, void *obj, const char *path,
                                graft_opt_sources *src, char ***strings, char *err, size_t errlen);
void graft_opts_free_strings(char ***strings);
/* Whether argv holds --help or -h: checked before anything else, even before MPI starts. */
int graft_opts_wants_help(int argc, char **argv);
/* Prints one block per option: name, type or choices, default, bounds, help. */
void graft_opts_help(const graft_opt *table, FILE *out);
/* Prints "name = value" for every option, in table order, and "# SOURCE" when src is given. */
void graft_opts_print(const graft_opt *table, const void *obj, const graft_opt_sources *src,
                      FILE *out);

#endif
