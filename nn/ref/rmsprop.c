/* rmsprop.c: reference RMSprop update over the whole parameter buffer (Keras semantics). */
#include <math.h>

#include "nn/ref/kernels.h"

/* p, g, rms (count), one pass, each element in double then rounded to float:
 * rms = rho * rms + (1 - rho) * g^2;  p -= lr * g / sqrt(rms + eps)  (Keras 3: eps inside the root;
 * no momentum, not centred). */
void ref_rmsprop(float *p, const float *g, float *rms, size_t count, double lr, double rho, double eps) {
    for (size_t i = 0; i < count; i++) {
        double gi = g[i];
        double r = rho * rms[i] + (1.0 - rho) * gi * gi;
        rms[i] = (float)r;
        p[i] = (float)(p[i] - lr * gi / sqrt(r + eps));
    }
}
