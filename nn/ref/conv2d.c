/* conv2d.c: reference 2-D convolution (stride 1, 'valid' padding), NHWC activations, HWIO kernels. */
#include <string.h>

#include "nn/ref/kernels.h"

/* x (n, h, w, c), k (kh, kw, c, f), b (f) -> y (n, oh, ow, f) with oh = h - kh + 1, ow = w - kw + 1:
 * y[n, oy, ox, f] = b[f] + sum_{i, j, c} x[n, oy + i, ox + j, c] * k[i, j, c, f]. */
void ref_conv2d_forward(const float *x, const float *k, const float *b, float *y, int n, int h, int w,
                        int c, int kh, int kw, int f) {
    int oh = h - kh + 1, ow = w - kw + 1;
    for (int in = 0; in < n; in++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float *yp = y + (((size_t)in * oh + oy) * ow + ox) * f;
                for (int of = 0; of < f; of++) yp[of] = b[of];
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++) {
                        const float *xp = x + (((size_t)in * h + oy + i) * w + ox + j) * c;
                        const float *kp = k + ((size_t)i * kw + j) * c * f;
                        for (int ic = 0; ic < c; ic++)
                            for (int of = 0; of < f; of++) yp[of] += xp[ic] * kp[(size_t)ic * f + of];
                    }
            }
}

/* Shapes as in the forward; dy (n, oh, ow, f) -> dx (n, h, w, c) (skipped when NULL),
 * dk (kh, kw, c, f), db (f):
 *   db[f]          = sum_{n, oy, ox} dy[n, oy, ox, f]
 *   dk[i, j, c, f] = sum_{n, oy, ox} x[n, oy + i, ox + j, c] * dy[n, oy, ox, f]
 *   dx[n, y, x, c] = sum_{i, j, f} k[i, j, c, f] * dy[n, y - i, x - j, f]   (valid positions only) */
void ref_conv2d_backward(const float *x, const float *k, const float *dy, float *dx, float *dk,
                         float *db, int n, int h, int w, int c, int kh, int kw, int f) {
    int oh = h - kh + 1, ow = w - kw + 1;
    memset(dk, 0, sizeof(float) * (size_t)kh * kw * c * f);
    memset(db, 0, sizeof(float) * (size_t)f);
    if (dx) memset(dx, 0, sizeof(float) * (size_t)n * h * w * c);
    for (int in = 0; in < n; in++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                const float *dyp = dy + (((size_t)in * oh + oy) * ow + ox) * f;
                for (int of = 0; of < f; of++) db[of] += dyp[of];
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++) {
                        size_t xo = (((size_t)in * h + oy + i) * w + ox + j) * c;
                        const float *xp = x + xo;
                        const float *kp = k + ((size_t)i * kw + j) * c * f;
                        float *dkp = dk + ((size_t)i * kw + j) * c * f;
                        for (int ic = 0; ic < c; ic++) {
                            float s = 0.0f;
                            for (int of = 0; of < f; of++) {
                                dkp[(size_t)ic * f + of] += xp[ic] * dyp[of];
                                s += kp[(size_t)ic * f + of] * dyp[of];
                            }
                            if (dx) dx[xo + ic] += s;
                        }
                    }
            }
}
