/* graft-tool: the offline commands behind `launch/graft gen`, `split`, `prep`, `domains`, `export`,
 * `recommend` and `eval`: one process, no MPI, no ZeroMQ. */
#include "alloc.h"
#include "binfile.h"
#include "domains.h"
#include "export.h"
#include "hash.h"
#include "seen.h"
#include "foldin.h"
#include "serve.h"
#include "gen.h"
#include "log.h"
#include "opts.h"
#include "reader.h"
#include "split.h"

#include <errno.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Every subcommand's start: defaults, then the command line (bad usage: a line naming the
 * command, status 2), then --help (the usage text and the options, status 0). Returns -1 to go
 * on, else the status to exit with. help points at the struct's help flag. */
static int
parse_cli(const char *name, const graft_opt *opts, void *c, const int *help, int argc, char **argv,
          const char *usage)
{
    char err[512];
    graft_opts_defaults(opts, c);
    if (graft_opts_parse(opts, c, argc, argv, 2, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "graft %s: %s\n", name, err);
        return 2;
    }
    if (*help) {
        fputs(usage, stdout);
        graft_opts_help(opts, stdout);
        return 0;
    }
    return -1;
}

typedef struct {
    graft_gen_opts g;
    const char *train, *test, *info, *source, *target;
    int64_t domains;
    int help;
} gen_cli;

#define G(f) offsetof(gen_cli, g.f)
#define GC(f) offsetof(gen_cli, f)
static const graft_opt gen_opts[] = {
    {"train", GRAFT_OPT_STRING, GC(train), NULL, 0, 0, NULL,
     "write training ratings here (required)"},
    {"test", GRAFT_OPT_STRING, GC(test), NULL, 0, 0, NULL, "write test ratings here"},
    {"info", GRAFT_OPT_STRING, GC(info), NULL, 0, 0, NULL,
     "write a JSON object with the counts and best_rmse here"},
    {"test-fraction", GRAFT_OPT_DOUBLE, G(test_fraction), "0.1", 0, 1, NULL,
     "probability that a rating goes to the test file (with --test)"},
    {"users", GRAFT_OPT_INT, G(users), "1000", 1, 1e9, NULL, "number of users"},
    {"items", GRAFT_OPT_INT, G(items), "500", 1, 1e9, NULL, "number of items"},
    {"ratings-per-user", GRAFT_OPT_INT, G(ratings_per_user), "100", 1, 1e7, NULL,
     "distinct items each user rates (at most --items)"},
    {"rank", GRAFT_OPT_INT, G(rank), "4", 1, 4096, NULL, "true rank of the planted factors"},
    {"mean", GRAFT_OPT_DOUBLE, G(mean), "3.6", -1e6, 1e6, NULL, "global mean"},
    {"user-bias-sd", GRAFT_OPT_DOUBLE, G(user_bias_sd), "0.3", 0, 100, NULL, "sd of user biases"},
    {"item-bias-sd", GRAFT_OPT_DOUBLE, G(item_bias_sd), "0.5", 0, 100, NULL, "sd of item biases"},
    {"signal-sd", GRAFT_OPT_DOUBLE, G(signal_sd), "0.8", 0, 100, NULL, "sd of p_u . q_i"},
    {"noise", GRAFT_OPT_DOUBLE, G(noise), "0.5", 1e-6, 100, NULL, "sd of the rating noise e"},
    {"zipf", GRAFT_OPT_DOUBLE, G(zipf), "1", 0, 10, NULL,
     "item popularity exponent (0: uniform, 1: Zipf(1))"},
    {"round", GRAFT_OPT_FLAG, G(round), "1", 0, 0, NULL,
     "round and clip ratings to stars 1..5 (--round=no keeps real values)"},
    {"seed", GRAFT_OPT_INT, G(seed), "1", 0, 9.2e18, NULL, "random seed"},
    {"domains", GRAFT_OPT_INT, GC(domains), "1", 1, 2, NULL,
     "2: a source and a target domain sharing users (--source, --target)"},
    {"source", GRAFT_OPT_STRING, GC(source), NULL, 0, 0, NULL,
     "two domains: write the source ratings here"},
    {"target", GRAFT_OPT_STRING, GC(target), NULL, 0, 0, NULL,
     "two domains: write the target ratings here"},
    {"target-items", GRAFT_OPT_INT, G(target_items), "0", 0, 1e9, NULL,
     "two domains: target items (0: as --items)"},
    {"target-ratings-per-user", GRAFT_OPT_INT, G(target_ratings_per_user), "20", 1, 1e7, NULL,
     "two domains: distinct target items each user rates (--ratings-per-user is the source's)"},
    {"taste", GRAFT_OPT_DOUBLE, G(taste), "0", 0, 100, NULL,
     "how much a user's tastes choose the items they rate: an item drawn by popularity is kept "
     "with probability sigmoid(taste x its interaction / --signal-sd); 0: chosen regardless of "
     "taste (the ratings alone carry it)"},
    {"correlation", GRAFT_OPT_DOUBLE, G(correlation), "1", 0, 1, NULL,
     "two domains: correlation of a user's tastes across them (1: same, 0: unrelated)"},
    {"overlap", GRAFT_OPT_DOUBLE, G(overlap), "1", 0, 1, NULL,
     "two domains: share of the users who also rate in the source"},
    {"help", GRAFT_OPT_FLAG, GC(help), NULL, 0, 0, NULL, "show this help"},
    GRAFT_OPT_END,
};

