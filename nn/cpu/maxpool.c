/* maxpool.c: the oneDNN backend's max-pool layer (p x p, stride p, floor): oneDNN's inference
 * forward, and a backward of our own that finds each window's argmax again from x and y.
 *
 * Why not oneDNN's backward: it needs the training forward's workspace of argmax indices, and on
 * AVX2 writing that workspace doubles the forward's time (17.6 ms instead of 8.4 ms for the first
 * pool of model 1 at batch 20); re-reading x in the backward costs less. The rule is the reference's:
 * a window's gradient goes to its first element (row-major) equal to the maximum.
 *
 * A max-pool after a ReLU layer also applies that ReLU's mask, to its own gradient: the window's
 * maximum is > 0 exactly when the element it routes to has a ReLU output > 0, so masking the pooled
 * gradient with (pooled y > 0) gives the same input gradient as masking the full one. */
#include <string.h>

#include <immintrin.h>

#include "common/check.h"
#include "nn/cpu/cpu.h"

/* Where element (n, c, h, w) of a layout lives: n*sn + (c / lanes)*sg + h*sh + w*sw + (c % lanes),
 * the channels in groups of `lanes` contiguous floats (nChw8c: lanes 8; nhwc: lanes = C; nchw:
 * lanes 1, sg the channel stride). */
typedef struct {
    int64_t sn, sg, sh, sw;
    int lanes, groups;
} pool_layout_t;

static int pool_layout(const dnnl_memory_desc_t *md, pool_layout_t *lay) {
    CHECK(md->format_kind == dnnl_blocked && md->ndims == 4, "cpu: max-pool tensor layout");
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int64_t cp = md->padded_dims[1];
    lay->sn = b->strides[0], lay->sh = b->strides[2], lay->sw = b->strides[3];
    if (b->inner_nblks == 1 && b->inner_idxs[0] == 1) {   /* nChw8c, nChw16c */
        lay->lanes = (int)b->inner_blks[0];
        lay->sg = b->strides[1];
    } else if (b->inner_nblks == 0 && b->strides[1] == 1) {   /* nhwc */
        lay->lanes = (int)cp;
        lay->sg = cp;
    } else if (b->inner_nblks == 0) {   /* channels not innermost: one lane per group */
        lay->lanes = 1;
        lay->sg = b->strides[1];
    } else {
        CHECK(0, "cpu: max-pool tensor layout with %d inner blocks", b->inner_nblks);
    }
    lay->groups = (int)(cp / lay->lanes);
    return 0;
}

static int build(cpu_ctx_t *c, int i, dnnl_primitive_desc_t *pd) {
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
    DNNL_TRY(dnnl_pooling_forward_desc_init(&d, dnnl_forward_inference, dnnl_pooling_max, &x->md, &dst, stride,
                                            kernel, pad, pad));
    TRY(cpu_pd(c, pd, &d, NN_ACT_NONE, NULL, "maxpool forward"));
    dst = *cpu_query(*pd, dnnl_query_dst_md);
    pool_layout_t a, b;
    TRY(pool_layout(&x->md, &a));
    TRY(pool_layout(&dst, &b));
    CHECK(a.lanes == b.lanes && a.groups == b.groups, "cpu: %s: max-pool output layout differs from its input's",
          s->name);   /* the backward walks both with the same channel grouping */
    TRY(cpu_tensor(c, &l->y, &dst));
    TRY(cpu_tensor(c, &l->dy, &dst));
    TRY(cpu_op(c, &l->fwd, *pd));
    cpu_op_arg(&l->fwd, DNNL_ARG_SRC, x->mem);
    cpu_op_arg(&l->fwd, DNNL_ARG_DST, l->y.mem);
    if (i > 0 && c->layers[i - 1].act == NN_ACT_RELU) c->layers[i - 1].act_in_next = 1;
    return 0;
}

