#include "hash.h"

#include <string.h>

uint64_t
graft_hash_id(const char *id, size_t len)
{
    /* FNV-1a over the bytes, then a finaliser so that short numeric ids spread over all bits. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)id[i];
        h *= 0x100000001b3ULL;
    }
    return graft_hash_mix64(h ^ len);
}

uint64_t
graft_checksum64(const void *data, size_t len, uint64_t seed)
{
    /* Eight bytes at a time through the mixer: fast enough to verify gigabytes at load. */
    const unsigned char *p = data;
    uint64_t h = graft_hash_mix64(seed ^ 0x243f6a8885a308d3ULL);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = graft_hash_mix64(h ^ w) + 0x9e3779b97f4a7c15ULL;
    }
    uint64_t tail = 0;
    memcpy(&tail, p + i, len - i);
    return graft_hash_mix64(h ^ tail ^ ((uint64_t)len << 56));
}
