/* util.c: the oneDNN backend's helpers: tensors, primitive descriptors with a shared user scratchpad,
 * ops with their arguments bound once, reorders, and the input/output adaptors of a layer. */
#include <string.h>

#include <oneapi/dnnl/dnnl_debug.h>

#include "common/check.h"
#include "common/log.h"
#include "nn/cpu/cpu.h"
#include "nn/ref/kernels.h"

void cpu_dnnl_error(const char *file, int line, const char *call, dnnl_status_t s) {
    const char *paren = strchr(call, '(');   /* the call's name, the statement goes to the trail */
    err_set("%.*s: oneDNN %s", paren ? (int)(paren - call) : (int)strlen(call), call, dnnl_status2str(s));
    err_where(file, line, call);
}

int cpu_md(dnnl_memory_desc_t *md, int ndims, const int64_t *dims, dnnl_format_tag_t tag) {
    dnnl_dims_t d = {0};   /* the library's full-size array */
    CHECK(ndims > 0 && ndims <= DNNL_MAX_NDIMS, "cpu: %d dimensions", ndims);
    memcpy(d, dims, sizeof(int64_t) * ndims);
    DNNL_TRY(dnnl_memory_desc_init_by_tag(md, ndims, d, dnnl_f32, tag));
    return 0;
}

size_t cpu_md_floats(const dnnl_memory_desc_t *md) { return dnnl_memory_desc_get_size(md) / sizeof(float); }

/* Register a memory object so that destroy() frees it. */
int cpu_mem(cpu_ctx_t *c, dnnl_memory_t *mem, const dnnl_memory_desc_t *md, void *handle) {
    CHECK(c->n_mems < CPU_MAX_MEMS, "cpu: too many memory objects");
    DNNL_TRY(dnnl_memory_create(mem, md, c->eng, handle));
    c->mems[c->n_mems++] = *mem;
    return 0;
}

/* A tensor with its own buffer, zeroed now so that its pages are touched here and not in the
 * first step, and so that images past a short batch hold finite values. */
int cpu_tensor(cpu_ctx_t *c, cpu_tensor_t *t, const dnnl_memory_desc_t *md) {
    t->md = *md;
    TRY(cpu_mem(c, &t->mem, md, DNNL_MEMORY_ALLOCATE));
    void *p = NULL;
    DNNL_TRY(dnnl_memory_get_data_handle(t->mem, &p));
    t->ptr = p;
    memset(p, 0, dnnl_memory_desc_get_size(md));
    return 0;
}

int cpu_attr(dnnl_primitive_attr_t *attr, nn_act_t act) {
    DNNL_TRY(dnnl_primitive_attr_create(attr));
    int rc = -1;
    dnnl_post_ops_t po = NULL;
    CHECK_GOTO(dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user) == dnnl_success,
               fail);
    if (act != NN_ACT_NONE) {
        CHECK_GOTO(dnnl_post_ops_create(&po) == dnnl_success, fail);
        dnnl_alg_kind_t alg = act == NN_ACT_RELU ? dnnl_eltwise_relu : dnnl_eltwise_logistic;
        CHECK_GOTO(dnnl_post_ops_append_eltwise(po, 1.0f, alg, 0.0f, 0.0f) == dnnl_success, fail);
        CHECK_GOTO(dnnl_primitive_attr_set_post_ops(*attr, po) == dnnl_success, fail);
    }
    rc = 0;
fail:
    if (po) dnnl_post_ops_destroy(po);
    if (rc) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return rc;
}

/* A primitive descriptor for op_desc (a convolution, pooling, inner product ... descriptor) with the
 * user scratchpad and, for forward ops, the activation as a post-op. Logs the implementation. */
int cpu_pd(cpu_ctx_t *c, dnnl_primitive_desc_t *pd, const void *op_desc, nn_act_t act,
           const_dnnl_primitive_desc_t hint, const char *what) {
    dnnl_primitive_attr_t attr = NULL;
    TRY(cpu_attr(&attr, act));
    dnnl_status_t s = dnnl_primitive_desc_create(pd, op_desc, attr, c->eng, hint);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success) {
        *pd = NULL;
        err_set("cpu: no oneDNN implementation for %s: %s", what, dnnl_status2str(s));
        return -1;
    }
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(*pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        LOG_D("cpu: %s: %s", what, impl);
    return 0;
}

