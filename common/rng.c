/* rng.c: the counter-based generator's C interface: Philox4x32-10 (common/philox.h), seed mixing and
 * sequential streams. */
#include "common/rng.h"

#include "common/philox.h"

void philox4x32(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo, uint32_t out[4]) {
    philox4x32_block(key, ctr_hi, ctr_lo, out);
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

float rng_uniform_at(uint64_t key, uint64_t stream, uint64_t i) { return philox_uniform_at(key, stream, i); }
