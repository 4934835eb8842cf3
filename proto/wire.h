/* The wire module: the only code that touches protobuf-c types. It converts Header messages to and
 * from Graft's own structs and checks a request's meaning, not only its syntax: the frame count,
 * that the keys frame holds key_count keys and the values frame key_count x width floats, and the
 * configured limits. A protobuf-c message is unpacked and freed inside one function here and never
 * escapes. */
#ifndef GRAFT_WIRE_H
#define GRAFT_WIRE_H

#include "err.h"
#include "tablespec.h"

#include <stddef.h>
#include <stdint.h>

#define GRAFT_WIRE_VERSION 1
#define GRAFT_MAX_TABLES 64
#define GRAFT_WIRE_MAX_ARENA (1u << 30) /* the largest shared-memory arena a server maps */

typedef enum {
    GRAFT_MSG_NONE = 0,
    GRAFT_MSG_PULL = 1,
    GRAFT_MSG_PUSH = 2,
    GRAFT_MSG_BARRIER = 3,
    GRAFT_MSG_STATS = 4,
    GRAFT_MSG_SHUTDOWN = 5,
    GRAFT_MSG_ERROR = 6,
    GRAFT_MSG_CREATE = 7,
    GRAFT_MSG_COPY = 8,
    GRAFT_MSG_ASSIGN = 9,
    GRAFT_MSG_SAVE = 10,
    GRAFT_MSG_LOAD = 11,
    GRAFT_MSG_CLOCK = 12,
    GRAFT_MSG_HEARTBEAT = 13,
    GRAFT_MSG_ATTACH = 14,
} graft_msg_type;

typedef struct {
    uint32_t table;
    char name[GRAFT_TABLE_NAME_MAX];
    uint32_t width;
    uint64_t rows;
    uint64_t bytes;
} graft_table_stats;

typedef struct {
    uint64_t requests, errors, pulls, pushes, keys_pulled, keys_pushed, bytes_in, bytes_out;
    uint64_t peak_rss;
    uint32_t arenas;
    uint64_t arena_bytes;
    uint32_t ntables;
    graft_table_stats tables[GRAFT_MAX_TABLES];
} graft_server_stats;

/* A decoded header. Plain data: copy it freely. */
typedef struct {
    uint32_t version;
    graft_msg_type type;
    uint64_t request_id;
    uint32_t table;
    uint32_t key_count;
    uint32_t width;
    int create;
    uint32_t worker;
    uint64_t clock;
    uint32_t error_code;
    char error_message[256];
    int has_spec;
    graft_table_spec spec;
    /* STATS replies only: the server's statistics (borrowed). NULL in every other message, so
     * that a header, which is copied for every request, stays small. */
    const graft_server_stats *stats;
    uint32_t src_table;
    uint64_t count;
    char path[256];
    uint64_t checksum;
    uint32_t staleness;
    /* attach: the sender's shared-memory arena */
    uint32_t arena_pid, arena_fd;
    uint64_t arena_bytes, arena_nonce;
    /* pull, push, assign: rows in the arena at arena_offset instead of a frame */
    int in_arena;
    uint64_t arena_offset;
} graft_msg;

typedef struct {
    size_t max_message_bytes; /* the largest frame accepted */
    uint32_t max_keys;        /* the most keys in one request */
} graft_wire_limits;

/* A header with version set and everything else zero. */
void graft_wire_init(graft_msg *m, graft_msg_type type, uint64_t request_id);

/* Encodes m into a new buffer that the caller frees with graft_free. */
graft_err graft_wire_encode(const graft_msg *m, uint8_t **buf, size_t *len);

/* Decodes a header frame. Syntax errors give GRAFT_ERR_PROTO with a reason in err. The version is
 * not checked here (graft_wire_check_request does). A header's statistics (a STATS reply) are
 * read into *stats, and out->stats points there, only when stats is given (else ignored). */
graft_err graft_wire_decode(const void *buf, size_t len, graft_msg *out, graft_server_stats *stats,
                            char *err, size_t errlen);

/* Checks a decoded request against the frames that came with it (sizes of the frames after the
 * header, nframes of them). Returns GRAFT_OK, or the error to answer with and a reason in err. */
graft_err graft_wire_check_request(const graft_msg *m, int nframes, const size_t *frame_sizes,
                                   const graft_wire_limits *lim, char *err, size_t errlen);

const char *graft_wire_type_name(graft_msg_type t);

#endif
