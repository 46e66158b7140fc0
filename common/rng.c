/* rng.c: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11). */
#include "common/rng.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void philox4x32(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)ctr_lo, c1 = (uint32_t)(ctr_lo >> 32);
    uint32_t c2 = (uint32_t)ctr_hi, c3 = (uint32_t)(ctr_hi >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* SplitMix64 finaliser: a bijective avalanche mix. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t rng_derive(uint64_t seed, uint64_t a) { return mix64(mix64(seed + 0x9E3779B97F4A7C15ull) ^ a); }

uint64_t rng_derive3(uint64_t seed, uint64_t a, uint64_t b) { return rng_derive(rng_derive(seed, a), b); }

void rng_init(rng_t *r, uint64_t key, uint64_t stream) {
    r->key = key;
    r->stream = stream;
    r->next = 0;
}

uint32_t rng_u32(rng_t *r) {
    if ((r->next & 3) == 0) philox4x32(r->key, r->stream, r->next >> 2, r->block);
    return r->block[r->next++ & 3];
}

double rng_uniform(rng_t *r, double lo, double hi) {
    uint64_t a = rng_u32(r) >> 5, b = rng_u32(r) >> 6;        /* 27 + 26 bits */
    double u = ((double)a * 67108864.0 + (double)b) * (1.0 / 9007199254740992.0);
    return lo + (hi - lo) * u;
}

float rng_uniform_f(rng_t *r) { return (float)(rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

float rng_uniform_at(uint64_t key, uint64_t stream, uint64_t i) {
    uint32_t b[4];
    philox4x32(key, stream, i >> 2, b);
    return (float)(b[i & 3] >> 8) * (1.0f / 16777216.0f);
}
