#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
choice_index(const char *choices, const char *value)
{
    size_t vlen = strlen(value);
    int idx = 0;
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vlen && strncmp(p, value, len) == 0)
            return idx;
        idx++;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

static int
is_yes_no(const char *v)
{
    static const char *const words[] = {"yes", "no", "true", "false", "1", "0", NULL};
    for (const char *const *w = words; *w; w++)
        if (strcmp(v, *w) == 0)
            return 1;
    return 0;
}

static graft_err
set_value(const graft_opt *o, void *obj, const char *value, char *err, size_t errlen)
{
    char *slot = (char *)obj + o->offset;
    char *end;
    switch (o->type) {
    case GRAFT_OPT_INT: {
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end) {
            snprintf(err, errlen, "--%s: '%s' is not a whole number", o->name, value);
            return GRAFT_ERR_INVALID;
        }
        if (v < o->min || v > o->max) {
            snprintf(err, errlen, "--%s: %lld is outside [%.0f, %.0f]", o->name, v, o->min, o->max);
            return GRAFT_ERR_INVALID;
        }
        *(int64_t *)slot = v;
        return GRAFT_OK;
    }
    case GRAFT_OPT_DOUBLE: {
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(v)) {
            snprintf(err, errlen, "--%s: '%s' is not a number", o->name, value);
            return GRAFT_ERR_INVALID;
        }
        if (v < o->min || v > o->max) {
            snprintf(err, errlen, "--%s: %g is outside [%g, %g]", o->name, v, o->min, o->max);
            return GRAFT_ERR_INVALID;
        }
        *(double *)slot = v;
        return GRAFT_OK;
    }
    case GRAFT_OPT_STRING:
        *(const char **)slot = value;
        return GRAFT_OK;
    case GRAFT_OPT_FLAG:
        if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0 || strcmp(value, "yes") == 0)
            *(int *)slot = 1;
        else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0 || strcmp(value, "no") == 0)
            *(int *)slot = 0;
        else {
            snprintf(err, errlen, "--%s: '%s' is not a yes/no value", o->name, value);
            return GRAFT_ERR_INVALID;
        }
        return GRAFT_OK;
    case GRAFT_OPT_CHOICE: {
        int idx = choice_index(o->choices, value);
        if (idx < 0) {
            snprintf(err, errlen, "--%s: '%s' is not one of %s", o->name, value, o->choices);
            return GRAFT_ERR_INVALID;
        }
        *(int *)slot = idx;
        return GRAFT_OK;
    }
    }
    return GRAFT_ERR_INVALID;
}

graft_err
graft_opts_defaults(const graft_opt *table, void *obj)
{
    char err[256];
    for (const graft_opt *o = table; o->name; o++) {
        char *slot = (char *)obj + o->offset;
        if (!o->def) {
            if (o->type == GRAFT_OPT_STRING)
                *(const char **)slot = NULL;
            else if (o->type == GRAFT_OPT_FLAG)
                *(int *)slot = 0;
            continue;
        }
        graft_err rc = set_value(o, obj, o->def, err, sizeof err);
        if (rc != GRAFT_OK)
            return rc;
    }
    return GRAFT_OK;
}

graft_err
graft_opts_parse(const graft_opt *table, void *obj, int argc, char **argv, int from, char *err,
                 size_t errlen)
{
    return graft_opts_parse_src(table, obj, argc, argv, from, NULL, err, errlen);
}

graft_err
graft_opts_parse_src(const graft_opt *table, void *obj, int argc, char **argv, int from,
                     graft_opt_sources *src, char *err, size_t errlen)
{
    for (int i = from; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (options start with --)", arg);
            return GRAFT_ERR_INVALID;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const graft_opt *o = table;
        for (; o->name; o++)
            if (strlen(o->name) == nlen && strncmp(o->name, name, nlen) == 0)
                break;
        if (!o->name) {
            snprintf(err, errlen, "unknown option '--%.*s' (see --help)", (int)nlen, name);
            return GRAFT_ERR_INVALID;
        }
        const char *value;
        if (eq)
            value = eq + 1;
        else if (o->type == GRAFT_OPT_FLAG)
            /* "--flag", or "--flag yes|no" as well as "--flag=no": both forms, like the rest. */
            value = i + 1 < argc && is_yes_no(argv[i + 1]) ? argv[++i] : "1";
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            snprintf(err, errlen, "--%s needs a value", o->name);
            return GRAFT_ERR_INVALID;
        }
        graft_err rc = set_value(o, obj, value, err, errlen);
        if (rc != GRAFT_OK)
            return rc;
        if (src)
            snprintf((*src)[o - table], GRAFT_OPT_SOURCE_LEN, "command line");
    }
    return GRAFT_OK;
}

void
graft_opts_free_strings(char ***strings)
{
    if (!strings || !*strings)
        return;
    for (char **p = *strings; *p; p++)
        free(*p);
    free(*strings);
    *strings = NULL;
}

