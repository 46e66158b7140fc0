/* ops.h: the arithmetic of the CUDA backend's own kernels as small host+device functions, each
 * computing one element (or one partial sum) from its index. The kernels in nn/cuda/ are loops over
 * these; tests/test_ops.c runs the very same functions over every index on the CPU against the
 * reference kernels (nn/ref), and the reference itself uses the element formulas (scale, dropout,
 * loss, RMSprop), so there is one copy of each formula.
 *
 * Plain C99 that also compiles as CUDA C++. Layouts as in nn/ref/kernels.h: activations NHWC. */
#ifndef PAWPIPE_NN_OPS_H
#define PAWPIPE_NN_OPS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "common/philox.h"

#ifdef __CUDACC__
#define OP_HD __host__ __device__ static inline
#else
#define OP_HD static inline
#endif

/* Activations, as nn_act_t numbers them (nn/model.h): none, ReLU, sigmoid. */
enum { OP_ACT_NONE = 0, OP_ACT_RELU = 1, OP_ACT_SIGMOID = 2 };

/* ---- element-wise formulas (shared with nn/ref) ---------------------------------------------- */

/* uint8 pixel -> float in [0, 1]: the float32 product Keras' rescale=1/255 makes. */
OP_HD float op_scale_u8(uint8_t v) { return (float)v * (1.0f / 255.0f); }

/* Sigmoid without overflow for large |z|, in double, rounded once. */
OP_HD double op_sigmoid_d(double z) { return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z)); }

/* An activation applied to one pre-activation value. */
OP_HD float op_act(int act, float v) {
    if (act == OP_ACT_RELU) return v > 0.0f ? v : 0.0f;
    if (act == OP_ACT_SIGMOID) return (float)op_sigmoid_d(v);
    return v;
}

/* The gradient through an activation, from its output y and the output's gradient dy. */
OP_HD float op_act_grad(int act, float y, float dy) {
    if (act == OP_ACT_RELU) return y > 0.0f ? dy : 0.0f;
    if (act == OP_ACT_SIGMOID) return dy * (y * (1.0f - y));
    return dy;
}

/* Inverted dropout: the scale of kept elements, 1 / (1 - rate), rounded to float once so every
 * backend multiplies by the same number; and element i of the whole batch tensor (NHWC order) under
 * mask (seed, stream): v * scale when kept (its uniform draw >= rate), else 0. */
OP_HD float op_dropout_scale(double rate) { return rate < 1.0 ? (float)(1.0 / (1.0 - rate)) : 0.0f; }
OP_HD float op_dropout(uint64_t seed, uint64_t stream, uint64_t i, double rate, float scale, float v) {
    return philox_uniform_at(seed, stream, i) >= rate ? v * scale : 0.0f;
}

/* Sigmoid + binary cross-entropy of one sample from its logit z and label y, in double, stably:
 * loss = max(z, 0) - z*y + log(1 + exp(-|z|)); *dlogit = (sigmoid(z) - y) / n (the gradient of the
 * batch mean); returns the loss. *correct = (z > 0) == (y > 0.5). */
OP_HD double op_bce(float zf, float yf, int n, float *dlogit, int *correct) {
    double z = zf, y = yf;
    *dlogit = (float)((op_sigmoid_d(z) - y) / n);
    *correct = (z > 0) == (y > 0.5);
    return (z > 0 ? z : 0.0) - z * y + log1p(exp(-fabs(z)));
}

/* RMSprop on element i (Keras: no momentum, not centred, eps inside the root), in double, each
 * result rounded to float: rms = rho*rms + (1-rho)*g^2;  p -= lr * g / sqrt(rms + eps). */
OP_HD void op_rmsprop(float *p, const float *g, float *rms, size_t i, double lr, double rho, double eps) {
    double gi = g[i];
    double r = rho * rms[i] + (1.0 - rho) * gi * gi;
    rms[i] = (float)r;
    p[i] = (float)(p[i] - lr * gi / sqrt(r + eps));
}

/* ---- the CUDA kernels' index mappings -------------------------------------------------------- */

/* Bias and activation after a convolution or a matrix product, in place on y (rows, f) (NHWC: the
 * channel of element i is i % f): y[i] = act(y[i] + b[i % f]). */
