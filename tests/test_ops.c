/* test_ops.c: the element functions of nn/ops.h, which the CUDA kernels run one index per thread,
 * run here on the CPU over every index and compared with the reference kernels (nn/ref), so the
 * kernels' arithmetic and index mapping are tested on any machine. (The formulas the reference itself
 * takes from ops.h, scale, dropout, loss and RMSprop, need no comparison here; test_cuda checks that
 * the GPU computes them bit for bit.)
 *
 * Exact equality where the order of operations is the reference's (pooling, bias + activation, the
 * activation gradients); the column sums add in another order, so they are compared with the sum in
 * double within float rounding (|err| <= 1e-6 * sum of |terms|). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "nn/ops.h"
#include "nn/ref/kernels.h"
#include "test.h"

/* Values from a few levels only, so that windows often hold several equal maxima and zeros (the
 * first-maximum rule and the ReLU mask both matter), or uniform ones in [lo, hi). */
static void fill_levels(float *a, size_t n, uint64_t stream) {
    rng_t r;
    rng_init(&r, 0x6f7073ULL, stream);
    for (size_t i = 0; i < n; i++) a[i] = (float)((int)(rng_u32(&r) % 5) - 1) * 0.5f;
}

static void fill(float *a, size_t n, uint64_t stream, float lo, float hi) {
    rng_t r;
    rng_init(&r, 0x6f7073ULL, stream);
    for (size_t i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng_uniform_f(&r);
}

/* Pool sizes 2 and 3 over odd shapes (floor mode leaves rows and columns out). */
TEST(maxpool_forward_equals_reference) {
    int shapes[][5] = {{2, 7, 9, 3, 2}, {3, 10, 8, 5, 3}, {1, 4, 4, 32, 2}};
    for (int k = 0; k < 3; k++) {
        int n = shapes[k][0], h = shapes[k][1], w = shapes[k][2], c = shapes[k][3], p = shapes[k][4];
        size_t nx = (size_t)n * h * w * c, ny = (size_t)n * (h / p) * (w / p) * c;
        float *x = malloc(nx * sizeof(float)), *want = malloc(ny * sizeof(float)), *got = malloc(ny * sizeof(float));
        REQUIRE(x && want && got);
        fill_levels(x, nx, (uint64_t)k);
        ref_maxpool_forward(x, want, n, h, w, c, p);
        for (size_t i = 0; i < ny; i++) op_maxpool_fwd(x, got, h, w, c, p, i);
        EXPECT(memcmp(want, got, ny * sizeof(float)) == 0);
        free(x), free(want), free(got);
    }
}

/* The gather form of the backward gives the reference's scatter, with and without the previous
 * layer's ReLU gradient folded in. */
TEST(maxpool_backward_equals_reference) {
    int shapes[][5] = {{2, 7, 9, 3, 2}, {3, 10, 8, 5, 3}, {1, 6, 6, 16, 2}};
    for (int k = 0; k < 3; k++) {
        int n = shapes[k][0], h = shapes[k][1], w = shapes[k][2], c = shapes[k][3], p = shapes[k][4];
        size_t nx = (size_t)n * h * w * c, ny = (size_t)n * (h / p) * (w / p) * c;
        float *x = malloc(nx * sizeof(float)), *y = malloc(ny * sizeof(float)), *dy = malloc(ny * sizeof(float));
        float *want = malloc(nx * sizeof(float)), *got = malloc(nx * sizeof(float));
        REQUIRE(x && y && dy && want && got);
        fill_levels(x, nx, 10 + (uint64_t)k);
        fill(dy, ny, 20 + (uint64_t)k, -1.0f, 1.0f);
        ref_maxpool_forward(x, y, n, h, w, c, p);
        for (int relu = 0; relu < 2; relu++) {
            ref_maxpool_backward(x, y, dy, want, n, h, w, c, p);
            if (relu) ref_relu_backward(x, want, nx);
            memset(got, 0xff, nx * sizeof(float));   /* NaN everywhere: every element must be written */
            for (size_t i = 0; i < nx; i++) op_maxpool_bwd(x, y, dy, got, h, w, c, p, relu, i);
            EXPECT(memcmp(want, got, nx * sizeof(float)) == 0);
        }
        free(x), free(y), free(dy), free(want), free(got);
    }
}

/* Bias and activation after a product: the reference adds the bias in its conv/dense loops and then
 * applies the activation over the tensor. */
TEST(bias_act_equals_reference) {
    enum { ROWS = 37, F = 12 };
    float y[ROWS * F], b[F], want[ROWS * F], got[ROWS * F];
    fill(y, ROWS * F, 30, -2.0f, 2.0f);
    fill(b, F, 31, -0.5f, 0.5f);
    for (int act = OP_ACT_NONE; act <= OP_ACT_SIGMOID; act++) {
        for (int i = 0; i < ROWS * F; i++) want[i] = y[i] + b[i % F];
        if (act == OP_ACT_RELU) ref_relu_forward(want, ROWS * F);
        if (act == OP_ACT_SIGMOID) ref_sigmoid_forward(want, ROWS * F);
        memcpy(got, y, sizeof got);
        for (size_t i = 0; i < ROWS * F; i++) op_bias_act(got, b, F, act, i);
        EXPECT(memcmp(want, got, sizeof got) == 0);
    }
}

TEST(act_grad_equals_reference) {
    enum { N = 1000 };
    float y[N], dy[N], want[N], got[N];
    fill_levels(y, N, 40);   /* ReLU outputs with exact zeros */
    fill(dy, N, 41, -1.0f, 1.0f);
    memcpy(want, dy, sizeof want);
    ref_relu_backward(y, want, N);
    for (int i = 0; i < N; i++) got[i] = op_act_grad(OP_ACT_RELU, y[i], dy[i]);
    EXPECT(memcmp(want, got, sizeof got) == 0);
    fill(y, N, 42, 0.0f, 1.0f);   /* sigmoid outputs */
    memcpy(want, dy, sizeof want);
    ref_sigmoid_backward(y, want, N);
    for (int i = 0; i < N; i++) got[i] = op_act_grad(OP_ACT_SIGMOID, y[i], dy[i]);
    EXPECT(memcmp(want, got, sizeof got) == 0);
}

/* Column sums in chunks, for row counts below, at and above a chunk, against the sum in double. */
TEST(colsum_equals_double_sum) {
    size_t rows_list[] = {1, 20, 255, 256, 257, 5000};
    int f_list[] = {1, 32, 7};
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 3; b++) {
            size_t rows = rows_list[a];
            int f = f_list[b], chunk = 256;
            size_t chunks = (rows + chunk - 1) / chunk;
            float *m = malloc(rows * f * sizeof(float)), *partial = malloc(chunks * f * sizeof(float));
            float *out = malloc(f * sizeof(float));
            REQUIRE(m && partial && out);
            fill(m, rows * f, 50 + a * 3 + b, -1.0f, 1.0f);
            for (size_t j = 0; j < chunks * f; j++) op_colsum_partial(m, rows, f, chunk, partial, j);
            for (int col = 0; col < f; col++) op_colsum_total(partial, (int)chunks, f, out, col);
            for (int col = 0; col < f; col++) {
                double s = 0.0, mag = 0.0;
                for (size_t r = 0; r < rows; r++) s += m[r * f + col], mag += fabs(m[r * f + col]);
                EXPECT(fabs(out[col] - s) <= 1e-6 * mag + 1e-30);
            }
            free(m), free(partial), free(out);
        }
}