typedef struct {
    const char *in, *train, *test;
    double fraction;
    int by; /* 0 random, 1 user */
    int64_t seed;
    int format, bad_lines, help;
} split_cli;

#define S(f) offsetof(split_cli, f)
static const graft_opt split_opts[] = {
    {"in", GRAFT_OPT_STRING, S(in), NULL, 0, 0, NULL, "ratings file to split (required)"},
    {"train", GRAFT_OPT_STRING, S(train), NULL, 0, 0, NULL, "training output file (required)"},
    {"test", GRAFT_OPT_STRING, S(test), NULL, 0, 0, NULL, "test output file (required)"},
    {"fraction", GRAFT_OPT_DOUBLE, S(fraction), "0.1", 0, 1, NULL, "share of ratings for test"},
    {"by", GRAFT_OPT_CHOICE, S(by), "random", 0, 0, "random|user",
     "random: each rating independently; user: that share of each user's ratings"},
    {"seed", GRAFT_OPT_INT, S(seed), "1", 0, 9.2e18, NULL, "random seed"},
    {"format", GRAFT_OPT_CHOICE, S(format), "auto", 0, 0, GRAFT_FORMAT_CHOICES, "input format"},
    {"bad-lines", GRAFT_OPT_CHOICE, S(bad_lines), "error", 0, 0, "error|skip",
     "stop at a malformed line, or drop and count it"},
    {"help", GRAFT_OPT_FLAG, S(help), NULL, 0, 0, NULL, "show this help"},
    GRAFT_OPT_END,
};

static FILE *
open_out(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "graft: %s: %s\n", path, strerror(errno));
    return f;
}

static int
close_out(FILE *f, const char *path)
{
    if (f && (ferror(f) | fclose(f))) {
        fprintf(stderr, "graft: %s: write failed\n", path);
        return 1;
    }
    return 0;
}

static int
write_info(const char *path, const gen_cli *c, const graft_gen_result *res)
{
    if (!path)
        return 0;
    FILE *f = open_out(path);
    if (!f)
        return 2;
    if (c->domains == 2)
        fprintf(f,
                "{\"domains\":2,\"source_ratings\":%llu,\"target_ratings\":%llu,"
                "\"best_rmse\":%.6f,\"best_rmse_source\":%.6f,\"users\":%lld,\"correlation\":%g,"
                "\"rank\":%lld,\"noise\":%g,\"seed\":%lld}\n",
                (unsigned long long)res->train_ratings, (unsigned long long)res->test_ratings,
                res->best_rmse, res->best_rmse_train, (long long)c->g.users, c->g.correlation,
                (long long)c->g.rank, c->g.noise, (long long)c->g.seed);
    else
        fprintf(f,
                "{\"train_ratings\":%llu,\"test_ratings\":%llu,\"best_rmse\":%.6f,"
                "\"best_rmse_train\":%.6f,\"users\":%lld,\"items\":%lld,\"rank\":%lld,"
                "\"noise\":%g,\"seed\":%lld}\n",
                (unsigned long long)res->train_ratings, (unsigned long long)res->test_ratings,
                res->best_rmse, res->best_rmse_train, (long long)c->g.users, (long long)c->g.items,
                (long long)c->g.rank, c->g.noise, (long long)c->g.seed);
    return close_out(f, path);
}

static int
gen_domains(gen_cli *c)
{
    int64_t ti = c->g.target_items ? c->g.target_items : c->g.items;
    if (!c->source || !c->target) {
        fprintf(stderr, "graft gen: --domains 2 needs --source FILE and --target FILE\n");
        return 2;
    }
    if (c->g.ratings_per_user > c->g.items || c->g.target_ratings_per_user > ti) {
        fprintf(stderr, "graft gen: more ratings per user than items in a domain\n");
        return 2;
    }
    FILE *s = open_out(c->source), *t = s ? open_out(c->target) : NULL;
    if (!s || !t) {
        if (s)
            fclose(s);
        return 2;
    }
    graft_gen_result res;
    graft_err rc = graft_gen_run_domains(&c->g, s, t, &res);
    int bad = close_out(s, c->source) | close_out(t, c->target);
    if (rc != GRAFT_OK || bad) {
        fprintf(stderr, "graft gen: %s\n", graft_strerror(rc));
        return 1;
    }
    printf("gen: %llu source and %llu target ratings, correlation %g; best achievable target "
           "RMSE %.4f\n",
           (unsigned long long)res.train_ratings, (unsigned long long)res.test_ratings,
           c->g.correlation, res.best_rmse);
    return write_info(c->info, c, &res);
}

