/* Fuzz target for the wire decoder and the request checks: any header bytes and any frame sizes
 * must decode and be judged without a crash; a request judged valid must have frames that match
 * its key count and width. */
#include "wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first bytes pick the frames' count and sizes; the rest is the header. */
    if (size < 9)
        return 0;
    int nframes = data[0] % 4;
    size_t sizes[3];
    for (int i = 0; i < 3; i++) {
        uint16_t v;
        memcpy(&v, data + 1 + 2 * i, 2);
        sizes[i] = (size_t)v * (i == 0 ? 8u : 4u);
    }
    graft_msg m;
    graft_server_stats st;
    char err[256];
    if (graft_wire_decode(data + 7, size - 7, &m, &st, err, sizeof err) != GRAFT_OK)
        return 0;
    graft_wire_limits lim = {.max_message_bytes = 1 << 20, .max_keys = 100000};
    if (graft_wire_check_request(&m, nframes, sizes, &lim, err, sizeof err) == GRAFT_OK &&
        (m.type == GRAFT_MSG_PULL || m.type == GRAFT_MSG_PUSH)) {
        if (sizes[0] != (size_t)m.key_count * 8 ||
            (m.type == GRAFT_MSG_PUSH && sizes[1] != (size_t)m.key_count * m.width * 4))
            abort();
    }
    /* What decodes re-encodes, and decodes to the same header. */
    uint8_t *buf;
    size_t len;
    if (graft_wire_encode(&m, &buf, &len) == GRAFT_OK) {
        graft_msg again;
        graft_server_stats st2;
        if (graft_wire_decode(buf, len, &again, &st2, err, sizeof err) != GRAFT_OK ||
            again.type != m.type || again.key_count != m.key_count || again.width != m.width ||
            again.request_id != m.request_id)
            abort();
        free(buf);
    }
    return 0;
}
