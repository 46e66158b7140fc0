/* dropout.c: reference inverted dropout with a counter-based mask (the same on every backend). */
#include "nn/ops.h"
#include "nn/ref/kernels.h"

/* y (count) in place, count = n * features of the whole batch tensor, element i being the i-th in
 * NHWC order: kept when rng_uniform_at(seed, stream, i) >= rate (then scaled by 1 / (1 - rate),
 * rounded to float once), zeroed otherwise. */
void ref_dropout_forward(float *y, size_t count, double rate, uint64_t seed, uint64_t stream) {
    float scale = op_dropout_scale(rate);
    for (size_t i = 0; i < count; i++) y[i] = op_dropout(seed, stream, i, rate, scale, y[i]);
}

/* dy (count) in place with the forward's mask and scale. */
void ref_dropout_backward(float *dy, size_t count, double rate, uint64_t seed, uint64_t stream) {
    ref_dropout_forward(dy, count, rate, seed, stream);
}