static int
cmd_gen(int argc, char **argv)
{
    gen_cli c = {0};
    int st =
        parse_cli("gen", gen_opts, &c, &c.help, argc, argv,
                  "usage: graft gen --train FILE [--test FILE] [OPTIONS]\n"
                  "       graft gen --domains 2 --source FILE --target FILE [OPTIONS]\n\n"
                  "Writes synthetic ratings with planted low-rank structure and reports the best\n"
                  "RMSE any predictor could reach on the test ratings (on the target ratings with\n"
                  "two domains).\n\nOptions:\n");
    if (st >= 0)
        return st;
    if (c.domains == 2)
        return gen_domains(&c);
    if (!c.train) {
        fprintf(stderr, "graft gen: --train FILE is required\n");
        return 2;
    }
    if (c.g.ratings_per_user > c.g.items) {
        fprintf(stderr, "graft gen: --ratings-per-user %lld is more than --items %lld\n",
                (long long)c.g.ratings_per_user, (long long)c.g.items);
        return 2;
    }
    if (!c.test)
        c.g.test_fraction = 0;
    FILE *tr = open_out(c.train), *te = c.test ? open_out(c.test) : NULL;
    if (!tr || (c.test && !te))
        return 2;
    graft_gen_result res;
    graft_err rc = graft_gen_run(&c.g, tr, te, &res);
    int bad = close_out(tr, c.train) | (te ? close_out(te, c.test) : 0);
    if (rc != GRAFT_OK || bad) {
        fprintf(stderr, "graft gen: %s\n", graft_strerror(rc));
        return 1;
    }
    printf("gen: %llu training and %llu test ratings; best achievable test RMSE %.4f\n",
           (unsigned long long)res.train_ratings, (unsigned long long)res.test_ratings,
           res.best_rmse);
    return write_info(c.info, &c, &res);
}

static int
cmd_split(int argc, char **argv)
{
    split_cli c = {0};
    char err[512];
    int st =
        parse_cli("split", split_opts, &c, &c.help, argc, argv,
                  "usage: graft split --in FILE --train FILE --test FILE [OPTIONS]\n\n"
                  "Splits a ratings file into train and test files, copying lines verbatim.\n\n"
                  "Options:\n");
    if (st >= 0)
        return st;
    if (!c.in || !c.train || !c.test) {
        fprintf(stderr, "graft split: --in, --train and --test are required\n");
        return 2;
    }
    graft_datafile *df = NULL;
    if (graft_datafile_open(c.in, (graft_format)c.format, &df, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "graft split: %s\n", err);
        return 2;
    }
    FILE *tr = open_out(c.train), *te = open_out(c.test);
    int status = 0;
    if (!tr || !te) {
        status = 2;
    } else {
        graft_split_opts so = {.fraction = c.fraction,
                               .per_user = c.by == 1,
                               .skip_bad = c.bad_lines == 1,
                               .seed = (uint64_t)c.seed};
        graft_split_result res;
        graft_err rc = graft_split_run(df, &so, tr, te, &res, err, sizeof err);
        if (rc != GRAFT_OK) {
            fprintf(stderr, "graft split: %s\n", err);
            status = rc == GRAFT_ERR_PARSE ? 2 : 1;
        } else {
            printf("split: %llu training and %llu test ratings (%llu bad lines skipped)\n",
                   (unsigned long long)res.train, (unsigned long long)res.test,
                   (unsigned long long)res.bad_lines);
        }
    }
    if (tr && close_out(tr, c.train))
        status = 1;
    if (te && close_out(te, c.test))
        status = 1;
    if (status != 0) {
        /* Never leave half-written outputs that look like a finished split. */
        remove(c.train);
        remove(c.test);
    }
    graft_datafile_close(&df);
    return status;
}

typedef struct {
    const char *in, *out;
    int format, bad_lines;
    int64_t parts;
    int help;
} prep_cli;

#define P(field) offsetof(prep_cli, field)
static const graft_opt prep_opts[] = {
    {"in", GRAFT_OPT_STRING, P(in), NULL, 0, 0, NULL, "ratings file, any text format (required)"},
    {"out", GRAFT_OPT_STRING, P(out), NULL, 0, 0, NULL, "binary file to write (required)"},
    {"parts", GRAFT_OPT_INT, P(parts), "64", 1, 65536, NULL,
     "parts by user: a job whose worker count divides this reads whole parts, by owner"},
    {"format", GRAFT_OPT_CHOICE, P(format), "auto", 0, 0, GRAFT_FORMAT_CHOICES, "input format"},
    {"bad-lines", GRAFT_OPT_CHOICE, P(bad_lines), "error", 0, 0, "error|skip",
     "stop at a malformed line, or drop and count it"},
    {"help", GRAFT_OPT_FLAG, P(help), NULL, 0, 0, NULL, "show this help"},
    GRAFT_OPT_END,
};

