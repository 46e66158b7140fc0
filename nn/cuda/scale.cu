/* scale.cu: uint8 images -> float in [0, 1] on the GPU, the twin of nn/ref/scale.c. */
#include <cuda_runtime.h>

#include "common/check.h"
#include "nn/cuda/cuda.h"

/* src, dst: count elements (any layout; elementwise). */
__global__ static void scale_u8_kernel(const uint8_t *src, float *dst, size_t count) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (; i < count; i += stride) dst[i] = (float)src[i] * (1.0f / 255.0f);
}

extern "C" int cuda_scale_u8(const uint8_t *src, float *dst, size_t count) {
    if (count == 0) return 0;
    int threads = 256;
    size_t blocks = (count + threads - 1) / threads;
    if (blocks > 65535) blocks = 65535;
    scale_u8_kernel<<<(unsigned)blocks, threads>>>(src, dst, count);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) e = cudaDeviceSynchronize();
    if (e != cudaSuccess) {
        err_set("%s:%d: scale_u8_kernel: %s", __FILE__, __LINE__, cudaGetErrorString(e));
        return -1;
    }
    return 0;
}