OP_HD void op_bias_act(float *y, const float *b, int f, int act, size_t i) { y[i] = op_act(act, y[i] + b[i % f]); }

/* Max-pool forward, p x p windows, stride p, floor mode, output element i of y (n, h/p, w/p, c):
 * the first element of the window, then any larger one (the reference's order, so NaNs behave the
 * same). */
OP_HD void op_maxpool_fwd(const float *x, float *y, int h, int w, int c, int p, size_t i) {
    int oh = h / p, ow = w / p;
    int ch = (int)(i % c);
    size_t pix = i / c;
    int ox = (int)(pix % ow), oy = (int)(pix / ow % oh);
    size_t img = pix / ((size_t)ow * oh);
    const float *x0 = x + ((img * h + (size_t)oy * p) * w + (size_t)ox * p) * c + ch;
    float m = x0[0];
    for (int a = 0; a < p; a++)
        for (int b = 0; b < p; b++) {
            float v = x0[((size_t)a * w + b) * c];
            if (v > m) m = v;
        }
    y[i] = m;
}

/* Max-pool backward as a gather, input element i of dx (n, h, w, c): the window's gradient goes to
 * its first element (row-major) equal to the window's maximum y, every other element gets 0; with
 * relu_mask set, 0 also where x (the previous layer's ReLU output) is not > 0, which is that ReLU's
 * backward folded in. One thread per input element: no atomics, deterministic. */
OP_HD void op_maxpool_bwd(const float *x, const float *y, const float *dy, float *dx, int h, int w, int c, int p,
                          int relu_mask, size_t i) {
    int oh = h / p, ow = w / p;
    int ch = (int)(i % c);
    size_t pix = i / c;
    int ix = (int)(pix % w), iy = (int)(pix / w % h);
    size_t img = pix / ((size_t)w * h);
    int oy = iy / p, ox = ix / p;
    float g = 0.0f;
    if (oy < oh && ox < ow && !(relu_mask && !(x[i] > 0.0f))) {
        size_t yo = ((img * oh + oy) * ow + ox) * c + ch;
        const float *x0 = x + ((img * h + (size_t)oy * p) * w + (size_t)ox * p) * c + ch;
        int first = -1;
        for (int k = 0; k < p * p && first < 0; k++)
            if (x0[((size_t)(k / p) * w + k % p) * c] == y[yo]) first = k;
        if (first == (iy - oy * p) * p + (ix - ox * p)) g = dy[yo];
    }
    dx[i] = g;
}

/* Column sums of a (rows, f) matrix (bias gradients: rows = images x positions), in two passes with a
 * fixed order, so the result does not depend on scheduling: first, partial (chunk, col) = the sum of
 * rows [chunk * chunk_rows, ...) of column col, in row order; then total col = the sum of the
 * partials in chunk order. Thread (chunk, col) reads consecutive columns across a warp. */
OP_HD void op_colsum_partial(const float *a, size_t rows, int f, int chunk_rows, float *partial, size_t j) {
    int col = (int)(j % f);
    size_t chunk = j / f, r0 = chunk * (size_t)chunk_rows;
    size_t r1 = r0 + (size_t)chunk_rows < rows ? r0 + (size_t)chunk_rows : rows;
    float s = 0.0f;
    for (size_t r = r0; r < r1; r++) s += a[r * f + col];
    partial[j] = s;
}
OP_HD void op_colsum_total(const float *partial, int chunks, int f, float *out, int col) {
    float s = 0.0f;
    for (int k = 0; k < chunks; k++) s += partial[(size_t)k * f + col];
    out[col] = s;
}

/* Transpose between the model's conv kernel layout HWIO (kh, kw, c, f) and cuDNN's NHWC filter
 * layout OHWI (f, kh, kw, c): element i of the OHWI array and its index in the HWIO array. */
OP_HD size_t op_ohwi_to_hwio(size_t i, int kh, int kw, int c, int f) {
    int ic = (int)(i % c);
    size_t t = i / c;
    int x = (int)(t % kw);
    t /= kw;
    int y = (int)(t % kh);
    int o = (int)(t / kh);
    return (((size_t)y * kw + x) * c + ic) * f + o;
}

#endif
