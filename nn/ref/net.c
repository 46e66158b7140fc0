/* net.c: the ref backend's forward and backward passes, layer by layer with the reference kernels. */
#include <string.h>

#include "nn/ref/kernels.h"
#include "nn/ref/net.h"

static int in_size(const nn_layer_t *l) { return l->in_h * l->in_w * l->in_c; }

static void act_forward(nn_act_t act, float *y, size_t count) {
    if (act == NN_ACT_RELU) ref_relu_forward(y, count);
    else if (act == NN_ACT_SIGMOID) ref_sigmoid_forward(y, count);
}

static void act_backward(nn_act_t act, const float *y, float *dy, size_t count) {
    if (act == NN_ACT_RELU) ref_relu_backward(y, dy, count);
    else if (act == NN_ACT_SIGMOID) ref_sigmoid_backward(y, dy, count);
}

void ref_net_forward(ref_net_t *net, int n, int training, uint64_t dropout_seed) {
    const float *p = net->params;
    const float *x = net->input;
    int last = net->m.n_layers - 1;
    for (int i = 0; i <= last; i++) {
        const nn_layer_t *l = &net->m.layers[i];
        float *y = net->out[i];
        size_t count = (size_t)n * nn_layer_out_size(l);
        switch (l->type) {
        case NN_CONV2D:
            ref_conv2d_forward(x, p + l->w_off, p + l->b_off, y, n, l->in_h, l->in_w, l->in_c, l->kernel,
                               l->kernel, l->filters);
            break;
        case NN_MAXPOOL2D:
            ref_maxpool_forward(x, y, n, l->in_h, l->in_w, l->in_c, l->pool);
            break;
        case NN_FLATTEN:   /* NHWC memory is already in Keras' (h, w, c) order: y == x */
            break;
        case NN_DENSE:
            ref_dense_forward(x, p + l->w_off, p + l->b_off, y, n, in_size(l), l->units);
            break;
        case NN_DROPOUT:
            memcpy(y, x, sizeof(float) * count);
            if (training) ref_dropout_forward(y, count, l->rate, dropout_seed, (uint64_t)i);
            break;
        }
        if (i == last) memcpy(net->logits, y, sizeof(float) * n);
        act_forward(l->act, y, count);
        x = y;
    }
    net->last_n = n;
}

void ref_net_backward(ref_net_t *net, int n, uint64_t dropout_seed) {
    const float *p = net->params;
    float *g = net->grads;
    float *dy = net->grad_a, *dx = net->grad_b;   /* dy: gradient of the current layer's output */
    int last = net->m.n_layers - 1;
    for (int i = last; i >= 0; i--) {
        const nn_layer_t *l = &net->m.layers[i];
        const float *x = i > 0 ? net->out[i - 1] : net->input;
        const float *y = net->out[i];
        size_t count = (size_t)n * nn_layer_out_size(l);
        float *dxi = i > 0 ? dx : NULL;           /* the first layer's input needs no gradient */
        int swap = 1;
        /* The output layer's activation is folded into the loss: dy already is d loss / d logits. */
        if (i != last) act_backward(l->act, y, dy, count);
        switch (l->type) {
        case NN_CONV2D:
            ref_conv2d_backward(x, p + l->w_off, dy, dxi, g + l->w_off, g + l->b_off, n, l->in_h, l->in_w,
                                l->in_c, l->kernel, l->kernel, l->filters);
            break;
        case NN_MAXPOOL2D:
            if (dxi) ref_maxpool_backward(x, y, dy, dxi, n, l->in_h, l->in_w, l->in_c, l->pool);
            break;
        case NN_FLATTEN:
            swap = 0;
            break;
        case NN_DENSE:
            ref_dense_backward(x, p + l->w_off, dy, dxi, g + l->w_off, g + l->b_off, n, in_size(l), l->units);
            break;
        case NN_DROPOUT:
            ref_dropout_backward(dy, count, l->rate, dropout_seed, (uint64_t)i);
            swap = 0;
            break;
        }
        if (swap) {
            float *t = dy;
            dy = dx;
            dx = t;
        }
    }
}
