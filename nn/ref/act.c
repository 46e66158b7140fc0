/* act.c: reference activations applied in place after conv2d/dense: ReLU and (hidden-layer) sigmoid. */
#include <math.h>

#include "nn/ref/kernels.h"

/* y (count) in place: y = max(y, 0). */
void ref_relu_forward(float *y, size_t count) {
    for (size_t i = 0; i < count; i++)
        if (!(y[i] > 0.0f)) y[i] = 0.0f;
}

/* y = ReLU output (count), dy (count) in place: dy = dy * (y > 0). */
void ref_relu_backward(const float *y, float *dy, size_t count) {
    for (size_t i = 0; i < count; i++)
        if (!(y[i] > 0.0f)) dy[i] = 0.0f;
}

/* y (count) in place: y = 1 / (1 + exp(-y)), without overflow for large |y|. */
void ref_sigmoid_forward(float *y, size_t count) {
    for (size_t i = 0; i < count; i++) {
        double z = y[i];
        y[i] = (float)(z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z)));
    }
}

/* y = sigmoid output (count), dy (count) in place: dy = dy * y * (1 - y). */
void ref_sigmoid_backward(const float *y, float *dy, size_t count) {
    for (size_t i = 0; i < count; i++) dy[i] *= y[i] * (1.0f - y[i]);
}
