/* common.h: what every file of the CUDA backend shares (internal to nn/cuda, CUDA C++): the checks
 * around CUDA, cuDNN and cuBLAS calls and the launch geometry of the element-wise kernels.
 *
 * A failed call records one sentence naming the call and the library's own error text
 * ("cudaMalloc: out of memory"), logs its file:line at debug level, and returns -1. */
#ifndef PAWPIPE_NN_CUDA_COMMON_H
#define PAWPIPE_NN_CUDA_COMMON_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "common/check.h"

/* Records "<call name>: <text>" (the call's name is its text up to the first parenthesis) and the
 * statement with file:line in the error trail (common/check.h). */
void cuda_fail(const char *call, const char *text, const char *file, int line);
const char *cublas_status_text(cublasStatus_t s);

#define CUDA_TRY(call)                                                                  \
    do {                                                                                \
        cudaError_t e_ = (call);                                                        \
        if (e_ != cudaSuccess) {                                                        \
            cuda_fail(#call, cudaGetErrorString(e_), __FILE__, __LINE__);               \
            return -1;                                                                  \
        }                                                                               \
    } while (0)

#define CUDNN_TRY(call)                                                                 \
    do {                                                                                \
        cudnnStatus_t s_ = (call);                                                      \
        if (s_ != CUDNN_STATUS_SUCCESS) {                                               \
            cuda_fail(#call, cudnnGetErrorString(s_), __FILE__, __LINE__);              \
            return -1;                                                                  \
        }                                                                               \
    } while (0)

#define CUBLAS_TRY(call)                                                                \
    do {                                                                                \
        cublasStatus_t s_ = (call);                                                     \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                              \
            cuda_fail(#call, cublas_status_text(s_), __FILE__, __LINE__);               \
            return -1;                                                                  \
        }                                                                               \
    } while (0)

/* After a kernel launch (kernel_name: a string): a bad configuration, or an earlier asynchronous fault. */
#define LAUNCH_TRY(kernel_name)                                                         \
    do {                                                                                \
        cudaError_t e_ = cudaGetLastError();                                            \
        if (e_ != cudaSuccess) {                                                        \
            cuda_fail(kernel_name, cudaGetErrorString(e_), __FILE__, __LINE__);         \
            return -1;                                                                  \
        }                                                                               \
    } while (0)

/* Element-wise kernels: grid-stride loops of 256 threads a block, at most 4096 blocks. */
#define CUDA_THREADS 256
static inline unsigned cuda_blocks(size_t count) {
    size_t b = (count + CUDA_THREADS - 1) / CUDA_THREADS;
    return (unsigned)(b < 1 ? 1 : b > 4096 ? 4096 : b);
}

/* The index of this thread in a grid-stride loop, and the stride. */
#define GRID_LOOP(i, count)                                                                      \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (count);                  \
         i += (size_t)gridDim.x * blockDim.x)

#endif