/* Text ratings to the binary form training reads without parsing (common/binfile.h). */
static int
cmd_prep(int argc, char **argv)
{
    prep_cli c = {0};
    char err[4608];
    int st = parse_cli(
        "prep", prep_opts, &c, &c.help, argc, argv,
        "usage: graft prep --in FILE --out FILE [OPTIONS]\n\n"
        "Converts ratings to Graft's checksummed binary form, with their id dictionaries;\n"
        "graft train reads it without parsing (each worker maps only its part).\n\n"
        "Options:\n");
    if (st >= 0)
        return st;
    if (!c.in || !c.out) {
        fprintf(stderr, "graft prep: --in and --out are required\n");
        return 2;
    }
    graft_datafile *df = NULL;
    graft_ratings r = {0};
    graft_iddict *users = NULL, *items = NULL;
    uint64_t bad = 0;
    int status = 0;
    if (graft_datafile_open(c.in, (graft_format)c.format, &df, err, sizeof err) != GRAFT_OK) {
        status = 2;
    } else if (graft_iddict_create(&users) != GRAFT_OK || graft_iddict_create(&items) != GRAFT_OK) {
        snprintf(err, sizeof err, "out of memory");
        status = 1;
    } else {
        graft_err rc =
            graft_ratings_load(df, 0, 1, c.bad_lines == 1, &r, &bad, users, items, err, sizeof err);
        if (rc == GRAFT_OK)
            rc = graft_binfile_write(c.out, &r, users, items, (int)c.parts, err, sizeof err);
        status = rc == GRAFT_OK ? 0 : rc == GRAFT_ERR_PARSE ? 2 : 1;
    }
    if (status)
        fprintf(stderr, "graft prep: %s\n", err);
    else
        printf("prep: %zu ratings of %zu users and %zu items in %lld parts written to %s (%llu "
               "bad lines skipped)\n",
               r.n, graft_iddict_count(users), graft_iddict_count(items), (long long)c.parts, c.out,
               (unsigned long long)bad);
    graft_ratings_free(&r);
    graft_iddict_destroy(&users);
    graft_iddict_destroy(&items);
    graft_datafile_close(&df);
    return status;
}

typedef struct {
    const char *ratings, *movies, *genres, *source, *target;
    const char *src_genres, *src_exclude, *tgt_genres, *tgt_exclude;
    int help;
} domains_cli;

#define D(f) offsetof(domains_cli, f)
static const graft_opt domains_opts[] = {
    {"ratings", GRAFT_OPT_STRING, D(ratings), NULL, 0, 0, NULL,
     "MovieLens ratings file (required)"},
    {"movies", GRAFT_OPT_STRING, D(movies), NULL, 0, 0, NULL,
     "its movies file: movieId,title,genres, or MovieLens 100K's u.item (required)"},
    {"genres", GRAFT_OPT_STRING, D(genres), NULL, 0, 0, NULL,
     "u.item only: its u.genre file (name|index lines) naming the genre flags [default: "
     "MovieLens 100K's order]"},
    {"source", GRAFT_OPT_STRING, D(source), NULL, 0, 0, NULL, "source ratings output (required)"},
    {"target", GRAFT_OPT_STRING, D(target), NULL, 0, 0, NULL, "target ratings output (required)"},
    {"source-genres", GRAFT_OPT_STRING, D(src_genres), "Drama", 0, 0, NULL,
     "comma-separated genres that admit a movie to the source"},
    {"source-exclude", GRAFT_OPT_STRING, D(src_exclude), "Comedy", 0, 0, NULL,
     "comma-separated genres that keep a movie out of the source"},
    {"target-genres", GRAFT_OPT_STRING, D(tgt_genres), "Comedy", 0, 0, NULL,
     "comma-separated genres that admit a movie to the target"},
    {"target-exclude", GRAFT_OPT_STRING, D(tgt_exclude), "Drama", 0, 0, NULL,
     "comma-separated genres that keep a movie out of the target"},
    {"help", GRAFT_OPT_FLAG, D(help), NULL, 0, 0, NULL, "show this help"},
    GRAFT_OPT_END,
};

