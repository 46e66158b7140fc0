/* elementwise.c: the oneDNN backend's own element-wise loops where the reference kernels' scalar
 * double-precision code would cost a noticeable share of a step: the RMSprop update (one pass over
 * all ~3.5M parameters) and the ReLU gradient mask. AVX versions, chosen at run time when the CPU
 * has AVX; the plain loops otherwise. Same formulas as nn/ref, in float32. */
#include <math.h>

#include <immintrin.h>

#include "nn/cpu/cpu.h"

static int have_avx(void) {
    static int avx = -1;
    if (avx < 0) avx = __builtin_cpu_supports("avx") != 0;
    return avx;
}

/* rms = rho * rms + (1 - rho) * g^2;  p -= lr * g / sqrt(rms + eps), as ref_rmsprop */
__attribute__((target("avx"))) static size_t rmsprop_avx(float *p, const float *g, float *rms, size_t n, float lr,
                                                         float rho, float eps) {
    const __m256 vr = _mm256_set1_ps(rho), v1r = _mm256_set1_ps(1.0f - rho), vlr = _mm256_set1_ps(lr),
                 veps = _mm256_set1_ps(eps);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 r = _mm256_add_ps(_mm256_mul_ps(vr, _mm256_loadu_ps(rms + i)), _mm256_mul_ps(v1r, _mm256_mul_ps(gi, gi)));
        _mm256_storeu_ps(rms + i, r);
        __m256 step = _mm256_div_ps(_mm256_mul_ps(vlr, gi), _mm256_sqrt_ps(_mm256_add_ps(r, veps)));
        _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_loadu_ps(p + i), step));
    }
    return i;
}

void cpu_rmsprop_f32(float *p, const float *g, float *rms, size_t n, float lr, float rho, float eps) {
    size_t i = have_avx() ? rmsprop_avx(p, g, rms, n, lr, rho, eps) : 0;
    for (; i < n; i++) {
        float r = rho * rms[i] + (1.0f - rho) * g[i] * g[i];
        rms[i] = r;
        p[i] -= lr * g[i] / sqrtf(r + eps);
    }
}

/* dy = y > 0 ? dy : 0 (NaN y gives 0, as ref_relu_backward) */
__attribute__((target("avx"))) static size_t relu_mask_avx(const float *y, float *dy, size_t n) {
    const __m256 zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 keep = _mm256_cmp_ps(_mm256_loadu_ps(y + i), zero, _CMP_GT_OQ);
        _mm256_storeu_ps(dy + i, _mm256_and_ps(keep, _mm256_loadu_ps(dy + i)));
    }
    return i;
}

void cpu_relu_mask(const float *y, float *dy, size_t n) {
    size_t i = have_avx() ? relu_mask_avx(y, dy, n) : 0;
    for (; i < n; i++)
        if (!(y[i] > 0.0f)) dy[i] = 0.0f;
}
