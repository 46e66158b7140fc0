/* dropout.c: reference inverted dropout with a counter-based mask (the same on every backend). */
#include "common/rng.h"
#include "nn/ref/kernels.h"

/* The scale of kept elements, 1 / (1 - rate), rounded to float once so every backend multiplies
 * by the same number. */
static float keep_scale(double rate) { return rate < 1.0 ? (float)(1.0 / (1.0 - rate)) : 0.0f; }

/* y (count) in place, count = n * features of the whole batch tensor, element i being the i-th in
 * NHWC order: kept when rng_uniform_at(seed, stream, i) >= rate (then scaled), zeroed otherwise. */
void ref_dropout_forward(float *y, size_t count, double rate, uint64_t seed, uint64_t stream) {
    float scale = keep_scale(rate);
    for (size_t i = 0; i < count; i++)
        y[i] = rng_uniform_at(seed, stream, i) >= rate ? y[i] * scale : 0.0f;
}

/* dy (count) in place with the forward's mask and scale. */
void ref_dropout_backward(float *dy, size_t count, double rate, uint64_t seed, uint64_t stream) {
    ref_dropout_forward(dy, count, rate, seed, stream);
}
