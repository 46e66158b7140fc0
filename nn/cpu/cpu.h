/* cpu.h: the oneDNN backend's internals (nn/cpu only): the context, one struct per layer, and the
 * helpers every layer file uses to make tensors, primitives and reorders.
 *
 * Layouts: inside the backend, conv/pool activations and conv/dense kernels use the blocked formats
 * oneDNN prefers (format_tag any); dense activations are plain (n, features) with features in NHWC
 * order, so a flatten is one reorder to plain NHWC and the dense kernels keep Keras' row order.
 * Parameters, gradients and RMSprop state live in three buffers of the same internal layout, so the
 * update is one pass; reorders to and from the model layout happen only at the boundary. */
#ifndef PAWPIPE_NN_CPU_H
#define PAWPIPE_NN_CPU_H

#include <stddef.h>
#include <stdint.h>

#include <oneapi/dnnl/dnnl.h>

#include "nn/backend_check.h"
#include "nn/model.h"

/* Call a oneDNN function; on failure record the call, its status and file:line, and return -1. */
#define DNNL_TRY(call)                                                                          \
    do {                                                                                        \
        dnnl_status_t s_ = (call);                                                              \
        if (s_ != dnnl_success) {                                                               \
            cpu_dnnl_error(__FILE__, __LINE__, #call, s_);                                      \
            return -1;                                                                          \
        }                                                                                       \
    } while (0)

#define CPU_MAX_ARGS 8
#define CPU_MAX_MEMS 512
#define CPU_MAX_PRIMS 256

/* A tensor: its layout and a memory object over a buffer of that layout. */
typedef struct {
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;
    float *ptr;                 /* NULL for a memory object whose handle is set per call       */
} cpu_tensor_t;

/* One primitive with its arguments bound at create time, run with cpu_op_run. */
typedef struct {
    dnnl_primitive_t prim;      /* NULL: nothing to do                                          */
    int nargs;
    dnnl_exec_arg_t args[CPU_MAX_ARGS];
} cpu_op_t;

typedef struct {
    const nn_layer_t *spec;
    nn_act_t act;               /* the activation applied here: none on the output layer, whose
                                   sigmoid is folded into the loss                              */
    int plain;                  /* y is plain 2D (n, features), else 4D in a oneDNN layout       */
    cpu_tensor_t y, dy;         /* output (after the activation) and its gradient, same layout  */
    cpu_tensor_t x, dx;         /* the input in this layer's preferred layout when it differs
                                   from the previous output's (.mem NULL otherwise)             */
    cpu_op_t x_in, dx_out;      /* previous y -> x; dx -> previous dy                           */
    cpu_op_t fwd, bwd_data, bwd_weights;
    cpu_tensor_t y4, dy4;       /* flatten: y and dy seen as plain NHWC 4D                     */
    int act_in_next;            /* the next layer (a max-pool) applies this layer's ReLU mask
                                   in its backward; see maxpool.c                              */
    /* parameters: kernel and bias views of the internal buffers (handles set at build time)    */
    dnnl_memory_desc_t w_md, b_md, w_user_md;
    size_t w_ioff, b_ioff;      /* offsets (floats) in the internal buffers                    */
    dnnl_memory_t w, b, dw, db;
    cpu_tensor_t w_bwd;         /* the kernel in backward-data's preferred layout, when it differs */
    cpu_op_t w_to_bwd;
    dnnl_memory_t w_user, w_view;   /* model-layout and internal views, handles set per call   */
    cpu_op_t w_import, w_export;
    /* layer_output: one image at a time from the internal layout to plain NHWC                 */
    dnnl_memory_t out_src, out_dst;
    cpu_op_t out_op;
    size_t img_stride;          /* floats between images in y                                   */
} cpu_layer_t;

typedef struct {
    nn_model_t m;               /* copied (spec_text not kept)                                  */
    int max_batch, last_n;
    int winograd;               /* try Winograd convolutions first ("cpu"; "cpu-direct": never) */
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    cpu_tensor_t in;            /* scaled images, plain NHWC, max_batch of them                 */
    cpu_layer_t layers[NN_MAX_LAYERS];
    float *P, *G, *R;           /* parameters, gradients, RMSprop state (internal layout)      */
    size_t n_int;               /* floats in each of P, G, R                                    */
    float *logits, *dlogits;    /* max_batch each                                               */
    nn_staged_t staged;         /* the batch stage() took, and the running sums of the steps    */
    void *scratch;              /* one scratchpad shared by all primitives (run one at a time)  */
    size_t scratch_size;
    dnnl_memory_t scratch_mems[CPU_MAX_PRIMS];
    int n_scratch;
    dnnl_memory_t mems[CPU_MAX_MEMS];  /* every memory object made, destroyed with the context */
    int n_mems;
    dnnl_primitive_t prims[CPU_MAX_PRIMS];
    int n_prims;
} cpu_ctx_t;

/* util.c */
void cpu_dnnl_error(const char *file, int line, const char *call, dnnl_status_t s);
int cpu_md(dnnl_memory_desc_t *md, int ndims, const int64_t *dims, dnnl_format_tag_t tag);
int cpu_tensor(cpu_ctx_t *c, cpu_tensor_t *t, const dnnl_memory_desc_t *md);   /* allocates    */
int cpu_mem(cpu_ctx_t *c, dnnl_memory_t *mem, const dnnl_memory_desc_t *md, void *handle);
int cpu_attr(dnnl_primitive_attr_t *attr, nn_act_t act);   /* user scratchpad (+ activation)   */
int cpu_pd(cpu_ctx_t *c, dnnl_primitive_desc_t *pd, const void *op_desc, nn_act_t act,
           const_dnnl_primitive_desc_t hint, const char *what);
int cpu_op(cpu_ctx_t *c, cpu_op_t *op, const_dnnl_primitive_desc_t pd);
void cpu_op_arg(cpu_op_t *op, int arg, dnnl_memory_t mem);
int cpu_reorder(cpu_ctx_t *c, cpu_op_t *op, dnnl_memory_t src, dnnl_memory_t dst);
int cpu_run(cpu_ctx_t *c, const cpu_op_t *op);
const dnnl_memory_desc_t *cpu_query(const_dnnl_primitive_desc_t pd, dnnl_query_t what);
size_t cpu_md_floats(const dnnl_memory_desc_t *md);
cpu_tensor_t *cpu_prev_y(cpu_ctx_t *c, int i);
cpu_tensor_t *cpu_prev_dy(cpu_ctx_t *c, int i);   /* NULL for the first layer                 */
int cpu_adapt_input(cpu_ctx_t *c, int i, const dnnl_memory_desc_t *want);
int cpu_out_view(cpu_ctx_t *c, int i);                /* layer_output's per-image reorder      */
void cpu_act_backward(nn_act_t act, const float *y, float *dy, size_t count);
typedef int (*cpu_pd3_build_fn)(cpu_ctx_t *c, int i, dnnl_primitive_desc_t pd[3]);
int cpu_build_pd3(cpu_ctx_t *c, int i, cpu_pd3_build_fn build);   /* conv2d, dense: see util.c */
/* conv2d, dense: keep the weight/bias layouts oneDNN chose and allocate the weights, bias, their
 * gradients, the output y and its gradient dy. */
int cpu_param_mems(cpu_ctx_t *c, cpu_layer_t *l, const dnnl_memory_desc_t *w,
                   const dnnl_memory_desc_t *b, const dnnl_memory_desc_t *dst);

/* conv2d.c, maxpool.c, dense.c, reshape.c: build at create time, then run per step */
int cpu_conv2d_build(cpu_ctx_t *c, int i);
int cpu_conv2d_forward(cpu_ctx_t *c, int i);
int cpu_conv2d_backward(cpu_ctx_t *c, int i);
int cpu_maxpool_build(cpu_ctx_t *c, int i);
int cpu_maxpool_forward(cpu_ctx_t *c, int i);
int cpu_maxpool_backward(cpu_ctx_t *c, int i);
int cpu_dense_build(cpu_ctx_t *c, int i);
int cpu_dense_forward(cpu_ctx_t *c, int i);
int cpu_dense_backward(cpu_ctx_t *c, int i);
int cpu_flatten_build(cpu_ctx_t *c, int i);
int cpu_flatten_forward(cpu_ctx_t *c, int i);
int cpu_flatten_backward(cpu_ctx_t *c, int i);
int cpu_dropout_build(cpu_ctx_t *c, int i);
int cpu_dropout_forward(cpu_ctx_t *c, int i, int n, int training, uint64_t seed);
int cpu_dropout_backward(cpu_ctx_t *c, int i, int n, uint64_t seed);

/* elementwise.c: vectorised loops (the reference's formulas in float32) */
void cpu_rmsprop_f32(float *p, const float *g, float *rms, size_t n, float lr, float rho, float eps);
void cpu_relu_mask(const float *y, float *dy, size_t n);

/* params.c: the internal parameter buffers and their exchange with the model layout */
int cpu_params_build(cpu_ctx_t *c);
int cpu_params_import(cpu_ctx_t *c, const float *src, float *dst_int);
int cpu_params_export(cpu_ctx_t *c, const float *src_int, float *dst);
void cpu_rmsprop(cpu_ctx_t *c, double lr);

#endif
