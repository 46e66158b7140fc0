/* rng.h: counter-based random numbers (Philox4x32-10): every value is a pure function of
 * (key, counter), so a stream can be recreated anywhere, by any worker, in any order. */
#ifndef PAWPIPE_RNG_H
#define PAWPIPE_RNG_H

#include <stdint.h>

/* One Philox4x32-10 block: four 32-bit words from a 64-bit key and a 128-bit counter. */
void philox4x32(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo, uint32_t out[4]);

/* Mix several 64-bit values into one well-distributed 64-bit seed (e.g. run seed, epoch, index).
 * Deterministic, order-sensitive: rng_derive3(s, a, b) != rng_derive3(s, b, a). */
uint64_t rng_derive(uint64_t seed, uint64_t a);
uint64_t rng_derive3(uint64_t seed, uint64_t a, uint64_t b);

/* A sequential stream over one key: the n-th value is philox(key, stream, n/4)[n%4]. */
typedef struct {
    uint64_t key, stream, next;   /* next: index of the next 32-bit word */
    uint32_t block[4];
} rng_t;

void rng_init(rng_t *r, uint64_t key, uint64_t stream);
uint32_t rng_u32(rng_t *r);
double rng_uniform(rng_t *r, double lo, double hi);  /* [lo, hi), 53-bit resolution */
float rng_uniform_f(rng_t *r);                        /* [0, 1), 24-bit resolution  */

/* Random access: the i-th uniform float in [0,1) of stream (key, stream). Used for dropout masks,
 * so that every backend and every thread computes the same mask element-wise. */
float rng_uniform_at(uint64_t key, uint64_t stream, uint64_t i);

#endif