static int
cmd_domains(int argc, char **argv)
{
    domains_cli c = {0};
    char err[512];
    int st = parse_cli(
        "domains", domains_opts, &c, &c.help, argc, argv,
        "usage: graft domains --ratings FILE --movies FILE --source FILE --target FILE\n"
        "                     [--genres u.genre] [--source-genres G,..] [--source-exclude "
        "G,..]\n"
        "                     [--target-genres G,..] [--target-exclude G,..]\n\n"
        "Makes a source and a target ratings file by genre rules: a movie belongs to a\n"
        "domain when it has one of its genres and none of its excluded ones. The movies\n"
        "file is ml-latest's movies.csv or MovieLens 100K's u.item.\n\n"
        "Options:\n");
    if (st >= 0)
        return st;
    if (!c.ratings || !c.movies || !c.source || !c.target) {
        fprintf(stderr, "graft domains: --ratings, --movies, --source and --target are required\n");
        return 2;
    }
    graft_datafile *df = NULL;
    if (graft_datafile_open(c.ratings, GRAFT_FMT_AUTO, &df, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "graft domains: %s\n", err);
        return 2;
    }
    FILE *s = open_out(c.source), *t = s ? open_out(c.target) : NULL;
    int status = 0;
    if (!s || !t) {
        status = 2;
    } else {
        graft_genre_rule sr = {c.src_genres, c.src_exclude}, tr = {c.tgt_genres, c.tgt_exclude};
        graft_domains_result res;
        graft_err rc =
            graft_domains_run(df, c.movies, c.genres, &sr, &tr, s, t, &res, err, sizeof err);
        if (rc != GRAFT_OK) {
            fprintf(stderr, "graft domains: %s\n", err);
            status = rc == GRAFT_ERR_NOMEM ? 1 : 2;
        } else {
            printf("domains: %llu of %llu movies in the source, %llu in the target; %llu source "
                   "and %llu target ratings (%llu in neither)\n",
                   (unsigned long long)res.source_movies, (unsigned long long)res.movies,
                   (unsigned long long)res.target_movies, (unsigned long long)res.source_ratings,
                   (unsigned long long)res.target_ratings, (unsigned long long)res.other_ratings);
        }
    }
    if (s && close_out(s, c.source))
        status = 1;
    if (t && close_out(t, c.target))
        status = 1;
    if (status != 0) {
        remove(c.source);
        remove(c.target);
    }
    graft_datafile_close(&df);
    return status;
}

typedef struct {
    const char *model, *out;
    int format, help;
} export_cli;

#define X(f) offsetof(export_cli, f)
static const graft_opt export_opts[] = {
    {"model", GRAFT_OPT_STRING, X(model), NULL, 0, 0, NULL,
     "a folder written by --save (required)"},
    {"out", GRAFT_OPT_STRING, X(out), NULL, 0, 0, NULL, "folder to write into (required)"},
    {"format", GRAFT_OPT_CHOICE, X(format), "npy", 0, 0, "npy|tsv",
     "npy: TABLE.npy and TABLE.ids per table; tsv: TABLE.tsv (id, then the values)"},
    {"help", GRAFT_OPT_FLAG, X(help), NULL, 0, 0, NULL, "show this help"},
    GRAFT_OPT_END,
};

static int
cmd_export(int argc, char **argv)
{
    export_cli c = {0};
    char err[4608];
    int st = parse_cli(
        "export", export_opts, &c, &c.help, argc, argv,
        "usage: graft export --model DIR --out DIR [--format npy|tsv]\n\n"
        "Writes a saved model's tables as NumPy .npy files (float32, one row per key) with\n"
        "a text file of the ids in row order, or as TSV, and model.json.\n\nOptions:\n");
    if (st >= 0)
        return st;
    if (!c.model || !c.out) {
        fprintf(stderr, "graft export: --model and --out are required\n");
        return 2;
    }
    graft_err rc = graft_export_run(c.model, c.out, (graft_export_format)c.format, err, sizeof err);
    if (rc != GRAFT_OK) {
        fprintf(stderr, "graft export: %s\n", err);
        return rc == GRAFT_ERR_NOMEM ? 1 : 2;
    }
    printf("export: written to %s\n", c.out);
    return 0;
}

typedef struct {
    const char *model, *domain, *user, *users, *out, *seen, *test, *ks, *history;
    int history_domain; /* index into history_domains */
    int64_t k;
    double min_rating;
    int help;
} serve_cli;

#define V(f) offsetof(serve_cli, f)
static const char *const history_domains[] = {"auto", "source", "target"};
static const graft_opt recommend_opts[] = {
    {"model", GRAFT_OPT_STRING, V(model), NULL, 0, 0, NULL,
     "a folder written by --save (required)"},
    {"domain", GRAFT_OPT_STRING, V(domain), NULL, 0, 0, NULL,
     "target or source of a transfer model [default: target, or the plain model's only one]"},
    {"user", GRAFT_OPT_STRING, V(user), NULL, 0, 0, NULL, "recommend for this user id"},
    {"users", GRAFT_OPT_STRING, V(users), NULL, 0, 0, NULL,
     "recommend for every user id in this file (one per line); with --out"},
    {"out", GRAFT_OPT_STRING, V(out), NULL, 0, 0, NULL,
     "with --users: write USER<TAB>RANK<TAB>ITEM<TAB>SCORE lines here"},
    {"history", GRAFT_OPT_STRING, V(history), NULL, 0, 0, NULL,
     "fold in and recommend for every user of this file (user,item[,value] lines of any domain "
     "an iALS model has): users need not have been trained; their items are left out"},
    {"history-domain", GRAFT_OPT_CHOICE, V(history_domain), "auto", 0, 0, "auto|source|target",
     "the domain of --history's items: auto takes an id the target knows as the target's, else "
     "the source's; give source when both domains use the same ids"},
    {"k", GRAFT_OPT_INT, V(k), "10", 1, 100000, NULL, "items per user (also -k)"},
    {"seen", GRAFT_OPT_STRING, V(seen), NULL, 0, 0, NULL,
     "a ratings file: leave out the items each user rated there"},
    {"help", GRAFT_OPT_FLAG, V(help), NULL, 0, 0, NULL, "show this help"},
    GRAFT_OPT_END,
};

