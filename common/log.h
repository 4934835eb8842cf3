/* Logging: levels, a role and rank on every line, and a stable message id that tests and users
 * grep for. The level is checked before anything is formatted. GRAFT_LOG_LEVEL overrides it. */
#ifndef GRAFT_LOG_H
#define GRAFT_LOG_H

#include <stdarg.h>

typedef enum {
    GRAFT_LOG_ERROR = 0,
    GRAFT_LOG_WARN,
    GRAFT_LOG_INFO,
    GRAFT_LOG_DEBUG,
    GRAFT_LOG_TRACE
} graft_log_level;

extern graft_log_level graft_log_threshold;

/* Sets the role ("server", "worker", "tool") and rank printed on every line, and reads
 * GRAFT_LOG_LEVEL (error|warn|info|debug|trace). Call once at start; not thread-safe. */
void graft_log_init(const char *role, int rank);
/* Parses a level name; returns -1 for an unknown one. */
int graft_log_parse_level(const char *name);

void graft_log_write(graft_log_level level, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define GRAFT_LOG(level, id, ...)                                                                  \
    do {                                                                                           \
        if ((level) <= graft_log_threshold)                                                        \
            graft_log_write((level), (id), __VA_ARGS__);                                           \
    } while (0)
#define GRAFT_LOG_ERROR(id, ...) GRAFT_LOG(GRAFT_LOG_ERROR, id, __VA_ARGS__)
#define GRAFT_LOG_WARN(id, ...) GRAFT_LOG(GRAFT_LOG_WARN, id, __VA_ARGS__)
#define GRAFT_LOG_INFO(id, ...) GRAFT_LOG(GRAFT_LOG_INFO, id, __VA_ARGS__)
#define GRAFT_LOG_DEBUG(id, ...) GRAFT_LOG(GRAFT_LOG_DEBUG, id, __VA_ARGS__)

/* Logs, sets rc and jumps to the function's one cleanup label. */
#define GRAFT_CHECK(cond, label, rc, code, id, ...)                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            GRAFT_LOG_ERROR(id, __VA_ARGS__);                                                      \
            (rc) = (code);                                                                         \
            goto label;                                                                            \
        }                                                                                          \
    } while (0)

#endif
