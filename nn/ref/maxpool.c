/* maxpool.c: reference max-pooling, p x p windows with stride p, floor mode, NHWC. */
#include <string.h>

#include "nn/ref/kernels.h"

/* x (n, h, w, c) -> y (n, h / p, w / p, c): y[n, oy, ox, c] = max over the window
 * x[n, oy*p .. oy*p+p-1, ox*p .. ox*p+p-1, c]. Rows/columns past the last whole window are ignored. */
void ref_maxpool_forward(const float *x, float *y, int n, int h, int w, int c, int p) {
    int oh = h / p, ow = w / p;
    for (int in = 0; in < n; in++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int ic = 0; ic < c; ic++) {
                    float m = x[(((size_t)in * h + oy * p) * w + ox * p) * c + ic];
                    for (int i = 0; i < p; i++)
                        for (int j = 0; j < p; j++) {
                            float v = x[(((size_t)in * h + oy * p + i) * w + ox * p + j) * c + ic];
                            if (v > m) m = v;
                        }
                    y[(((size_t)in * oh + oy) * ow + ox) * c + ic] = m;
                }
}

/* x (n, h, w, c), y = forward(x) (n, h/p, w/p, c), dy like y -> dx like x. Each window's gradient
 * goes to its first element (row-major) equal to the window's maximum; every other dx is 0. */
void ref_maxpool_backward(const float *x, const float *y, const float *dy, float *dx, int n, int h,
                          int w, int c, int p) {
    int oh = h / p, ow = w / p;
    memset(dx, 0, sizeof(float) * (size_t)n * h * w * c);
    for (int in = 0; in < n; in++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int ic = 0; ic < c; ic++) {
                    size_t yo = (((size_t)in * oh + oy) * ow + ox) * c + ic;
                    int found = 0;
                    for (int i = 0; i < p && !found; i++)
                        for (int j = 0; j < p && !found; j++) {
                            size_t xo = (((size_t)in * h + oy * p + i) * w + ox * p + j) * c + ic;
                            if (x[xo] == y[yo]) {
                                dx[xo] = dy[yo];
                                found = 1;
                            }
                        }
                }
}
