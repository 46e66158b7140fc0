/* conv2d.c: the oneDNN backend's conv2d layer (3x3-style 'valid', stride 1, bias, activation as a
 * post-op): forward, backward-weights with the bias gradient, backward-data (not for layer 0), with
 * Winograd's algorithm where oneDNN has it and the context asks for it, else the direct one. */
#include "common/check.h"
#include "common/log.h"
#include "nn/cpu/cpu.h"

/* The three primitive descriptors of layer i with convolution algorithm alg (forward, backward
 * weights, and backward data past layer 0). -1 when oneDNN has no implementation of one of them. */
static int make_pds(cpu_ctx_t *c, int i, dnnl_alg_kind_t alg, dnnl_primitive_desc_t pd[3]) {
    cpu_layer_t *l = &c->layers[i];
    const nn_layer_t *s = l->spec;
    int64_t n = c->max_batch, k = s->kernel;
    int64_t sd[4] = {n, s->in_c, s->in_h, s->in_w}, wd[4] = {s->filters, s->in_c, k, k};
    int64_t bd[1] = {s->filters}, dd[4] = {n, s->filters, s->out_h, s->out_w};
    dnnl_dims_t stride = {1, 1}, pad = {0, 0};
    dnnl_memory_desc_t src, w, b, dst;
    TRY(cpu_md(&src, 4, sd, dnnl_format_tag_any));
    TRY(cpu_md(&w, 4, wd, dnnl_format_tag_any));
    TRY(cpu_md(&b, 1, bd, dnnl_x));
    TRY(cpu_md(&dst, 4, dd, dnnl_format_tag_any));

    dnnl_convolution_desc_t d;
    DNNL_TRY(dnnl_convolution_forward_desc_init(&d, dnnl_forward_training, alg, &src, &w, &b, &dst, stride, pad, pad));
    TRY(cpu_pd(c, &pd[0], &d, l->act, NULL, "conv2d forward"));
    src = *cpu_query(pd[0], dnnl_query_src_md);
    w = *cpu_query(pd[0], dnnl_query_weights_md);
    dst = *cpu_query(pd[0], dnnl_query_dst_md);

    /* backward-weights writes the gradient in the kernel's own layout, so that the update is one
     * pass; backward-data gets the layout it prefers (its JIT kernels want the transposed blocking;
     * with the forward's they fall back to the reference code) and a small reorder per step */
    DNNL_TRY(dnnl_convolution_backward_weights_desc_init(&d, alg, &src, &w, &b, &dst, stride, pad, pad));
    TRY(cpu_pd(c, &pd[1], &d, NN_ACT_NONE, pd[0], "conv2d backward weights"));
    if (i > 0) {
        dnnl_memory_desc_t w_any;
        TRY(cpu_md(&w_any, 4, wd, dnnl_format_tag_any));
        DNNL_TRY(dnnl_convolution_backward_data_desc_init(&d, alg, &src, &w_any, &dst, stride, pad, pad));
        TRY(cpu_pd(c, &pd[2], &d, NN_ACT_NONE, pd[0], "conv2d backward data"));
    }
    return 0;
}

static void free_pds(dnnl_primitive_desc_t pd[3]) {
    for (int k = 0; k < 3; k++) {
        if (pd[k]) dnnl_primitive_desc_destroy(pd[k]);
        pd[k] = NULL;
    }
}

