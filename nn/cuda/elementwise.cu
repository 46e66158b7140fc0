/* elementwise.cu: the backend's own element-wise kernels: input scaling, bias + activation, the
 * activation gradient, dropout, RMSprop and the column sums of bias gradients. Each kernel is a
 * grid-stride loop over an element function of nn/ops.h (tested on the CPU by tests/test_ops.c). */
#include "nn/cuda/common.h"
#include "nn/cuda/cuda.h"
#include "nn/ops.h"

/* src, dst (count): dst = src / 255 */
__global__ static void scale_u8_kernel(const uint8_t *src, float *dst, size_t count) {
    GRID_LOOP(i, count) dst[i] = op_scale_u8(src[i]);
}

extern "C" int cuda_scale_u8(const uint8_t *src, float *dst, size_t count, cudaStream_t stream) {
    if (count == 0) return 0;
    scale_u8_kernel<<<cuda_blocks(count), CUDA_THREADS, 0, stream>>>(src, dst, count);
    LAUNCH_TRY("scale_u8_kernel");
    return 0;
}

/* y (count = rows * f) in place, b (f): y = act(y + b[i % f]) */
__global__ static void bias_act_kernel(float *y, const float *b, size_t count, int f, int act) {
    GRID_LOOP(i, count) op_bias_act(y, b, f, act, i);
}

extern "C" int cuda_bias_act(float *y, const float *b, size_t count, int f, int act, cudaStream_t stream) {
    if (count == 0) return 0;
    bias_act_kernel<<<cuda_blocks(count), CUDA_THREADS, 0, stream>>>(y, b, count, f, act);
    LAUNCH_TRY("bias_act_kernel");
    return 0;
}

/* y, dy (count): dy = the gradient through act at output y */
__global__ static void act_grad_kernel(const float *y, float *dy, size_t count, int act) {
    GRID_LOOP(i, count) dy[i] = op_act_grad(act, y[i], dy[i]);
}

extern "C" int cuda_act_grad(const float *y, float *dy, size_t count, int act, cudaStream_t stream) {
    if (count == 0 || act == OP_ACT_NONE) return 0;
    act_grad_kernel<<<cuda_blocks(count), CUDA_THREADS, 0, stream>>>(y, dy, count, act);
    LAUNCH_TRY("act_grad_kernel");
    return 0;
}

/* x, y (count), seed from hdr: y = x * mask * scale (training), else y = x */
__global__ static void dropout_kernel(const float *x, float *y, size_t count, double rate, float scale,
                                      const cuda_hdr_t *hdr, uint64_t stream_id, int training) {
    uint64_t seed = hdr->seed;
    GRID_LOOP(i, count) y[i] = training ? op_dropout(seed, stream_id, i, rate, scale, x[i]) : x[i];
}

extern "C" int cuda_dropout(const float *x, float *y, size_t count, double rate, const cuda_hdr_t *hdr,
                            uint64_t layer_stream, int training, cudaStream_t stream) {
    if (count == 0 || (!training && x == y)) return 0;
    dropout_kernel<<<cuda_blocks(count), CUDA_THREADS, 0, stream>>>(x, y, count, rate, op_dropout_scale(rate), hdr,
                                                                  layer_stream, training);
    LAUNCH_TRY("dropout_kernel");
    return 0;
}

/* p, g, rms (count): one RMSprop step with learning rate *lr */
__global__ static void rmsprop_kernel(float *p, const float *g, float *rms, size_t count, const double *lr,
                                      double rho, double eps) {
    double rate = *lr;
    GRID_LOOP(i, count) op_rmsprop(p, g, rms, i, rate, rho, eps);
}

extern "C" int cuda_rmsprop(float *p, const float *g, float *rms, size_t count, const double *lr, double rho,
                            double eps, cudaStream_t stream) {
    if (count == 0) return 0;
    rmsprop_kernel<<<cuda_blocks(count), CUDA_THREADS, 0, stream>>>(p, g, rms, count, lr, rho, eps);
    LAUNCH_TRY("rmsprop_kernel");
    return 0;
}

__global__ static void set_double_kernel(double *dst, double value) { *dst = value; }

extern "C" int cuda_set_double(double *dst, double value, cudaStream_t stream) {
    set_double_kernel<<<1, 1, 0, stream>>>(dst, value);
    LAUNCH_TRY("set_double_kernel");
    return 0;
}

/* Column sums, a (rows, f) -> out (f): partial sums of COLSUM_CHUNK rows each, then their sum. */
#define COLSUM_CHUNK 256

static size_t colsum_chunks(size_t rows) { return (rows + COLSUM_CHUNK - 1) / COLSUM_CHUNK; }

extern "C" size_t cuda_colsum_partials(size_t rows, int f) { return colsum_chunks(rows) * (size_t)f; }

/* partial (chunks, f): one thread per (chunk, column) */
__global__ static void colsum_partial_kernel(const float *a, size_t rows, int f, float *partial, size_t count) {
    GRID_LOOP(j, count) op_colsum_partial(a, rows, f, COLSUM_CHUNK, partial, j);
}

/* out (f): one thread per column */
__global__ static void colsum_total_kernel(const float *partial, int chunks, int f, float *out) {
    GRID_LOOP(col, (size_t)f) op_colsum_total(partial, chunks, f, out, (int)col);
}

extern "C" int cuda_colsum(const float *a, size_t rows, int f, float *partial, float *out, cudaStream_t stream) {
    size_t count = cuda_colsum_partials(rows, f);
    if (count == 0) return 0;
    colsum_partial_kernel<<<cuda_blocks(count), CUDA_THREADS, 0, stream>>>(a, rows, f, partial, count);
    LAUNCH_TRY("colsum_partial_kernel");
    colsum_total_kernel<<<cuda_blocks((size_t)f), CUDA_THREADS, 0, stream>>>(partial, (int)colsum_chunks(rows), f, out);
    LAUNCH_TRY("colsum_total_kernel");
    return 0;
}