static const graft_opt eval_opts[] = {
    {"model", GRAFT_OPT_STRING, V(model), NULL, 0, 0, NULL,
     "a folder written by --save (required)"},
    {"domain", GRAFT_OPT_STRING, V(domain), NULL, 0, 0, NULL,
     "target or source of a transfer model [default: target, or the plain model's only one]"},
    {"test", GRAFT_OPT_STRING, V(test), NULL, 0, 0, NULL, "test ratings (required)"},
    {"seen", GRAFT_OPT_STRING, V(seen), NULL, 0, 0, NULL,
     "training ratings: left out of each user's ranking"},
    {"history", GRAFT_OPT_STRING, V(history), NULL, 0, 0, NULL,
     "fold the users of this file in first (iALS models): their rows come from these "
     "interactions, which are left out of their ranking unless --seen is given"},
    {"history-domain", GRAFT_OPT_CHOICE, V(history_domain), "auto", 0, 0, "auto|source|target",
     "the domain of --history's items: auto takes an id the target knows as the target's, else "
     "the source's; give source when both domains use the same ids"},
    {"k", GRAFT_OPT_STRING, V(ks), "10", 0, 0, NULL, "cut-offs, comma-separated (also -k)"},
    {"min-rating", GRAFT_OPT_DOUBLE, V(min_rating), "-1e300", -1e300, 1e300, NULL,
     "test ratings at least this are relevant for ranking [default: all]"},
    {"out", GRAFT_OPT_STRING, V(out), NULL, 0, 0, NULL, "also write the figures as JSON here"},
    {"help", GRAFT_OPT_FLAG, V(help), NULL, 0, 0, NULL, "show this help"},
    GRAFT_OPT_END,
};

typedef struct {
    const graft_pairs *seen;
    const uint64_t *keys;
} seen_ctx;

static int
seen_item(void *ctx, size_t u, size_t item)
{
    const seen_ctx *c = ctx;
    return graft_pairs_has(c->seen, c->keys[u], (int64_t)item);
}

/* --history: the model's fold-in and the history's users folded into s. 0, or 2 with err. */
static int
fold_history(const serve_cli *c, graft_served *s, graft_foldin **fold, graft_foldin_report *rep,
             char *err, size_t errlen)
{
    if (graft_foldin_load(c->model, fold, err, errlen) != GRAFT_OK ||
        graft_foldin_set_domain(*fold, history_domains[c->history_domain], err, errlen) !=
            GRAFT_OK ||
        graft_foldin_history(*fold, c->history, s, rep, err, errlen) != GRAFT_OK)
        return 2;
    return 0;
}

/* What is left out of each user's ranking: --seen, else the history's items when they are of
 * the ranked domain (a source history says nothing of which target items a user has seen). */
static const char *
seen_of(const serve_cli *c)
{
    if (c->seen || !c->history)
        return c->seen;
    const char *ranked = c->domain ? c->domain : "target";
    return c->history_domain == 0 || strcmp(history_domains[c->history_domain], ranked) == 0
               ? c->history
               : NULL;
}