static int build(cpu_ctx_t *c, int i, dnnl_primitive_desc_t pd[3]) {
    cpu_layer_t *l = &c->layers[i];
    const nn_layer_t *s = l->spec;
    /* Winograd where oneDNN implements all three passes (3x3, stride 1, AVX-512) and the channels
     * fill its 16-wide blocks: it pads them to 16, so a first layer of 3 input channels would do
     * 5x the work and is 3x slower than direct. Else the direct algorithm. */
    int fits = s->in_c % 16 == 0 && s->filters % 16 == 0;
    int wino = c->winograd && fits && make_pds(c, i, dnnl_convolution_winograd, pd) == 0;
    if (!wino) {
        free_pds(pd);
        TRY(make_pds(c, i, dnnl_convolution_direct, pd));
    }
    LOG_D("cpu: %s: %s convolution", s->name, wino ? "Winograd" : "direct");
    int64_t k = s->kernel, wd[4] = {s->filters, s->in_c, k, k}, bd[1] = {s->filters};
    dnnl_memory_desc_t src = *cpu_query(pd[0], dnnl_query_src_md), w = *cpu_query(pd[0], dnnl_query_weights_md),
                       dst = *cpu_query(pd[0], dnnl_query_dst_md), b;
    TRY(cpu_md(&b, 1, bd, dnnl_x));
    TRY(cpu_md(&l->w_user_md, 4, wd, dnnl_hwio));   /* the model's HWIO kernel */
    TRY(cpu_param_mems(c, l, &w, &b, &dst));
    TRY(cpu_adapt_input(c, i, &src));
    dnnl_memory_t x = l->x.mem ? l->x.mem : cpu_prev_y(c, i)->mem;

    TRY(cpu_op(c, &l->fwd, pd[0]));
    cpu_op_arg(&l->fwd, DNNL_ARG_SRC, x);
    cpu_op_arg(&l->fwd, DNNL_ARG_WEIGHTS, l->w);
    cpu_op_arg(&l->fwd, DNNL_ARG_BIAS, l->b);
    cpu_op_arg(&l->fwd, DNNL_ARG_DST, l->y.mem);

    TRY(cpu_op(c, &l->bwd_weights, pd[1]));
    cpu_op_arg(&l->bwd_weights, DNNL_ARG_SRC, x);
    cpu_op_arg(&l->bwd_weights, DNNL_ARG_DIFF_DST, l->dy.mem);
    cpu_op_arg(&l->bwd_weights, DNNL_ARG_DIFF_WEIGHTS, l->dw);
    cpu_op_arg(&l->bwd_weights, DNNL_ARG_DIFF_BIAS, l->db);

    if (i > 0) {
        const dnnl_memory_desc_t *wb = cpu_query(pd[2], dnnl_query_weights_md);
        dnnl_memory_t wmem = l->w;
        if (!dnnl_memory_desc_equal(wb, &w)) {
            TRY(cpu_tensor(c, &l->w_bwd, wb));
            TRY(cpu_reorder(c, &l->w_to_bwd, l->w, l->w_bwd.mem));
            wmem = l->w_bwd.mem;
        }
        TRY(cpu_op(c, &l->bwd_data, pd[2]));
        cpu_op_arg(&l->bwd_data, DNNL_ARG_DIFF_DST, l->dy.mem);
        cpu_op_arg(&l->bwd_data, DNNL_ARG_WEIGHTS, wmem);
        cpu_op_arg(&l->bwd_data, DNNL_ARG_DIFF_SRC, l->dx.mem ? l->dx.mem : cpu_prev_dy(c, i)->mem);
    }
    return 0;
}

int cpu_conv2d_build(cpu_ctx_t *c, int i) { return cpu_build_pd3(c, i, build); }

/* previous y (n, h, w, c) -> y (n, h-k+1, w-k+1, filters), activation applied */
int cpu_conv2d_forward(cpu_ctx_t *c, int i) {
    cpu_layer_t *l = &c->layers[i];
    TRY(cpu_run(c, &l->x_in));
    TRY(cpu_run(c, &l->fwd));
    return 0;
}

/* dy -> kernel and bias gradients, and (past layer 0) the previous layer's dy */
int cpu_conv2d_backward(cpu_ctx_t *c, int i) {
    cpu_layer_t *l = &c->layers[i];
    if (!l->act_in_next) cpu_act_backward(l->act, l->y.ptr, l->dy.ptr, c->last_n * l->img_stride);
    TRY(cpu_run(c, &l->bwd_weights));
    if (i > 0) {
        TRY(cpu_run(c, &l->w_to_bwd));
        TRY(cpu_run(c, &l->bwd_data));
        TRY(cpu_run(c, &l->dx_out));
    }
    return 0;
}