/* The bias gradient of the reference's conv2d backward is the column sum of dy over images and
 * positions: the two-pass sum gives it within float rounding. */
TEST(colsum_is_the_conv_bias_gradient) {
    int n = 3, h = 9, w = 8, c = 2, f = 5, k = 3, oh = h - k + 1, ow = w - k + 1;
    size_t nx = (size_t)n * h * w * c, ny = (size_t)n * oh * ow * f, nk = (size_t)k * k * c * f;
    float *x = malloc(nx * 4), *kern = malloc(nk * 4), *dy = malloc(ny * 4), *dk = malloc(nk * 4), db[5], got[5];
    size_t rows = ny / f, chunks = (rows + 15) / 16;
    float *partial = malloc(chunks * f * 4);
    REQUIRE(x && kern && dy && dk && partial);
    fill(x, nx, 60, -1, 1);
    fill(kern, nk, 61, -1, 1);
    fill(dy, ny, 62, -1, 1);
    ref_conv2d_backward(x, kern, dy, NULL, dk, db, n, h, w, c, k, k, f);
    for (size_t j = 0; j < chunks * f; j++) op_colsum_partial(dy, rows, f, 16, partial, j);
    for (int col = 0; col < f; col++) op_colsum_total(partial, (int)chunks, f, got, col);
    for (int col = 0; col < f; col++) EXPECT_NEAR(got[col], db[col], 1e-5, 1e-5);
    free(x), free(kern), free(dy), free(dk), free(partial);
}

/* OHWI index -> HWIO index is a permutation, and element (o, y, x, i) lands at HWIO (y, x, i, o). */
TEST(ohwi_to_hwio_is_the_transpose) {
    int kh = 3, kw = 2, c = 4, f = 5;
    size_t n = (size_t)kh * kw * c * f;
    char *seen = calloc(n, 1);
    REQUIRE(seen);
    int ok = 1;
    for (int o = 0; o < f; o++)
        for (int y = 0; y < kh; y++)
            for (int x = 0; x < kw; x++)
                for (int i = 0; i < c; i++) {
                    size_t ohwi = (((size_t)o * kh + y) * kw + x) * c + i;
                    size_t hwio = (((size_t)y * kw + x) * c + i) * f + o;
                    size_t got = op_ohwi_to_hwio(ohwi, kh, kw, c, f);
                    ok &= got == hwio && got < n && !seen[got];
                    if (got < n) seen[got] = 1;
                }
    EXPECT(ok);
    free(seen);
}

int main(void) {
    RUN(maxpool_forward_equals_reference);
    RUN(maxpool_backward_equals_reference);
    RUN(bias_act_equals_reference);
    RUN(act_grad_equals_reference);
    RUN(colsum_equals_double_sum);
    RUN(colsum_is_the_conv_bias_gradient);
    RUN(ohwi_to_hwio_is_the_transpose);
    return TEST_SUMMARY();
}