const dnnl_memory_desc_t *cpu_query(const_dnnl_primitive_desc_t pd, dnnl_query_t what) {
    return dnnl_primitive_desc_query_md(pd, what, 0);
}

void cpu_op_arg(cpu_op_t *op, int arg, dnnl_memory_t mem) {
    ASSERT(op->nargs < CPU_MAX_ARGS);
    op->args[op->nargs].arg = arg;
    op->args[op->nargs].memory = mem;
    op->nargs++;
}

/* The primitive of pd, its scratchpad bound to a memory object whose handle is set to the shared
 * buffer once every primitive is made (cpu_scratch_bind in net.c). */
int cpu_op(cpu_ctx_t *c, cpu_op_t *op, const_dnnl_primitive_desc_t pd) {
    CHECK(c->n_prims < CPU_MAX_PRIMS, "cpu: too many primitives");
    op->nargs = 0;
    DNNL_TRY(dnnl_primitive_create(&op->prim, pd));
    c->prims[c->n_prims++] = op->prim;
    const dnnl_memory_desc_t *smd = cpu_query(pd, dnnl_query_scratchpad_md);
    size_t size = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (size > 0) {
        CHECK(c->n_scratch < CPU_MAX_PRIMS, "cpu: too many scratchpads");
        dnnl_memory_t m = NULL;
        TRY(cpu_mem(c, &m, smd, DNNL_MEMORY_NONE));
        c->scratch_mems[c->n_scratch++] = m;
        if (size > c->scratch_size) c->scratch_size = size;
        cpu_op_arg(op, DNNL_ARG_SCRATCHPAD, m);
    }
    return 0;
}

static const dnnl_memory_desc_t *mem_md(dnnl_memory_t m) {
    const dnnl_memory_desc_t *md = NULL;
    if (dnnl_memory_get_memory_desc(m, &md) != dnnl_success) return NULL;
    return md;
}

/* A reorder from src to dst (their layouts as made), bound to those two memory objects. */
int cpu_reorder(cpu_ctx_t *c, cpu_op_t *op, dnnl_memory_t src, dnnl_memory_t dst) {
    const dnnl_memory_desc_t *smd = mem_md(src), *dmd = mem_md(dst);
    CHECK(smd && dmd, "cpu: reorder of a memory object without a layout");
    dnnl_primitive_attr_t attr = NULL;
    TRY(cpu_attr(&attr, NN_ACT_NONE));
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&pd, smd, c->eng, dmd, c->eng, attr);
    dnnl_primitive_attr_destroy(attr);
    DNNL_TRY(s);
    int rc = cpu_op(c, op, pd);
    dnnl_primitive_desc_destroy(pd);
    TRY(rc);
    cpu_op_arg(op, DNNL_ARG_FROM, src);
    cpu_op_arg(op, DNNL_ARG_TO, dst);
    return 0;
}

int cpu_run(cpu_ctx_t *c, const cpu_op_t *op) {
    if (!op->prim) return 0;
    DNNL_TRY(dnnl_primitive_execute(op->prim, c->stream, op->nargs, op->args));
    DNNL_TRY(dnnl_stream_wait(c->stream));   /* host code may read the result next */
    return 0;
}

cpu_tensor_t *cpu_prev_y(cpu_ctx_t *c, int i) { return i > 0 ? &c->layers[i - 1].y : &c->in; }

cpu_tensor_t *cpu_prev_dy(cpu_ctx_t *c, int i) { return i > 0 ? &c->layers[i - 1].dy : NULL; }

/* When layer i prefers its input in another layout than the previous output's, keep a copy in that
 * layout (x) and a gradient buffer in it (dx), with the two reorders between them. */
