/* backends.h: the backend tables the registry (nn/backend.c) lists; internal to nn/. */
#ifndef PAWPIPE_BACKENDS_H
#define PAWPIPE_BACKENDS_H

#include "nn/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const nn_backend_t nn_backend_ref;    /* nn/ref/backend.c: plain-C reference kernels */
#ifdef PAWPIPE_HAVE_DNNL
extern const nn_backend_t nn_backend_cpu;    /* nn/cpu/: oneDNN, Winograd convolutions where it can */
extern const nn_backend_t nn_backend_cpu_direct;   /* nn/cpu/: oneDNN, direct convolutions only */
#endif
#ifdef PAWPIPE_HAVE_CUDA
extern const nn_backend_t nn_backend_cuda;   /* nn/cuda/: cuDNN, cuBLAS and own kernels      */
#endif

#ifdef __cplusplus
}
#endif

#endif
