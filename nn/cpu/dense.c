/* dense.c: the oneDNN backend's dense layer as an inner product on plain (n, features) activations,
 * with the kernel in oneDNN's layout and the activation as a post-op. */
#include "common/check.h"
#include "nn/cpu/cpu.h"

static int build(cpu_ctx_t *c, int i, dnnl_primitive_desc_t pd[3]) {
    cpu_layer_t *l = &c->layers[i];
    const nn_layer_t *s = l->spec;
    cpu_tensor_t *x = cpu_prev_y(c, i);
    CHECK(x->md.ndims == 2, "cpu: %s: a dense layer must follow a flatten, dense or dropout layer", s->name);
    int64_t in = (int64_t)s->in_h * s->in_w * s->in_c;
    int64_t wd[2] = {s->units, in}, bd[1] = {s->units}, dd[2] = {c->max_batch, s->units};
    dnnl_memory_desc_t w, b, dst;
    TRY(cpu_md(&w, 2, wd, dnnl_format_tag_any));
    TRY(cpu_md(&b, 1, bd, dnnl_x));
    TRY(cpu_md(&dst, 2, dd, dnnl_nc));
    dnnl_inner_product_desc_t d;
    DNNL_TRY(dnnl_inner_product_forward_desc_init(&d, dnnl_forward_training, &x->md, &w, &b, &dst));
    TRY(cpu_pd(c, &pd[0], &d, l->act, NULL, "dense forward"));
    w = *cpu_query(pd[0], dnnl_query_weights_md);
    DNNL_TRY(dnnl_inner_product_backward_weights_desc_init(&d, &x->md, &w, &b, &dst));
    TRY(cpu_pd(c, &pd[1], &d, NN_ACT_NONE, pd[0], "dense backward weights"));
    if (i > 0) {
        DNNL_TRY(dnnl_inner_product_backward_data_desc_init(&d, &x->md, &w, &dst));
        TRY(cpu_pd(c, &pd[2], &d, NN_ACT_NONE, pd[0], "dense backward data"));
    }

    TRY(cpu_md(&l->w_user_md, 2, wd, dnnl_io));   /* the model's (in, out) kernel */
    TRY(cpu_param_mems(c, l, &w, &b, &dst));

    TRY(cpu_op(c, &l->fwd, pd[0]));
    cpu_op_arg(&l->fwd, DNNL_ARG_SRC, x->mem);
    cpu_op_arg(&l->fwd, DNNL_ARG_WEIGHTS, l->w);
    cpu_op_arg(&l->fwd, DNNL_ARG_BIAS, l->b);
    cpu_op_arg(&l->fwd, DNNL_ARG_DST, l->y.mem);
    TRY(cpu_op(c, &l->bwd_weights, pd[1]));
    cpu_op_arg(&l->bwd_weights, DNNL_ARG_SRC, x->mem);
    cpu_op_arg(&l->bwd_weights, DNNL_ARG_DIFF_DST, l->dy.mem);
    cpu_op_arg(&l->bwd_weights, DNNL_ARG_DIFF_WEIGHTS, l->dw);
    cpu_op_arg(&l->bwd_weights, DNNL_ARG_DIFF_BIAS, l->db);
    if (i > 0) {
        TRY(cpu_op(c, &l->bwd_data, pd[2]));
        cpu_op_arg(&l->bwd_data, DNNL_ARG_DIFF_DST, l->dy.mem);
        cpu_op_arg(&l->bwd_data, DNNL_ARG_WEIGHTS, l->w);
        cpu_op_arg(&l->bwd_data, DNNL_ARG_DIFF_SRC, cpu_prev_dy(c, i)->mem);
    }
    return 0;
}

int cpu_dense_build(cpu_ctx_t *c, int i) { return cpu_build_pd3(c, i, build); }

/* previous y (n, in) -> y (n, units), activation applied */
int cpu_dense_forward(cpu_ctx_t *c, int i) { return cpu_run(c, &c->layers[i].fwd); }

/* dy -> kernel and bias gradients, and (past layer 0) the previous layer's dy */
int cpu_dense_backward(cpu_ctx_t *c, int i) {
    cpu_layer_t *l = &c->layers[i];
    cpu_act_backward(l->act, l->y.ptr, l->dy.ptr, c->last_n * l->img_stride);
    TRY(cpu_run(c, &l->bwd_weights));
    if (i > 0) TRY(cpu_run(c, &l->bwd_data));
    return 0;
}
