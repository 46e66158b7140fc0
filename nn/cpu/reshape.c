/* reshape.c: the oneDNN backend's parameter-free layers that bring activations to plain NHWC order:
 * flatten (to (n, h*w*c), Keras' order) and inverted dropout (the reference's Philox mask, which is
 * defined on NHWC element indices). */
#include "common/check.h"
#include "nn/cpu/cpu.h"
#include "nn/ref/kernels.h"

/* y and dy plain (n, h*w*c); y4 and dy4 view the same buffers as NHWC images, so one reorder each
 * way moves between the previous layer's layout and Keras' flatten order. */
int cpu_flatten_build(cpu_ctx_t *c, int i) {
    cpu_layer_t *l = &c->layers[i];
    const nn_layer_t *s = l->spec;
    cpu_tensor_t *x = cpu_prev_y(c, i), *dx = cpu_prev_dy(c, i);
    int64_t flat[2] = {c->max_batch, (int64_t)s->out_h * s->out_w * s->out_c};
    dnnl_memory_desc_t md, view;
    TRY(cpu_md(&md, 2, flat, dnnl_nc));
    TRY(cpu_tensor(c, &l->y, &md));
    TRY(cpu_tensor(c, &l->dy, &md));
    if (x->md.ndims == 4) {
        int64_t img[4] = {c->max_batch, s->in_c, s->in_h, s->in_w};
        TRY(cpu_md(&view, 4, img, dnnl_nhwc));
    } else {
        view = md;
    }
    TRY(cpu_mem(c, &l->y4.mem, &view, l->y.ptr));
    TRY(cpu_mem(c, &l->dy4.mem, &view, l->dy.ptr));
    TRY(cpu_reorder(c, &l->fwd, x->mem, l->y4.mem));
    if (dx) TRY(cpu_reorder(c, &l->bwd_data, l->dy4.mem, dx->mem));
    return 0;
}

int cpu_flatten_forward(cpu_ctx_t *c, int i) { return cpu_run(c, &c->layers[i].fwd); }

int cpu_flatten_backward(cpu_ctx_t *c, int i) { return cpu_run(c, &c->layers[i].bwd_data); }

/* y and dy in plain order: (n, features) after a plain layer, NHWC after an image layer. */
int cpu_dropout_build(cpu_ctx_t *c, int i) {
    cpu_layer_t *l = &c->layers[i];
    const nn_layer_t *s = l->spec;
    cpu_tensor_t *x = cpu_prev_y(c, i), *dx = cpu_prev_dy(c, i);
    dnnl_memory_desc_t md;
    if (x->md.ndims == 4) {
        int64_t img[4] = {c->max_batch, s->out_c, s->out_h, s->out_w};
        TRY(cpu_md(&md, 4, img, dnnl_nhwc));
    } else {
        int64_t flat[2] = {c->max_batch, (int64_t)s->out_h * s->out_w * s->out_c};
        TRY(cpu_md(&md, 2, flat, dnnl_nc));
    }
    TRY(cpu_tensor(c, &l->y, &md));
    TRY(cpu_tensor(c, &l->dy, &md));
    TRY(cpu_reorder(c, &l->fwd, x->mem, l->y.mem));
    if (dx) TRY(cpu_reorder(c, &l->bwd_data, l->dy.mem, dx->mem));
    return 0;
}

/* y = previous y, with the mask of (seed, stream = layer index) when training */
int cpu_dropout_forward(cpu_ctx_t *c, int i, int n, int training, uint64_t seed) {
    cpu_layer_t *l = &c->layers[i];
    TRY(cpu_run(c, &l->fwd));
    if (training) ref_dropout_forward(l->y.ptr, (size_t)n * l->img_stride, l->spec->rate, seed, (uint64_t)i);
    return 0;
}

int cpu_dropout_backward(cpu_ctx_t *c, int i, int n, uint64_t seed) {
    cpu_layer_t *l = &c->layers[i];
    ref_dropout_backward(l->dy.ptr, (size_t)n * l->img_stride, l->spec->rate, seed, (uint64_t)i);
    TRY(cpu_run(c, &l->bwd_data));
    return 0;
}
