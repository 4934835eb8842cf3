#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

graft_log_level graft_log_threshold = GRAFT_LOG_INFO;
static char log_role[16] = "graft";
static int log_rank = -1;

static const char *level_names[] = {"error", "warn", "info", "debug", "trace"};

int
graft_log_parse_level(const char *name)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void
graft_log_init(const char *role, int rank)
{
    snprintf(log_role, sizeof log_role, "%s", role);
    log_rank = rank;
    const char *env = getenv("GRAFT_LOG_LEVEL");
    if (env && *env) {
        int lv = graft_log_parse_level(env);
        if (lv >= 0)
            graft_log_threshold = (graft_log_level)lv;
        else
            fprintf(stderr, "graft: ignoring unknown GRAFT_LOG_LEVEL '%s'\n", env);
    }
}

void
graft_log_write(graft_log_level level, const char *id, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    /* One fprintf per line so that lines of different ranks do not interleave mid-line. */
    fprintf(stderr, "%02d:%02d:%02d.%03ld %s[%d] %s %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, log_role, log_rank, level_names[level], id, msg);
}
