/* maxpool.c: the oneDNN backend's max-pool layer (p x p, stride p, floor), forward with a workspace
 * of argmax positions and backward through it.
 *
 * A max-pool after a ReLU layer applies that ReLU's mask to its own gradient, before routing it:
 * the window's maximum is > 0 exactly when the element it routes to has a ReLU output > 0, so
 * masking the pooled gradient with (pooled y > 0) gives the same input gradient as masking the full
 * one, on a tensor p*p times smaller. */
#include "common/check.h"
#include "nn/cpu/cpu.h"

static int build(cpu_ctx_t *c, int i, dnnl_primitive_desc_t pd[2]) {
    cpu_layer_t *l = &c->layers[i];
    const nn_layer_t *s = l->spec;
    cpu_tensor_t *x = cpu_prev_y(c, i);
    CHECK(x->md.ndims == 4, "cpu: %s: max-pool input must be an image tensor", s->name);
    int64_t dd[4] = {c->max_batch, s->out_c, s->out_h, s->out_w};
    dnnl_dims_t stride = {s->pool, s->pool}, kernel = {s->pool, s->pool}, pad = {0, 0};
    /* floor mode: oneDNN's output size (in - p + pad_l + pad_r) / p + 1 with no padding */
    dnnl_memory_desc_t dst;
    TRY(cpu_md(&dst, 4, dd, dnnl_format_tag_any));
    dnnl_pooling_desc_t d;
    DNNL_TRY(dnnl_pooling_forward_desc_init(&d, dnnl_forward_training, dnnl_pooling_max, &x->md, &dst, stride,
                                            kernel, pad, pad));
    TRY(cpu_pd(c, &pd[0], &d, NN_ACT_NONE, NULL, "maxpool forward"));
    dst = *cpu_query(pd[0], dnnl_query_dst_md);
    TRY(cpu_tensor(c, &l->y, &dst));
    TRY(cpu_tensor(c, &l->dy, &dst));
    TRY(cpu_tensor(c, &l->ws, cpu_query(pd[0], dnnl_query_workspace_md)));
    TRY(cpu_op(c, &l->fwd, pd[0]));
    cpu_op_arg(&l->fwd, DNNL_ARG_SRC, x->mem);
    cpu_op_arg(&l->fwd, DNNL_ARG_DST, l->y.mem);
    cpu_op_arg(&l->fwd, DNNL_ARG_WORKSPACE, l->ws.mem);
    if (i == 0) return 0;

    DNNL_TRY(dnnl_pooling_backward_desc_init(&d, dnnl_pooling_max, &x->md, &dst, stride, kernel, pad, pad));
    TRY(cpu_pd(c, &pd[1], &d, NN_ACT_NONE, pd[0], "maxpool backward"));
    TRY(cpu_op(c, &l->bwd_data, pd[1]));
    cpu_op_arg(&l->bwd_data, DNNL_ARG_DIFF_DST, l->dy.mem);
    cpu_op_arg(&l->bwd_data, DNNL_ARG_WORKSPACE, l->ws.mem);
    cpu_op_arg(&l->bwd_data, DNNL_ARG_DIFF_SRC, cpu_prev_dy(c, i)->mem);
    if (c->layers[i - 1].act == NN_ACT_RELU) c->layers[i - 1].act_in_next = 1;
    return 0;
}

int cpu_maxpool_build(cpu_ctx_t *c, int i) {
    dnnl_primitive_desc_t pd[2] = {NULL, NULL};
    int rc = build(c, i, pd);
    for (int k = 0; k < 2; k++)
        if (pd[k]) dnnl_primitive_desc_destroy(pd[k]);
    if (rc) err_prepend("layer %s: ", c->layers[i].spec->name);
    return rc;
}

/* previous y (n, h, w, c) -> y (n, h/p, w/p, c) and the argmax workspace */
int cpu_maxpool_forward(cpu_ctx_t *c, int i) { return cpu_run(c, &c->layers[i].fwd); }

/* dy -> previous dy: each window's gradient to its maximum, zero elsewhere */
int cpu_maxpool_backward(cpu_ctx_t *c, int i) {
    cpu_layer_t *l = &c->layers[i];
    if (i == 0) return 0;
    if (c->layers[i - 1].act_in_next) cpu_relu_mask(l->y.ptr, l->dy.ptr, c->last_n * l->img_stride);
    TRY(cpu_run(c, &l->bwd_data));
    return 0;
}
