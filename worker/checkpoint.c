#include "checkpoint.h"
#include "alloc.h"
#include "log.h"
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

graft_err
graft_saved_write(graft_client *c, uint64_t clock, const graft_saved_table *tabs, int n,
                  int nservers, graft_manifest *m)
{
    int S = nservers;
    uint64_t *rows = graft_calloc((size_t)S, sizeof *rows);
    uint64_t *sums = graft_calloc((size_t)S, sizeof *sums);
    graft_err rc = rows && sums ? GRAFT_OK : GRAFT_ERR_NOMEM;
    for (int i = 0; i < n && rc == GRAFT_OK; i++) {
        uint32_t width = 0;
        if (m->ntables == GRAFT_MANIFEST_MAX_TABLES) {
            rc = GRAFT_ERR_INVALID;
            break;
        }
        if ((rc = graft_client_save(c, tabs[i].id, clock, rows, sums, &width)) != GRAFT_OK)
            break;
        graft_manifest_table *tb = &m->tables[m->ntables++];
        snprintf(tb->name, sizeof tb->name, "%s", tabs[i].name);
        tb->width = width;
        tb->shards = graft_calloc((size_t)S, sizeof *tb->shards);
        if (!tb->shards) {
            rc = GRAFT_ERR_NOMEM;
            break;
        }
        tb->nshards = S;
        for (int s = 0; s < S; s++) {
            graft_store_shard_file(tb->shards[s].file, sizeof tb->shards[s].file, tabs[i].file, s,
                                   S);
            tb->shards[s].rows = rows[s];
            tb->shards[s].checksum = sums[s];
            tb->rows += rows[s];
        }
    }
    graft_free(rows);
    graft_free(sums);
    return rc;
}

/* The epochs of dir's ckpt-E folders, newest first. *out is the caller's to free. */
static int
list_epochs(const char *dir, int **out)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, "ckpt-", 5) != 0)
            continue;
        long ep = strtol(e->d_name + 5, &end, 10);
        if (*end || ep <= 0 || ep > 100000000)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            int *grown = graft_realloc_array(*out, (size_t)cap, sizeof(int));
            if (!grown)
                break;
            *out = grown;
        }
        (*out)[n++] = (int)ep;
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* a few folders: insertion sort, newest first */
        for (int j = i; j > 0 && (*out)[j] > (*out)[j - 1]; j--) {
            int x = (*out)[j];
            (*out)[j] = (*out)[j - 1];
            (*out)[j - 1] = x;
        }
    return n;
}

static void
remove_checkpoint(const char *dir, int epoch)
{
    char path[4096], file[4608];
    graft_store_checkpoint_dir(path, sizeof path, dir, (uint64_t)epoch);
    DIR *d = opendir(path);
    struct dirent *e;
    /* The manifest goes first: a half-removed checkpoint is a torn one, never a wrong one. */
    snprintf(file, sizeof file, "%s/manifest.json", path);
    unlink(file);
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        unlink(file);
    }
    if (d)
        closedir(d);
    rmdir(path);
}

graft_err
graft_checkpoint_write(graft_client *c, const char *dir, int epoch, const graft_saved_table *tabs,
                       int n, graft_manifest *m, char *err, size_t errlen)
{
    char path[4096];
    graft_store_checkpoint_dir(path, sizeof path, dir, (uint64_t)epoch);
    graft_err rc = graft_saved_write(c, (uint64_t)epoch, tabs, n, m->servers, m);
    if (rc != GRAFT_OK) {
        snprintf(err, errlen, "checkpoint %s: the servers could not write it (%s; see their log)",
                 path, graft_errname(rc));
        return rc;
    }
    if ((rc = graft_manifest_write(path, m, err, errlen)) != GRAFT_OK)
        return rc;
    /* Keep this checkpoint and the complete one before it. */
    int *eps, ne = list_epochs(dir, &eps), kept = 0;
    for (int i = 0; i < ne; i++) {
        char man[4608];
        struct stat st;
        char ck[4096];
        graft_store_checkpoint_dir(ck, sizeof ck, dir, (uint64_t)eps[i]);
        snprintf(man, sizeof man, "%s/manifest.json", ck);
        if (eps[i] > epoch)
            continue;
        if (kept < 2 && stat(man, &st) == 0)
            kept++;
        else if (eps[i] < epoch)
            remove_checkpoint(dir, eps[i]);
    }
    graft_free(eps);
    return GRAFT_OK;
}

graft_err
graft_checkpoint_find(const char *dir, int *epoch, graft_manifest *m, char *err, size_t errlen)
{
    *epoch = 0;
    int *eps, ne = list_epochs(dir, &eps);
    graft_err rc = GRAFT_OK;
    for (int i = 0; i < ne; i++) {
        char path[4096], man[4608];
        struct stat st;
        graft_store_checkpoint_dir(path, sizeof path, dir, (uint64_t)eps[i]);
        snprintf(man, sizeof man, "%s/manifest.json", path);
        if (stat(man, &st) != 0) {
            GRAFT_LOG_INFO("GRAFT-CHECKPOINT-TORN",
                           "%s has no manifest (it was being written when the job stopped); "
                           "skipped",
                           path);
            continue;
        }
        if ((rc = graft_manifest_read(path, m, err, errlen)) != GRAFT_OK)
            break;
        if ((rc = graft_manifest_verify(path, m, err, errlen)) != GRAFT_OK) {
            graft_manifest_free(m);
            break;
        }
        *epoch = eps[i];
        break;
    }
    graft_free(eps);
    return rc;
}

graft_err
graft_checkpoint_load(graft_client *c, int epoch, const graft_manifest *m,
                      const graft_saved_table *tabs, int n, int shadows, char *err, size_t errlen)
{
    graft_err rc = GRAFT_OK;
    size_t pl = strlen(GRAFT_CHECKPOINT_SHADOW);
    for (int i = 0; rc == GRAFT_OK && i < m->ntables; i++) {
        const graft_manifest_table *tb = &m->tables[i];
        if ((strncmp(tb->name, GRAFT_CHECKPOINT_SHADOW, pl) == 0) != (shadows != 0))
            continue;
        int j = 0;
        while (j < n && strcmp(tabs[j].name, tb->name) != 0)
            j++;
        if (j == n) {
            snprintf(err, errlen,
                     "checkpoint ckpt-%d holds table '%s', which this job does not have", epoch,
                     tb->name);
            rc = GRAFT_ERR_INVALID;
        }
        for (int s = 0; rc == GRAFT_OK && s < tb->nshards; s++) {
            uint64_t kept;
            rc = graft_client_load(c, tabs[j].id, (uint64_t)epoch, tb->shards[s].file,
                                   tb->shards[s].checksum, &kept);
            if (rc != GRAFT_OK)
                snprintf(err, errlen,
                         "checkpoint ckpt-%d: a server could not load %s (see its log)", epoch,
                         tb->shards[s].file);
        }
    }
    return rc;
}