static int
cmd_recommend(int argc, char **argv)
{
    serve_cli c = {0};
    char err[4608];
    int st = parse_cli(
        "recommend", recommend_opts, &c, &c.help, argc, argv,
        "usage: graft recommend --model DIR --user ID [-k 10] [--seen FILE]\n"
        "       graft recommend --model DIR --users FILE --out FILE [-k 10] [--seen FILE]\n"
        "       graft recommend --model DIR --history FILE [--history-domain D] [--out FILE] [-k "
        "10]\n\n"
        "Prints the top-K items of a user with their predicted ratings. An unknown user is\n"
        "answered from the biases, and said so. --history folds users in from their\n"
        "interactions (iALS models; docs/ranking.md).\n\nOptions:\n");
    if (st >= 0)
        return st;
    if (!c.model || (!!c.user + !!c.users + !!c.history != 1) || (c.users && !c.out)) {
        fprintf(stderr, "graft recommend: give --model, and --user ID, --users FILE --out FILE or "
                        "--history FILE\n");
        return 2;
    }
    graft_served *s = NULL;
    graft_foldin *fold = NULL;
    graft_foldin_report rep = {0};
    graft_pairs seen = {0};
    int status = 0;
    char **ids = NULL;
    size_t n = 0, cap = 0;
    FILE *out = stdout;
    const char *seen_path = seen_of(&c);
    if (graft_served_load(c.model, c.domain, &s, err, sizeof err) != GRAFT_OK ||
        (c.history && fold_history(&c, s, &fold, &rep, err, sizeof err) != 0) ||
        (seen_path && graft_pairs_read(seen_path, s, &seen, err, sizeof err) != GRAFT_OK)) {
        fprintf(stderr, "graft recommend: %s\n", err);
        status = 2;
        goto done;
    }
    if (c.history) {
        /* The report's ids become the users answered, in the file's order. */
        ids = rep.ids;
        n = rep.users;
        rep.ids = NULL;
        if (c.out && !(out = fopen(c.out, "w"))) {
            fprintf(stderr, "graft recommend: %s: %s\n", c.out, strerror(errno));
            status = 2;
            goto done;
        }
    } else if (c.users) {
        FILE *f = fopen(c.users, "r");
        if (!f) {
            fprintf(stderr, "graft recommend: %s: %s\n", c.users, strerror(errno));
            status = 2;
            goto done;
        }
        char *line = NULL;
        size_t lcap = 0;
        ssize_t len;
        while ((len = getline(&line, &lcap, f)) >= 0) {
            while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = 0;
            if (!len)
                continue;
            char *copy = NULL;
            if (n == cap) {
                char **grown = graft_realloc_array(ids, cap ? cap * 2 : 256, sizeof *ids);
                if (grown) {
                    ids = grown;
                    cap = cap ? cap * 2 : 256;
                }
            }
            if (n == cap || !(copy = graft_strdup(line))) {
                status = 1;
                break;
            }
            ids[n++] = copy;
        }
        free(line);
        fclose(f);
        if (status) {
            fprintf(stderr, "graft recommend: out of memory reading %s\n", c.users);
            goto done;
        }
        if (!(out = fopen(c.out, "w"))) {
            fprintf(stderr, "graft recommend: %s: %s\n", c.out, strerror(errno));
            status = 2;
            goto done;
        }
    } else {
        ids = graft_malloc(sizeof *ids);
        if (!ids || !(ids[0] = graft_strdup(c.user))) {
            fprintf(stderr, "graft recommend: out of memory\n");
            status = 1;
            goto done;
        }
        n = 1;
    }
    int64_t *rows = graft_malloc((n ? n : 1) * sizeof *rows);
    uint64_t *keys = graft_malloc((n ? n : 1) * sizeof *keys);
    int64_t *top = graft_malloc((n ? n : 1) * (size_t)c.k * sizeof *top);
    float *sc = graft_malloc((n ? n : 1) * (size_t)c.k * sizeof *sc);
    if (!rows || !keys || !top || !sc) {
        fprintf(stderr, "graft recommend: out of memory\n");
        status = 1;
    }
    size_t unknown = 0;
    for (size_t i = 0; status == 0 && i < n; i++) {
        keys[i] = graft_hash_id(ids[i], strlen(ids[i]));
        rows[i] = graft_served_user(s, keys[i]);
        unknown += rows[i] < 0;
    }
    seen_ctx ctx = {&seen, keys};
    if (status == 0 && graft_served_topk(s, rows, n, (int)c.k, c.seen ? seen_item : NULL, &ctx, top,
                                         sc) != GRAFT_OK) {
        fprintf(stderr, "graft recommend: out of memory\n");
        status = 1;
    }
    for (size_t i = 0; status == 0 && i < n; i++) {
        if (c.user && rows[i] < 0)
            fprintf(stderr,
                    "graft recommend: user '%s' is not in the model: ranked by the item "
                    "biases alone\n",
                    ids[i]);
        for (int j = 0; j < c.k; j++) {
            int64_t it = top[i * (size_t)c.k + (size_t)j];
            if (it < 0)
                break;
            char buf[17];
            if (c.users || c.history)
                fprintf(out, "%s\t", ids[i]);
            fprintf(out, "%d\t%s\t%.4f\n", j + 1, graft_served_item_id(s, (size_t)it, buf),
                    sc[i * (size_t)c.k + (size_t)j]);
        }
    }
    if (c.users && status == 0)
        printf("recommend: %zu users (%zu not in the model, ranked by item biases) written to %s\n",
               n, unknown, c.out);
    if (c.history && status == 0)
        fprintf(stderr,
                "recommend: %zu users folded in from %s (%zu without an item the model knows: "
                "ranked by popularity; %zu lines skipped)%s%s\n",
                n, c.history, rep.no_known, rep.unknown, c.out ? ", written to " : "",
                c.out ? c.out : "");
    graft_free(rows);
    graft_free(keys);
    graft_free(top);
    graft_free(sc);
done:
    if (out && out != stdout && fclose(out) != 0 && status == 0)
        status = 1;
    for (size_t i = 0; ids && i < n; i++)
        graft_free(ids[i]);
    graft_free(ids);
    graft_pairs_free(&seen);
    graft_foldin_report_free(&rep);
    graft_foldin_destroy(&fold);
    graft_served_destroy(&s);
    return status;
}

