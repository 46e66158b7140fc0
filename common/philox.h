/* philox.h: the Philox4x32-10 block and the random-access uniform draw, as inline functions that
 * compile as C on the host and as CUDA host+device code, so the CPU backends and the GPU kernels
 * draw the same dropout masks from the same seed (common/rng.h wraps them for C callers). */
#ifndef PAWPIPE_PHILOX_H
#define PAWPIPE_PHILOX_H

#include <stdint.h>

#ifdef __CUDACC__
#define PHILOX_HD __host__ __device__ static inline
#else
#define PHILOX_HD static inline
#endif

/* One Philox4x32-10 block (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11):
 * four 32-bit words from a 64-bit key and a 128-bit counter (ctr_hi, ctr_lo). */
PHILOX_HD void philox4x32_block(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)ctr_lo, c1 = (uint32_t)(ctr_lo >> 32);
    uint32_t c2 = (uint32_t)ctr_hi, c3 = (uint32_t)(ctr_hi >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* The i-th uniform float in [0, 1) of stream (key, stream), 24-bit resolution: word i % 4 of block
 * i / 4. Every value is a pure function of its arguments, whoever computes it and in which order. */
PHILOX_HD float philox_uniform_at(uint64_t key, uint64_t stream, uint64_t i) {
    uint32_t b[4];
    philox4x32_block(key, stream, i >> 2, b);
    return (float)(b[i & 3] >> 8) * (1.0f / 16777216.0f);
}

#endif
