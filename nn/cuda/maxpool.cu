/* maxpool.cu: max-pooling, p x p windows with stride p, NHWC, one thread per output element forward
 * and one per input element backward (a gather: no atomics, the same result every run); the
 * backward takes the previous layer's ReLU mask along when asked (nn/ops.h op_maxpool_*). */
#include "nn/cuda/common.h"
#include "nn/cuda/cuda.h"
#include "nn/ops.h"

/* x (n, h, w, c) -> y (n, h/p, w/p, c) */
__global__ static void maxpool_fwd_kernel(const float *x, float *y, int h, int w, int c, int p, size_t count) {
    GRID_LOOP(i, count) op_maxpool_fwd(x, y, h, w, c, p, i);
}

/* x, dx (n, h, w, c); y, dy (n, h/p, w/p, c) */
__global__ static void maxpool_bwd_kernel(const float *x, const float *y, const float *dy, float *dx, int h, int w,
                                          int c, int p, int relu_mask, size_t count) {
    GRID_LOOP(i, count) op_maxpool_bwd(x, y, dy, dx, h, w, c, p, relu_mask, i);
}

extern "C" int cuda_maxpool_fwd(const float *x, float *y, int n, int h, int w, int c, int p, cudaStream_t stream) {
    size_t count = (size_t)n * (h / p) * (w / p) * c;
    if (count == 0) return 0;
    maxpool_fwd_kernel<<<cuda_blocks(count), CUDA_THREADS, 0, stream>>>(x, y, h, w, c, p, count);
    LAUNCH_TRY("maxpool_fwd_kernel");
    return 0;
}

extern "C" int cuda_maxpool_bwd(const float *x, const float *y, const float *dy, float *dx, int n, int h, int w,
                                int c, int p, int relu_mask, cudaStream_t stream) {
    size_t count = (size_t)n * h * w * c;
    if (count == 0) return 0;
    maxpool_bwd_kernel<<<cuda_blocks(count), CUDA_THREADS, 0, stream>>>(x, y, dy, dx, h, w, c, p, relu_mask, count);
    LAUNCH_TRY("maxpool_bwd_kernel");
    return 0;
}
