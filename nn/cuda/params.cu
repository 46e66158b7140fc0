/* params.cu: the parameter layouts on either side of the backend boundary. The model keeps conv kernels
 * HWIO (kh, kw, c, f); cuDNN's NHWC convolutions want OHWI (f, kh, kw, c). Every other tensor has the
 * same layout on both sides, and every tensor the same offset. The copies run on the host, in
 * set_params, get_params and get_grads only (op_ohwi_to_hwio, tested by tests/test_ops.c). */
#include <string.h>

#include "nn/cuda/net.h"
#include "nn/ops.h"

void cuda_params_import(const nn_model_t *m, const float *src, float *dst_int) {
    memcpy(dst_int, src, sizeof(float) * m->n_params);
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer_t *l = &m->layers[i];
        if (l->type != NN_CONV2D) continue;
        for (size_t k = 0; k < l->w_count; k++)
            dst_int[l->w_off + k] = src[l->w_off + op_ohwi_to_hwio(k, l->kernel, l->kernel, l->in_c, l->filters)];
    }
}

void cuda_params_export(const nn_model_t *m, const float *src_int, float *dst) {
    memcpy(dst, src_int, sizeof(float) * m->n_params);
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer_t *l = &m->layers[i];
        if (l->type != NN_CONV2D) continue;
        for (size_t k = 0; k < l->w_count; k++)
            dst[l->w_off + op_ohwi_to_hwio(k, l->kernel, l->kernel, l->in_c, l->filters)] = src_int[l->w_off + k];
    }
}
