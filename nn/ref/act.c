/* act.c: reference activations applied in place after conv2d/dense: ReLU and (hidden-layer) sigmoid,
 * element by element with the formulas of nn/ops.h. */
#include "nn/ops.h"
#include "nn/ref/kernels.h"

/* y (count) in place: y = max(y, 0). */
void ref_relu_forward(float *y, size_t count) {
    for (size_t i = 0; i < count; i++) y[i] = op_act(OP_ACT_RELU, y[i]);
}

/* y = ReLU output (count), dy (count) in place: dy = dy * (y > 0). */
void ref_relu_backward(const float *y, float *dy, size_t count) {
    for (size_t i = 0; i < count; i++) dy[i] = op_act_grad(OP_ACT_RELU, y[i], dy[i]);
}

/* y (count) in place: y = 1 / (1 + exp(-y)), without overflow for large |y|. */
void ref_sigmoid_forward(float *y, size_t count) {
    for (size_t i = 0; i < count; i++) y[i] = op_act(OP_ACT_SIGMOID, y[i]);
}

/* y = sigmoid output (count), dy (count) in place: dy = dy * y * (1 - y). */
void ref_sigmoid_backward(const float *y, float *dy, size_t count) {
    for (size_t i = 0; i < count; i++) dy[i] = op_act_grad(OP_ACT_SIGMOID, y[i], dy[i]);
}
