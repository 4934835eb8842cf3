#include "opts.h"

#include <errno.h>
#include <math.h>
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
            value = "1";
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            snprintf(err, errlen, "--%s needs a value", o->name);
            return GRAFT_ERR_INVALID;
        }
        graft_err rc = set_value(o, obj, value, err, errlen);
        if (rc != GRAFT_OK)
            return rc;
    }
    return GRAFT_OK;
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
        if (o->def && o->type != GRAFT_OPT_FLAG)
            fprintf(out, " [default: %s]", o->def);
        fputc('\n', out);
    }
}

void
graft_opts_print(const graft_opt *table, const void *obj, FILE *out)
{
    for (const graft_opt *o = table; o->name; o++) {
        const char *slot = (const char *)obj + o->offset;
        fprintf(out, "%s = ", o->name);
        switch (o->type) {
        case GRAFT_OPT_INT:
            fprintf(out, "%lld\n", (long long)*(const int64_t *)slot);
            break;
        case GRAFT_OPT_DOUBLE:
            fprintf(out, "%g\n", *(const double *)slot);
            break;
        case GRAFT_OPT_STRING: {
            const char *s = *(const char *const *)slot;
            fprintf(out, "%s\n", s ? s : "");
            break;
        }
        case GRAFT_OPT_FLAG:
            fprintf(out, "%s\n", *(const int *)slot ? "yes" : "no");
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
            fprintf(out, "%.*s\n", p ? (int)(bar ? bar - p : (long)strlen(p)) : 0, p ? p : "");
            break;
        }
        }
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
