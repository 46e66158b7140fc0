/* conv2d.cu: 2-D convolution (stride 1, 'valid') on cuDNN: x (n, h, w, c) NHWC, kernel OHWI, y (n, oh,
 * ow, f) NHWC. The bias and activation are our own kernel after cuDNN's product (cuda_bias_act), the
 * bias gradient our column sum. Algorithms for forward, backward-data and backward-filter are chosen
 * once, at create time (cuDNN's heuristics, or timed with autotune), among those that are
 * deterministic (so a step gives the same bits every time, captured in a graph or not) and, in fp32,
 * those that do plain FMA arithmetic (no TF32 tensor cores); the workspace is shared.
 *
 * The convolution calls are cuDNN's "legacy" API, deprecated in cuDNN 9 in favour of the graph API
 * but present throughout 9.x; docs/architecture.md says why it is used here. */
#include <string.h>

#include "common/log.h"
#include "nn/cuda/net.h"

void cuda_conv2d_destroy(cuda_layer_t *l) {
    if (l->x_desc) cudnnDestroyTensorDescriptor(l->x_desc);
    if (l->y_desc) cudnnDestroyTensorDescriptor(l->y_desc);
    if (l->w_desc) cudnnDestroyFilterDescriptor(l->w_desc);
    if (l->fwd_desc) cudnnDestroyConvolutionDescriptor(l->fwd_desc);
    if (l->bwd_data_desc) cudnnDestroyConvolutionDescriptor(l->bwd_data_desc);
    if (l->bwd_filter_desc) cudnnDestroyConvolutionDescriptor(l->bwd_filter_desc);
    l->x_desc = l->y_desc = NULL;
    l->w_desc = NULL;
    l->fwd_desc = l->bwd_data_desc = l->bwd_filter_desc = NULL;
}

