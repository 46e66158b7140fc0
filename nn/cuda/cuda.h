/* cuda.h: the C interface of the CUDA side of nn/ (compiled where nvcc, cuBLAS and cuDNN are found):
 * finding the device, device memory for tests, and the launchers of the backend's own kernels, which
 * the backend (nn/cuda/net.cu) strings together and tests/test_cuda.c checks one by one against the
 * reference kernels. Kernels are the loops over the element functions of nn/ops.h.
 *
 * Every launcher enqueues on `stream` (0: the legacy default stream), checks the launch, does not
 * wait, and returns 0 / -1 + err_msg(). Pointers are device pointers. */
#ifndef PAWPIPE_NN_CUDA_H
#define PAWPIPE_NN_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Describe device 0 into desc ("NVIDIA H200, 139.8 GiB, sm_90, 132 SMs, cuDNN 9.19.0"). Returns 0 when
 * a usable device exists, 1 when there is none or it cannot run this build (desc says why: no driver,
 * no GPU, compute capability below 9.0), -1 on an error. */
int cuda_probe(char *desc, size_t cap);

/* Device memory helpers for tests: 0 / -1 with err_msg(). cuda_sync waits for the whole device. */
int cuda_alloc(void **ptr, size_t bytes);
int cuda_free(void *ptr);
int cuda_copy_to_device(void *dst, const void *src, size_t bytes);
int cuda_copy_to_host(void *dst, const void *src, size_t bytes);
int cuda_sync(void);

/* The step header every training kernel reads from device memory, so that a captured step serves
 * every batch: images in the batch, the dropout seed. It opens each staged batch's device buffer. */
typedef struct {
    int32_t n;
    int32_t pad;
    uint64_t seed;
} cuda_hdr_t;

/* Loss and accuracy kept on the device: the last step's, and sums since the last reset. */
typedef struct {
    double loss, accuracy;                       /* of the last step                        */
    double loss_sum, correct, images, steps;     /* nn_sums_t's fields, in its order        */
} cuda_stats_t;

/* uint8 -> float in [0, 1] (ref_scale_u8). */
int cuda_scale_u8(const uint8_t *src, float *dst, size_t count, cudaStream_t stream);

/* y (rows, f) in place: y = act(y + b[col]) (nn/ops.h op_bias_act; act: OP_ACT_*). */
int cuda_bias_act(float *y, const float *b, size_t count, int f, int act, cudaStream_t stream);

/* dy in place: the gradient through activation act from its output y (op_act_grad). */
int cuda_act_grad(const float *y, float *dy, size_t count, int act, cudaStream_t stream);

/* Inverted dropout, y = x * mask * scale with mask (hdr->seed, layer_stream); y may be x. Without
 * training, y = x. (ref_dropout_forward; its backward is the same call on the gradient.) */
int cuda_dropout(const float *x, float *y, size_t count, double rate, const cuda_hdr_t *hdr,
                 uint64_t layer_stream, int training, cudaStream_t stream);

/* Max-pool p x p, stride p over x (n, h, w, c) -> y (n, h/p, w/p, c); backward as a gather into dx
 * (n, h, w, c), with the previous layer's ReLU backward folded in when relu_mask is set. */
int cuda_maxpool_fwd(const float *x, float *y, int n, int h, int w, int c, int p, cudaStream_t stream);
int cuda_maxpool_bwd(const float *x, const float *y, const float *dy, float *dx, int n, int h, int w, int c,
                     int p, int relu_mask, cudaStream_t stream);

/* Column sums of a (rows, f) matrix into out (f), deterministic; partial holds
 * cuda_colsum_partials(rows, f) floats. */
size_t cuda_colsum_partials(size_t rows, int f);
int cuda_colsum(const float *a, size_t rows, int f, float *partial, float *out, cudaStream_t stream);

/* Sigmoid + binary cross-entropy of the first hdr->n of max_batch logits against labels: dlogits
 * (max_batch; 0 past n), the step's loss and accuracy into stats and, with sum, added to its running
 * sums. */
int cuda_bce(const float *logits, const float *labels, const cuda_hdr_t *hdr, int max_batch, int sum,
             float *dlogits, cuda_stats_t *stats, cudaStream_t stream);

/* RMSprop over count parameters with the learning rate read from *lr (device memory, so a captured
 * step follows a change of rate). */
int cuda_rmsprop(float *p, const float *g, float *rms, size_t count, const double *lr, double rho, double eps,
                 cudaStream_t stream);

/* *dst = value on the stream (a scalar for the kernels above, set in stream order). */
int cuda_set_double(double *dst, double value, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