graft_err
graft_opts_parse_file(const graft_opt *table, void *obj, const char *path, graft_opt_sources *src,
                      char ***strings, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return GRAFT_ERR_IO;
    }
    char *line = NULL, msg[512];
    size_t cap = 0, nstr = 0;
    int lineno = 0;
    graft_err rc = GRAFT_OK;
    while (rc == GRAFT_OK && getline(&line, &cap, f) >= 0) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        char *end = p + strlen(p);
        while (end > p && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
            *--end = 0;
        if (!*p || *p == '#')
            continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected 'name = value'", path, lineno);
            rc = GRAFT_ERR_INVALID;
            break;
        }
        char *name_end = eq;
        while (name_end > p && (name_end[-1] == ' ' || name_end[-1] == '\t'))
            name_end--;
        *name_end = 0;
        char *value = eq + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        const graft_opt *o = table;
        for (; o->name; o++)
            if (strcmp(o->name, p) == 0)
                break;
        if (!o->name || strcmp(p, "config") == 0) {
            snprintf(err, errlen, "%s:%d: unknown key '%s'", path, lineno, p);
            rc = GRAFT_ERR_INVALID;
            break;
        }
        char *copy = strdup(value);
        char **grown = copy ? realloc(*strings, (nstr + 2) * sizeof *grown) : NULL;
        if (!grown) {
            free(copy);
            snprintf(err, errlen, "%s: out of memory", path);
            rc = GRAFT_ERR_NOMEM;
            break;
        }
        *strings = grown;
        (*strings)[nstr++] = copy;
        (*strings)[nstr] = NULL;
        if ((rc = set_value(o, obj, copy, msg, sizeof msg)) != GRAFT_OK) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
            break;
        }
        if (src)
            snprintf((*src)[o - table], GRAFT_OPT_SOURCE_LEN, "%.60s:%d", path, lineno);
    }
    free(line);
    fclose(f);
    return rc;
}

void
graft_opts_help(const graft_opt *table, FILE *out)
{
    for (const graft_opt *o = table; o->name; o++) {
        char kind[128];
        switch (o->type) {
        case GRAFT_OPT_INT:
            snprintf(kind, sizeof kind, "N (%.0f..%.0f)", o->min, o->max);
            break;
        case GRAFT_OPT_DOUBLE:
            if (o->min <= -1e300 && o->max >= 1e300)
                snprintf(kind, sizeof kind, "X");
            else
                snprintf(kind, sizeof kind, "X (%g..%g)", o->min, o->max);
            break;
        case GRAFT_OPT_STRING:
            snprintf(kind, sizeof kind, "VALUE");
            break;
        case GRAFT_OPT_FLAG:
            kind[0] = 0;
            break;
        case GRAFT_OPT_CHOICE:
            snprintf(kind, sizeof kind, "%s", o->choices);
            break;
        }
        fprintf(out, "  --%s %s\n      %s", o->name, kind, o->help);
        /* A help text may state its default in words ("[default: all]") instead. */
        if (o->def && o->type != GRAFT_OPT_FLAG && !strstr(o->help, "[default:"))
            fprintf(out, " [default: %s]", o->def);
        fputc('\n', out);
    }
}

void
graft_opts_print(const graft_opt *table, const void *obj, const graft_opt_sources *src, FILE *out)
{
    for (const graft_opt *o = table; o->name; o++) {
        const char *slot = (const char *)obj + o->offset;
        char v[512];
        switch (o->type) {
        case GRAFT_OPT_INT:
            snprintf(v, sizeof v, "%lld", (long long)*(const int64_t *)slot);
            break;
        case GRAFT_OPT_DOUBLE:
            snprintf(v, sizeof v, "%g", *(const double *)slot);
            break;
        case GRAFT_OPT_STRING: {
            const char *s = *(const char *const *)slot;
            snprintf(v, sizeof v, "%s", s ? s : "");
            break;
        }
        case GRAFT_OPT_FLAG:
            snprintf(v, sizeof v, "%s", *(const int *)slot ? "yes" : "no");
            break;
        case GRAFT_OPT_CHOICE: {
            int idx = *(const int *)slot;
            const char *p = o->choices;
            for (int k = 0; k < idx && p; k++) {
                p = strchr(p, '|');
                if (p)
                    p++;
            }
            const char *bar = p ? strchr(p, '|') : NULL;
            snprintf(v, sizeof v, "%.*s", p ? (int)(bar ? bar - p : (long)strlen(p)) : 0,
                     p ? p : "");
            break;
        }
        }
        if (src)
            fprintf(out, "%-20s = %-24s # %s\n", o->name, v, (*src)[o - table]);
        else
            fprintf(out, "%s = %s\n", o->name, v);
    }
}

int
graft_opts_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}