int cpu_adapt_input(cpu_ctx_t *c, int i, const dnnl_memory_desc_t *want) {
    cpu_layer_t *l = &c->layers[i];
    cpu_tensor_t *px = cpu_prev_y(c, i), *pdx = cpu_prev_dy(c, i);
    if (dnnl_memory_desc_equal(&px->md, want)) return 0;
    LOG_D("cpu: %s: input reordered to the layer's layout", l->spec->name);
    TRY(cpu_tensor(c, &l->x, want));
    TRY(cpu_reorder(c, &l->x_in, px->mem, l->x.mem));
    if (pdx) {
        TRY(cpu_tensor(c, &l->dx, want));
        TRY(cpu_reorder(c, &l->dx_out, l->dx.mem, pdx->mem));
    }
    return 0;
}

/* layer_output reorders one image at a time, so that a short batch needs no buffer of its own:
 * the internal layout with the batch dimension set to 1 (its stride is unchanged and not blocked),
 * to plain NHWC. Plain 2D outputs are copied as they are. */
int cpu_out_view(cpu_ctx_t *c, int i) {
    cpu_layer_t *l = &c->layers[i];
    const nn_layer_t *s = l->spec;
    const dnnl_memory_desc_t *md = &l->y.md;
    CHECK(md->format_kind == dnnl_blocked, "cpu: %s: output layout is not a blocked one", s->name);
    const dnnl_blocking_desc_t *bd = &md->format_desc.blocking;
    for (int k = 0; k < bd->inner_nblks; k++)
        CHECK(bd->inner_idxs[k] != 0, "cpu: %s: output layout blocks the batch dimension", s->name);
    l->img_stride = (size_t)bd->strides[0];
    if (l->plain) return 0;
    dnnl_memory_desc_t one = *md;
    one.dims[0] = one.padded_dims[0] = 1;
    int64_t dims[4] = {1, s->out_c, s->out_h, s->out_w};
    dnnl_memory_desc_t nhwc;
    TRY(cpu_md(&nhwc, 4, dims, dnnl_nhwc));
    TRY(cpu_mem(c, &l->out_src, &one, DNNL_MEMORY_NONE));
    TRY(cpu_mem(c, &l->out_dst, &nhwc, DNNL_MEMORY_NONE));
    TRY(cpu_reorder(c, &l->out_op, l->out_src, l->out_dst));
    return 0;
}

/* dy *= act'(y) for ReLU and sigmoid (both need only the output y). Element-wise, so it holds in
 * any layout as long as dy and y share it. */
void cpu_act_backward(nn_act_t act, const float *y, float *dy, size_t count) {
    if (act == NN_ACT_RELU) cpu_relu_mask(y, dy, count);
    else if (act == NN_ACT_SIGMOID) ref_sigmoid_backward(y, dy, count);
}

/* Layer i's build for conv2d and dense, which makes up to three primitive descriptors (forward,
 * backward weights, backward data): they are freed whatever happens, and a failure names the layer. */
int cpu_build_pd3(cpu_ctx_t *c, int i, cpu_pd3_build_fn build) {
    dnnl_primitive_desc_t pd[3] = {NULL, NULL, NULL};
    int rc = build(c, i, pd);
    for (int k = 0; k < 3; k++)
        if (pd[k]) dnnl_primitive_desc_destroy(pd[k]);
    if (rc) err_prepend("layer %s", c->layers[i].spec->name);
    return rc;
}

int cpu_param_mems(cpu_ctx_t *c, cpu_layer_t *l, const dnnl_memory_desc_t *w,
                   const dnnl_memory_desc_t *b, const dnnl_memory_desc_t *dst) {
    l->w_md = *w;
    l->b_md = *b;
    TRY(cpu_mem(c, &l->w, w, DNNL_MEMORY_NONE));
    TRY(cpu_mem(c, &l->dw, w, DNNL_MEMORY_NONE));
    TRY(cpu_mem(c, &l->b, b, DNNL_MEMORY_NONE));
    TRY(cpu_mem(c, &l->db, b, DNNL_MEMORY_NONE));
    TRY(cpu_tensor(c, &l->y, dst));
    TRY(cpu_tensor(c, &l->dy, dst));
    return 0;
}
