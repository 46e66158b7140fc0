/* dense.c: reference fully connected layer, x (n, in) times k (in, out) plus b (out). */
#include <string.h>

#include "nn/ref/kernels.h"

/* x (n, in), k (in, out), b (out) -> y (n, out): y[n, o] = b[o] + sum_i x[n, i] * k[i, o]. */
void ref_dense_forward(const float *x, const float *k, const float *b, float *y, int n, int in, int out) {
    for (int s = 0; s < n; s++) {
        float *yp = y + (size_t)s * out;
        for (int o = 0; o < out; o++) yp[o] = b[o];
        for (int i = 0; i < in; i++) {
            float xv = x[(size_t)s * in + i];
            const float *kp = k + (size_t)i * out;
            for (int o = 0; o < out; o++) yp[o] += xv * kp[o];
        }
    }
}

/* dy (n, out) -> dx (n, in) (skipped when NULL), dk (in, out), db (out):
 *   db[o] = sum_n dy[n, o];  dk[i, o] = sum_n x[n, i] * dy[n, o];  dx[n, i] = sum_o k[i, o] * dy[n, o]. */
void ref_dense_backward(const float *x, const float *k, const float *dy, float *dx, float *dk, float *db,
                        int n, int in, int out) {
    memset(dk, 0, sizeof(float) * (size_t)in * out);
    memset(db, 0, sizeof(float) * (size_t)out);
    for (int s = 0; s < n; s++) {
        const float *dyp = dy + (size_t)s * out;
        for (int o = 0; o < out; o++) db[o] += dyp[o];
        for (int i = 0; i < in; i++) {
            float xv = x[(size_t)s * in + i];
            const float *kp = k + (size_t)i * out;
            float *dkp = dk + (size_t)i * out;
            float acc = 0.0f;
            for (int o = 0; o < out; o++) {
                dkp[o] += xv * dyp[o];
                acc += kp[o] * dyp[o];
            }
            if (dx) dx[(size_t)s * in + i] = acc;
        }
    }
}
