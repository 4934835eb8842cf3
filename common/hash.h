/* Keys and sharding. A row's key is a 64-bit hash of the id string alone (not of the table or
 * domain), so every domain's row of one user lands on the same server: transfer between domains
 * then never moves rows between servers. */
#ifndef GRAFT_HASH_H
#define GRAFT_HASH_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64's finaliser: a bijection on 64 bits with good avalanche. */
static inline uint64_t
graft_hash_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Which of n workers owns a user (the block plane's partition, and the parts of a binary ratings
 * file): a hash independent of the servers' sharding. */
#define GRAFT_OWNER_SALT 0x6a09e667f3bcc909ULL
static inline uint32_t
graft_owner_of(uint64_t user, uint32_t n)
{
    return (uint32_t)(graft_hash_mix64(user ^ GRAFT_OWNER_SALT) % n);
}

/* The key of an id given as bytes (need not be NUL-terminated). Stable across runs, hosts and
 * versions: saved models depend on it. */
uint64_t graft_hash_id(const char *id, size_t len);

/* A 64-bit checksum of bytes, continuing from seed (0 to start). Stable: saved models carry it. */
uint64_t graft_checksum64(const void *data, size_t len, uint64_t seed);

/* Which of nshards servers owns key (0 <= result < nshards). Uses different bits from the
 * servers' own hash tables so a shard's keys still spread there. */
static inline uint32_t
graft_shard_of_key(uint64_t key, uint32_t nshards)
{
    uint64_t h = graft_hash_mix64(key ^ 0x5bd1e9955bd1e995ULL);
    return (uint32_t)(((unsigned __int128)h * nshards) >> 64);
}

#endif
