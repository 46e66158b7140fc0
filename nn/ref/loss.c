/* loss.c: reference sigmoid + binary cross-entropy computed from the logits, in double. */
#include <math.h>

#include "nn/ref/kernels.h"

/* logits z (n), labels y (n, 0 or 1) -> mean loss; dlogits (n) = (sigmoid(z) - y) / n;
 * accuracy = mean((z > 0) == (y > 0.5)). Per sample, stably for any z:
 * loss = max(z, 0) - z * y + log(1 + exp(-|z|)). */
double ref_sigmoid_bce(const float *logits, const float *labels, int n, float *dlogits,
                       double *accuracy) {
    double sum = 0.0;
    int correct = 0;
    for (int i = 0; i < n; i++) {
        double z = logits[i], y = labels[i];
        sum += (z > 0 ? z : 0.0) - z * y + log1p(exp(-fabs(z)));
        if (dlogits) {
            double p = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
            dlogits[i] = (float)((p - y) / n);
        }
        correct += (z > 0) == (y > 0.5);
    }
    if (accuracy) *accuracy = n > 0 ? (double)correct / n : 0.0;
    return n > 0 ? sum / n : 0.0;
}