int cpu_maxpool_build(cpu_ctx_t *c, int i) {
    dnnl_primitive_desc_t pd = NULL;
    int rc = build(c, i, &pd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (rc) err_prepend("layer %s", c->layers[i].spec->name);
    return rc;
}

/* previous y (n, h, w, c) -> y (n, h/p, w/p, c) */
int cpu_maxpool_forward(cpu_ctx_t *c, int i) { return cpu_run(c, &c->layers[i].fwd); }

/* One window, 8 lanes: dx = d where x is the first element equal to m, 0 elsewhere. */
__attribute__((target("avx"))) static void window8_avx(const float *x, float *dx, const float *m8, const float *d8,
                                                        int relu, int p, int64_t sh, int64_t sw) {
    __m256 m = _mm256_loadu_ps(m8), d = _mm256_loadu_ps(d8);
    if (relu) d = _mm256_and_ps(d, _mm256_cmp_ps(m, _mm256_setzero_ps(), _CMP_GT_OQ));
    __m256 taken = _mm256_setzero_ps();
    for (int ky = 0; ky < p; ky++)
        for (int kx = 0; kx < p; kx++) {
            int64_t o = ky * sh + kx * sw;
            __m256 hit = _mm256_andnot_ps(taken, _mm256_cmp_ps(_mm256_loadu_ps(x + o), m, _CMP_EQ_OQ));
            taken = _mm256_or_ps(taken, hit);
            _mm256_storeu_ps(dx + o, _mm256_and_ps(hit, d));
        }
}

static void window_scalar(const float *x, float *dx, const float *m1, const float *d1, int lanes, int relu, int p,
                          int64_t sh, int64_t sw) {
    for (int j = 0; j < lanes; j++) {
        float m = m1[j], d = relu && !(m > 0.0f) ? 0.0f : d1[j];
        int found = 0;
        for (int ky = 0; ky < p; ky++)
            for (int kx = 0; kx < p; kx++) {
                int64_t o = ky * sh + kx * sw + j;
                int hit = !found && x[o] == m;
                found |= hit;
                dx[o] = hit ? d : 0.0f;
            }
    }
}

/* dy (pooled) -> dx (the input's shape), for images [n0, n1). */
static void pool_backward(const float *x, const float *y, const float *dy, float *dx, const pool_layout_t *a,
                          const pool_layout_t *b, int n0, int n1, int h, int w, int oh, int ow, int p, int relu) {
    int vec = a->lanes % 8 == 0 && __builtin_cpu_supports("avx");
    for (int n = n0; n < n1; n++)
        for (int g = 0; g < a->groups; g++) {
            const float *xg = x + n * a->sn + g * a->sg;
            float *dxg = dx + n * a->sn + g * a->sg;
            const float *yg = y + n * b->sn + g * b->sg, *dyg = dy + n * b->sn + g * b->sg;
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    int64_t xo = oy * p * a->sh + ox * p * a->sw, yo = oy * b->sh + ox * b->sw;
                    if (vec)
                        for (int j = 0; j < a->lanes; j += 8)
                            window8_avx(xg + xo + j, dxg + xo + j, yg + yo + j, dyg + yo + j, relu, p, a->sh, a->sw);
                    else
                        window_scalar(xg + xo, dxg + xo, yg + yo, dyg + yo, a->lanes, relu, p, a->sh, a->sw);
                }
            /* rows and columns past the last whole window get no gradient */
            for (int yy = 0; yy < h; yy++)
                for (int xx = yy < oh * p ? ow * p : 0; xx < w; xx++)
                    memset(dxg + yy * a->sh + xx * a->sw, 0, sizeof(float) * a->lanes);
        }
}

/* dy -> previous dy: each window's gradient to its first maximum, zero elsewhere */
int cpu_maxpool_backward(cpu_ctx_t *c, int i) {
    if (i == 0) return 0;
    cpu_layer_t *l = &c->layers[i];
    const nn_layer_t *s = l->spec;
    cpu_tensor_t *x = cpu_prev_y(c, i), *dx = cpu_prev_dy(c, i);
    pool_layout_t a, b;
    TRY(pool_layout(&x->md, &a));
    TRY(pool_layout(&l->y.md, &b));
    /* one image per task, on oneDNN's OpenMP threads (the first pool of model 2 takes ~9 ms on one) */
    int relu = c->layers[i - 1].act_in_next;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int n = 0; n < c->last_n; n++)
        pool_backward(x->ptr, l->y.ptr, l->dy.ptr, dx->ptr, &a, &b, n, n + 1, s->in_h, s->in_w, s->out_h, s->out_w,
                      s->pool, relu);
    /* images past a short batch: zero, so that they add nothing to the layers below */
    if (c->last_n < c->max_batch)
        memset(dx->ptr + c->last_n * a.sn, 0, sizeof(float) * (c->max_batch - c->last_n) * a.sn);
    return 0;
}
