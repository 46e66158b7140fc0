/* device.cu: finding the GPU and moving memory; every CUDA and cuDNN call is checked. */
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stdio.h>

#include "common/check.h"
#include "nn/cuda/cuda.h"

#define CHECK_CUDA(call)                                                                  \
    do {                                                                                  \
        cudaError_t e_ = (call);                                                          \
        if (e_ != cudaSuccess) {                                                          \
            err_set("%s:%d: %s: %s", __FILE__, __LINE__, #call, cudaGetErrorString(e_));  \
            return -1;                                                                    \
        }                                                                                 \
    } while (0)

extern "C" int cuda_probe(char *desc, size_t cap) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        snprintf(desc, cap, "no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return 1;
    }
    cudaDeviceProp p;
    CHECK_CUDA(cudaGetDeviceProperties(&p, 0));
    size_t v = cudnnGetVersion();
    snprintf(desc, cap, "%s, %.1f GiB, sm_%d%d, cuDNN %zu.%zu.%zu", p.name,
             (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), p.major, p.minor, v / 10000,
             (v / 100) % 100, v % 100);
    return 0;
}

extern "C" int cuda_alloc(void **ptr, size_t bytes) {
    CHECK_CUDA(cudaMalloc(ptr, bytes));
    return 0;
}

extern "C" int cuda_free(void *ptr) {
    CHECK_CUDA(cudaFree(ptr));
    return 0;
}

extern "C" int cuda_copy_to_device(void *dst, const void *src, size_t bytes) {
    CHECK_CUDA(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
    return 0;
}

extern "C" int cuda_copy_to_host(void *dst, const void *src, size_t bytes) {
    CHECK_CUDA(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
    return 0;
}
