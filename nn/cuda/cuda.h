/* cuda.h: the CUDA side of nn/ (compiled only when nvcc and cuDNN are found). Mirrors nn/ref file by
 * file as the backend grows: cuda/scale.cu is ref/scale.c on the GPU. Host-callable, C linkage. */
#ifndef PAWPIPE_NN_CUDA_H
#define PAWPIPE_NN_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Describe device 0 into desc ("NVIDIA H200, 139.8 GiB, sm_90, cuDNN 9.x"). Returns 0 when a usable
 * device exists, 1 when there is none (no driver or no GPU: desc says which), -1 on an error. */
int cuda_probe(char *desc, size_t cap);

/* uint8 -> float in [0, 1] on the device (ref_scale_u8's twin). Pointers are device pointers. */
int cuda_scale_u8(const uint8_t *src, float *dst, size_t count);

/* Minimal device memory helpers for tests: 0 / -1 with err_msg(). */
int cuda_alloc(void **ptr, size_t bytes);
int cuda_free(void *ptr);
int cuda_copy_to_device(void *dst, const void *src, size_t bytes);
int cuda_copy_to_host(void *dst, const void *src, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
