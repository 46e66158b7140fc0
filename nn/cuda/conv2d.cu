/* conv2d.cu: 2-D convolution (stride 1, 'valid') on cuDNN: x (n, h, w, c) NHWC, kernel OHWI, y (n, oh,
 * ow, f) NHWC. The bias and activation are our own kernel after cuDNN's product (cuda_bias_act), the
 * bias gradient our column sum. Algorithms for forward, backward-data and backward-filter are chosen
 * once, at create time, by timing them on the real buffers (cudnnFind*AlgorithmEx), among those that
 * are deterministic (so a step gives the same bits every time, captured in a graph or not) and, in
 * fp32, those that do plain FMA arithmetic (no TF32 tensor cores); the workspace is shared.
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

int cuda_conv2d_build(cuda_ctx_t *c, int i, const float *x) {
    (void)x;
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

/* Of cuDNN's timed candidates (fastest first), the first that succeeded, fits the workspace, is
 * deterministic and, in fp32, uses FMA math. A list with none that is deterministic falls back to the
 * fastest that fits, with a warning (the steps then do not repeat bit for bit). */
template <typename Perf>
static int pick(const cuda_ctx_t *c, const Perf *perf, int count, size_t ws_cap, const char *what,
                const nn_layer_t *s, Perf *chosen) {
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < count; k++) {
            const Perf *p = &perf[k];
            if (p->status != CUDNN_STATUS_SUCCESS || p->memory > ws_cap) continue;
            if (c->opts.precision == NN_PRECISION_FP32 && p->mathType != CUDNN_FMA_MATH) continue;
            if (pass == 0 && p->determinism != CUDNN_DETERMINISTIC) continue;
            if (pass == 1)
                LOG_W("cuda: layer %s: no deterministic %s algorithm; steps will not repeat bit for bit", s->name,
                      what);
            *chosen = *p;
            return 0;
        }
    err_set("cuda: layer %s: cuDNN offers no usable %s algorithm among %d", s->name, what, count);
    return -1;
}

int cuda_conv2d_choose(cuda_ctx_t *c, int i, const float *x, void *ws, size_t ws_cap, size_t *ws_need) {
    cuda_layer_t *l = &c->layers[i];
    const nn_layer_t *s = l->spec;
    float *w = c->P + s->w_off, *dw = c->G + s->w_off;
    float *dy = c->grad_a, *dx = c->grad_b;   /* scratch at create time: both are large enough */
    int count = 0;

    cudnnConvolutionFwdAlgoPerf_t fwd[CUDNN_CONVOLUTION_FWD_ALGO_COUNT], f;
    CUDNN_TRY(cudnnFindConvolutionForwardAlgorithmEx(c->dnn, l->x_desc, x, l->w_desc, w, l->fwd_desc, l->y_desc,
                                                     l->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, fwd, ws, ws_cap));
    TRY(pick(c, fwd, count, ws_cap, "forward", s, &f));
    l->fwd_algo = f.algo;
    CUDNN_TRY(cudnnSetConvolutionMathType(l->fwd_desc, f.mathType));

    cudnnConvolutionBwdFilterAlgoPerf_t bf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT], g;
    CUDNN_TRY(cudnnFindConvolutionBackwardFilterAlgorithmEx(c->dnn, l->x_desc, x, l->y_desc, dy, l->bwd_filter_desc,
                                                            l->w_desc, dw, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                                            &count, bf, ws, ws_cap));
    TRY(pick(c, bf, count, ws_cap, "backward-filter", s, &g));
    l->bwd_filter_algo = g.algo;
    CUDNN_TRY(cudnnSetConvolutionMathType(l->bwd_filter_desc, g.mathType));
    size_t need = f.memory > g.memory ? f.memory : g.memory;

    if (i > 0) {   /* the first layer's input needs no gradient */
        cudnnConvolutionBwdDataAlgoPerf_t bd[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT], d;
        CUDNN_TRY(cudnnFindConvolutionBackwardDataAlgorithmEx(c->dnn, l->w_desc, w, l->y_desc, dy, l->bwd_data_desc,
                                                              l->x_desc, dx, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                              &count, bd, ws, ws_cap));
        TRY(pick(c, bd, count, ws_cap, "backward-data", s, &d));
        l->bwd_data_algo = d.algo;
        CUDNN_TRY(cudnnSetConvolutionMathType(l->bwd_data_desc, d.mathType));
        if (d.memory > need) need = d.memory;
        LOG_I("cuda: %s: algorithms forward %d (%.3f ms), backward-data %d (%.3f ms), backward-filter %d (%.3f ms), "
              "workspace %.1f MiB", s->name, (int)f.algo, f.time, (int)d.algo, d.time, (int)g.algo, g.time,
              need / 1048576.0);
    } else {
        LOG_I("cuda: %s: algorithms forward %d (%.3f ms), backward-filter %d (%.3f ms), workspace %.1f MiB", s->name,
              (int)f.algo, f.time, (int)g.algo, g.time, need / 1048576.0);
    }
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
