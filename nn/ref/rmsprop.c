/* rmsprop.c: reference RMSprop update over the whole parameter buffer (Keras semantics). */
#include "nn/ops.h"
#include "nn/ref/kernels.h"

/* p, g, rms (count), one pass, each element in double then rounded to float (op_rmsprop):
 * rms = rho * rms + (1 - rho) * g^2;  p -= lr * g / sqrt(rms + eps)  (Keras 3: eps inside the root;
 * no momentum, not centred). */
void ref_rmsprop(float *p, const float *g, float *rms, size_t count, double lr, double rho, double eps) {
    for (size_t i = 0; i < count; i++) op_rmsprop(p, g, rms, i, lr, rho, eps);
}
