/* device.cu: finding the GPU, the error sentences of CUDA, cuDNN and cuBLAS calls, and device memory
 * helpers for tests. */
#include <stdio.h>
#include <string.h>

#include "nn/cuda/common.h"
#include "nn/cuda/cuda.h"

void cuda_fail(const char *call, const char *text, const char *file, int line) {
    const char *paren = strchr(call, '(');
    int len = paren ? (int)(paren - call) : (int)strlen(call);
    err_set("%.*s: %s", len, call, text);
    err_where(file, line, call);   /* the whole statement, for --log-level debug */
}

const char *cublas_status_text(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "cuBLAS not initialised";
    case CUBLAS_STATUS_ALLOC_FAILED: return "cuBLAS could not allocate memory";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "not supported by this GPU";
    case CUBLAS_STATUS_MAPPING_ERROR: return "mapping error";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "internal cuBLAS error";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "license error";
    default: return "unknown cuBLAS status";
    }
}

extern "C" int cuda_probe(char *desc, size_t cap) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaErrorInsufficientDriver) {   /* what the runtime says when there is no driver at all */
        snprintf(desc, cap, "no NVIDIA driver is loaded, or it is older than this build's CUDA runtime (%s)",
                 cudaGetErrorString(e));
        cudaGetLastError();   /* clear it, so that later calls start clean */
        return 1;
    }
    if (e != cudaSuccess || n == 0) {
        snprintf(desc, cap, "no CUDA GPU (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        cudaGetLastError();
        return 1;
    }
    cudaDeviceProp p;
    CUDA_TRY(cudaGetDeviceProperties(&p, 0));
    if (p.major < 9) {
        snprintf(desc, cap, "%s has compute capability %d.%d; this build has code for 9.0 (Hopper) and newer",
                 p.name, p.major, p.minor);
        return 1;
    }
    size_t v = cudnnGetVersion();
    snprintf(desc, cap, "%s, %.1f GiB, sm_%d%d, %d SMs, cuDNN %zu.%zu.%zu", p.name,
             (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), p.major, p.minor, p.multiProcessorCount,
             v / 10000, (v / 100) % 100, v % 100);
    return 0;
}

extern "C" int cuda_alloc(void **ptr, size_t bytes) {
    CUDA_TRY(cudaMalloc(ptr, bytes));
    return 0;
}

extern "C" int cuda_free(void *ptr) {
    CUDA_TRY(cudaFree(ptr));
    return 0;
}

extern "C" int cuda_copy_to_device(void *dst, const void *src, size_t bytes) {
    CUDA_TRY(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
    return 0;
}

extern "C" int cuda_copy_to_host(void *dst, const void *src, size_t bytes) {
    CUDA_TRY(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
    return 0;
}

extern "C" int cuda_sync(void) {
    CUDA_TRY(cudaDeviceSynchronize());
    return 0;
}