/* fp32: cuDNN's FMA math (never TF32); tf32: the default math, which lets tensor cores take TF32. */
static cudnnMathType_t wanted_math(const cuda_ctx_t *c) {
    return c->opts.precision == NN_PRECISION_TF32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

static int conv_desc(const cuda_ctx_t *c, cudnnConvolutionDescriptor_t *d) {
    CUDNN_TRY(cudnnCreateConvolutionDescriptor(d));
    CUDNN_TRY(cudnnSetConvolution2dDescriptor(*d, 0, 0, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_TRY(cudnnSetConvolutionMathType(*d, wanted_math(c)));
    return 0;
}

int cuda_conv2d_build(cuda_ctx_t *c, int i) {
    cuda_layer_t *l = &c->layers[i];
    const nn_layer_t *s = l->spec;
    CHECK(s->kernel <= s->in_h && s->kernel <= s->in_w, "cuda: layer %s: kernel larger than its input", s->name);
    CUDNN_TRY(cudnnCreateTensorDescriptor(&l->x_desc));
    CUDNN_TRY(cudnnSetTensor4dDescriptor(l->x_desc, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, c->max_batch, s->in_c,
                                         s->in_h, s->in_w));
    CUDNN_TRY(cudnnCreateTensorDescriptor(&l->y_desc));
    CUDNN_TRY(cudnnSetTensor4dDescriptor(l->y_desc, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, c->max_batch, s->filters,
                                         s->out_h, s->out_w));
    CUDNN_TRY(cudnnCreateFilterDescriptor(&l->w_desc));
    CUDNN_TRY(cudnnSetFilter4dDescriptor(l->w_desc, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, s->filters, s->in_c,
                                         s->kernel, s->kernel));
    TRY(conv_desc(c, &l->fwd_desc));
    TRY(conv_desc(c, &l->bwd_data_desc));
    TRY(conv_desc(c, &l->bwd_filter_desc));
    int n, ch, h, w;
    CUDNN_TRY(cudnnGetConvolution2dForwardOutputDim(l->fwd_desc, l->x_desc, l->w_desc, &n, &ch, &h, &w));
    CHECK(n == c->max_batch && ch == s->filters && h == s->out_h && w == s->out_w,
          "cuda: layer %s: cuDNN's output shape (%d, %d, %d, %d) is not the model's", s->name, n, h, w, ch);
    return 0;
}

/* What a math type allows: fp32 no tensor cores at all; tf32 tensor cores on TF32-rounded inputs, but
 * never a conversion to narrower types (..._ALLOW_CONVERSION). */
static int math_ok(const cuda_ctx_t *c, cudnnMathType_t m) {
    if (m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return 0;
    return c->opts.precision == NN_PRECISION_TF32 || m != CUDNN_TENSOR_OP_MATH;
}

/* Of cuDNN's ranked candidates, the first that succeeded, fits the workspace, has an allowed math
 * type and is deterministic; with none deterministic, the first other one, with a warning (the steps
 * then do not repeat bit for bit). Every candidate is logged at debug level. */
template <typename Perf>
static int pick(const cuda_ctx_t *c, const Perf *perf, int count, size_t ws_cap, const char *what,
                const nn_layer_t *s, Perf *chosen) {
    for (int k = 0; k < count; k++)
        LOG_D("cuda: %s %s candidate %d: algorithm %d, status %d, %.3f ms, %.1f MiB, %s, math type %d", s->name, what,
              k, (int)perf[k].algo, (int)perf[k].status, perf[k].time, perf[k].memory / 1048576.0,
              perf[k].determinism == CUDNN_DETERMINISTIC ? "deterministic" : "not deterministic",
              (int)perf[k].mathType);
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < count; k++) {
            const Perf *p = &perf[k];
            if (p->status != CUDNN_STATUS_SUCCESS || p->memory > ws_cap || !math_ok(c, p->mathType)) continue;
            if (pass == 0 && p->determinism != CUDNN_DETERMINISTIC) continue;
            if (pass == 1)
                LOG_W("cuda: layer %s: no deterministic %s algorithm; steps will not repeat bit for bit", s->name,
                      what);
            *chosen = *p;
            return 0;
        }
    err_set("cuda: layer %s: cuDNN offers no usable %s algorithm among %d (--log-level debug lists them)", s->name,
            what, count);
    return -1;
}

/* The chosen algorithm's math type goes on its descriptor in tf32; fp32 keeps FMA_MATH there, which is
 * what restricts the execution to plain FMA arithmetic. */
static int set_math(const cuda_ctx_t *c, cudnnConvolutionDescriptor_t d, cudnnMathType_t chosen) {
    if (c->opts.precision == NN_PRECISION_TF32) CUDNN_TRY(cudnnSetConvolutionMathType(d, chosen));
    return 0;
}

/* Algorithms of one layer. Without autotune they are cuDNN's heuristics' ranking (cudnnGet*_v7): the
 * same choice in every process, so a resumed run repeats an uninterrupted one bit for bit. With
 * autotune cuDNN times every algorithm on the real buffers (cudnnFind*Ex, ws of ws_cap bytes as
 * scratch) and the fastest qualifying one wins; two processes may then choose differently when two
 * algorithms time within noise of each other. *ws_need: the workspace the chosen ones need. */
int cuda_conv2d_choose(cuda_ctx_t *c, int i, const float *x, void *ws, size_t ws_cap, size_t *ws_need) {
    cuda_layer_t *l = &c->layers[i];
    const nn_layer_t *s = l->spec;
    float *w = c->P + s->w_off, *dw = c->G + s->w_off;
    float *dy = c->grad_a, *dx = c->grad_b;   /* scratch at create time: both are large enough */
    int count = 0, tune = c->opts.autotune;
    size_t need = 0, bytes = 0;

    cudnnConvolutionFwdAlgoPerf_t fwd[CUDNN_CONVOLUTION_FWD_ALGO_COUNT], f;
    if (tune)
        CUDNN_TRY(cudnnFindConvolutionForwardAlgorithmEx(c->dnn, l->x_desc, x, l->w_desc, w, l->fwd_desc, l->y_desc,
                                                         l->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, fwd, ws,
                                                         ws_cap));
    else
        CUDNN_TRY(cudnnGetConvolutionForwardAlgorithm_v7(c->dnn, l->x_desc, l->w_desc, l->fwd_desc, l->y_desc,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, fwd));
    TRY(pick(c, fwd, count, ws_cap, "forward", s, &f));
    l->fwd_algo = f.algo;
    TRY(set_math(c, l->fwd_desc, f.mathType));
    CUDNN_TRY(cudnnGetConvolutionForwardWorkspaceSize(c->dnn, l->x_desc, l->w_desc, l->fwd_desc, l->y_desc, f.algo,
                                                      &bytes));
    need = bytes;

    cudnnConvolutionBwdFilterAlgoPerf_t bf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT], g;
    if (tune)
        CUDNN_TRY(cudnnFindConvolutionBackwardFilterAlgorithmEx(c->dnn, l->x_desc, x, l->y_desc, dy,
                                                                l->bwd_filter_desc, l->w_desc, dw,
                                                                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, bf,
                                                                ws, ws_cap));
    else
        CUDNN_TRY(cudnnGetConvolutionBackwardFilterAlgorithm_v7(c->dnn, l->x_desc, l->y_desc, l->bwd_filter_desc,
                                                                l->w_desc, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                                                &count, bf));
    TRY(pick(c, bf, count, ws_cap, "backward-filter", s, &g));
    l->bwd_filter_algo = g.algo;
    TRY(set_math(c, l->bwd_filter_desc, g.mathType));
    CUDNN_TRY(cudnnGetConvolutionBackwardFilterWorkspaceSize(c->dnn, l->x_desc, l->y_desc, l->bwd_filter_desc,
                                                             l->w_desc, g.algo, &bytes));
    if (bytes > need) need = bytes;

    int d_algo = -1;
    if (i > 0) {   /* the first layer's input needs no gradient */
        cudnnConvolutionBwdDataAlgoPerf_t bd[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT], d;
        if (tune)
            CUDNN_TRY(cudnnFindConvolutionBackwardDataAlgorithmEx(c->dnn, l->w_desc, w, l->y_desc, dy,
                                                                  l->bwd_data_desc, l->x_desc, dx,
                                                                  CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, bd,
                                                                  ws, ws_cap));
        else
            CUDNN_TRY(cudnnGetConvolutionBackwardDataAlgorithm_v7(c->dnn, l->w_desc, l->y_desc, l->bwd_data_desc,
                                                                  l->x_desc, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                                  &count, bd));
        TRY(pick(c, bd, count, ws_cap, "backward-data", s, &d));
        l->bwd_data_algo = d.algo;
        d_algo = (int)d.algo;
        TRY(set_math(c, l->bwd_data_desc, d.mathType));
        CUDNN_TRY(cudnnGetConvolutionBackwardDataWorkspaceSize(c->dnn, l->w_desc, l->y_desc, l->bwd_data_desc,
                                                               l->x_desc, d.algo, &bytes));
        if (bytes > need) need = bytes;
    }
    LOG_I("cuda: %s: algorithms forward %d, backward-data %d, backward-filter %d (%s), workspace %.1f MiB", s->name,
          (int)f.algo, d_algo, (int)g.algo, tune ? "timed" : "cuDNN's heuristics", need / 1048576.0);
    *ws_need = need;
    return 0;
}

/* y = act(conv(x, w) + b) */
int cuda_conv2d_forward(cuda_ctx_t *c, int i, const float *x) {
    cuda_layer_t *l = &c->layers[i];
    const nn_layer_t *s = l->spec;
    const float one = 1.0f, zero = 0.0f;
    CUDNN_TRY(cudnnConvolutionForward(c->dnn, &one, l->x_desc, x, l->w_desc, c->P + s->w_off, l->fwd_desc,
                                      l->fwd_algo, c->ws, c->ws_size, &zero, l->y_desc, l->y));
    TRY(cuda_bias_act(l->y, c->P + s->b_off, l->y_count, s->filters, l->act, c->compute));
    return 0;
}

/* dy (n, oh, ow, f), the gradient of the pre-activation -> dw, db into G; dx (may be NULL) */
int cuda_conv2d_backward(cuda_ctx_t *c, int i, const float *x, const float *dy, float *dx) {
    cuda_layer_t *l = &c->layers[i];
    const nn_layer_t *s = l->spec;
    const float one = 1.0f, zero = 0.0f;
    TRY(cuda_colsum(dy, l->y_count / s->filters, s->filters, c->partial, c->G + s->b_off, c->compute));
    CUDNN_TRY(cudnnConvolutionBackwardFilter(c->dnn, &one, l->x_desc, x, l->y_desc, dy, l->bwd_filter_desc,
                                             l->bwd_filter_algo, c->ws, c->ws_size, &zero, l->w_desc,
                                             c->G + s->w_off));
    if (dx)
        CUDNN_TRY(cudnnConvolutionBackwardData(c->dnn, &one, l->w_desc, c->P + s->w_off, l->y_desc, dy,
                                               l->bwd_data_desc, l->bwd_data_algo, c->ws, c->ws_size, &zero,
                                               l->x_desc, dx));
    return 0;
}
