/* loss.c: reference sigmoid + binary cross-entropy computed from the logits, in double. */
#include "nn/ops.h"
#include "nn/ref/kernels.h"

/* logits z (n), labels y (n, 0 or 1) -> mean loss; dlogits (n) = (sigmoid(z) - y) / n;
 * accuracy = mean((z > 0) == (y > 0.5)). Per sample (op_bce), stably for any z:
 * loss = max(z, 0) - z * y + log(1 + exp(-|z|)); summed in sample order. */
double ref_sigmoid_bce(const float *logits, const float *labels, int n, float *dlogits,
                       double *accuracy) {
    double sum = 0.0;
    int correct = 0;
    for (int i = 0; i < n; i++) {
        float d;
        int ok;
        sum += op_bce(logits[i], labels[i], n, &d, &ok);
        if (dlogits) dlogits[i] = d;
        correct += ok;
    }
    if (accuracy) *accuracy = n > 0 ? (double)correct / n : 0.0;
    return n > 0 ? sum / n : 0.0;
}