static int
cmd_eval(int argc, char **argv)
{
    serve_cli c = {0};
    char err[4608];
    int st = parse_cli(
        "eval", eval_opts, &c, &c.help, argc, argv,
        "usage: graft eval --model DIR --test FILE [--seen TRAIN] [--history FILE] [-k 5,10,20]\n\n"
        "RMSE and MAE on the test ratings, and HR@K, NDCG@K and Recall@K of a full\n"
        "ranking of every item for each test user.\n\nOptions:\n");
    if (st >= 0)
        return st;
    if (!c.model || !c.test) {
        fprintf(stderr, "graft eval: --model and --test are required\n");
        return 2;
    }
    graft_eval_opts eo = {.min_rating = (float)c.min_rating};
    for (const char *p = c.ks; p && *p;) {
        char *end;
        long k = strtol(p, &end, 10);
        const char *why = end == p || (*end && *end != ',') ? "is not a whole number"
                          : k < 1 || k > 100000             ? "is outside 1..100000"
                          : eo.nk == GRAFT_EVAL_MAX_K       ? "is one cut-off too many"
                                                            : NULL;
        if (why) {
            int len = (int)strcspn(p, ",");
            fprintf(stderr,
                    "graft eval: -k: '%.*s' %s (up to %d cut-offs from 1 to 100000, "
                    "comma-separated)\n",
                    len, p, why, GRAFT_EVAL_MAX_K);
            return 2;
        }
        eo.ks[eo.nk++] = (int)k;
        p = *end ? end + 1 : end;
    }
    graft_served *s = NULL;
    graft_foldin *fold = NULL;
    graft_foldin_report rep = {0};
    graft_pairs test = {0}, seen = {0};
    int status = 0;
    graft_eval_result r;
    const char *seen_path = seen_of(&c);
    if (graft_served_load(c.model, c.domain, &s, err, sizeof err) != GRAFT_OK ||
        (c.history && fold_history(&c, s, &fold, &rep, err, sizeof err) != 0) ||
        graft_pairs_read(c.test, s, &test, err, sizeof err) != GRAFT_OK ||
        (seen_path && graft_pairs_read(seen_path, s, &seen, err, sizeof err) != GRAFT_OK)) {
        fprintf(stderr, "graft eval: %s\n", err);
        status = 2;
    } else if (graft_eval_run(s, &test, seen_path ? &seen : NULL, &eo, &r) != GRAFT_OK) {
        fprintf(stderr, "graft eval: out of memory\n");
        status = 1;
    } else {
        printf("eval: %llu ratings: rmse %.4f  mae %.4f\n", (unsigned long long)r.ratings, r.rmse,
               r.mae);
        for (int j = 0; j < eo.nk; j++)
            printf("eval: %llu users: HR@%d %.4f  NDCG@%d %.4f  Recall@%d %.4f\n",
                   (unsigned long long)r.users, eo.ks[j], r.hr[j], eo.ks[j], r.ndcg[j], eo.ks[j],
                   r.recall[j]);
        FILE *f = c.out ? fopen(c.out, "w") : NULL;
        if (c.out && !f) {
            fprintf(stderr, "graft eval: %s: %s\n", c.out, strerror(errno));
            status = 2;
        } else if (f) {
            fprintf(f, "{\"ratings\":%llu,\"rmse\":%.6f,\"mae\":%.6f,\"users\":%llu",
                    (unsigned long long)r.ratings, r.rmse, r.mae, (unsigned long long)r.users);
            for (int j = 0; j < eo.nk; j++)
                fprintf(f, ",\"hr@%d\":%.6f,\"ndcg@%d\":%.6f,\"recall@%d\":%.6f", eo.ks[j], r.hr[j],
                        eo.ks[j], r.ndcg[j], eo.ks[j], r.recall[j]);
            fputs("}\n", f);
            fclose(f);
        }
    }
    if (c.history && status == 0)
        printf("eval: %zu users folded in from %s (%zu without an item the model knows: ranked "
               "by popularity; %zu lines skipped)\n",
               rep.users, c.history, rep.no_known, rep.unknown);
    graft_pairs_free(&test);
    graft_pairs_free(&seen);
    graft_foldin_report_free(&rep);
    graft_foldin_destroy(&fold);
    graft_served_destroy(&s);
    return status;
}

int
main(int argc, char **argv)
{
    graft_log_init("tool", 0);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("usage: graft-tool gen|split|prep|domains|export|recommend|eval [OPTIONS]   (see "
               "`graft-tool CMD "
               "--help`)\n");
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "gen") == 0)
        return cmd_gen(argc, argv);
    if (strcmp(argv[1], "split") == 0)
        return cmd_split(argc, argv);
    if (strcmp(argv[1], "prep") == 0)
        return cmd_prep(argc, argv);
    if (strcmp(argv[1], "domains") == 0)
        return cmd_domains(argc, argv);
    if (strcmp(argv[1], "export") == 0)
        return cmd_export(argc, argv);
    /* -k, as users write it, is --k. */
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "-k") == 0)
            argv[i] = "--k";
    if (strcmp(argv[1], "recommend") == 0)
        return cmd_recommend(argc, argv);
    if (strcmp(argv[1], "eval") == 0)
        return cmd_eval(argc, argv);
    fprintf(stderr, "graft-tool: unknown command '%s'\n", argv[1]);
    return 2;
}
