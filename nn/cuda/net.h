/* net.h: the cuda backend's context and the functions its files share (internal to nn/cuda, CUDA C++).
 *
 * Layouts: activations NHWC float32, one buffer per layer output for max_batch images (a flatten
 * shares its input's); conv kernels OHWI (cuDNN's NHWC filter layout), everything else as the model
 * (nn/model.h), in three device buffers of n_params floats each (parameters, gradients, RMSprop
 * state) at the model's offsets, so the update is one pass. Every pass runs over max_batch images: a
 * shorter batch leaves stale images past n whose logit gradients are 0, so they add exactly 0 to every
 * gradient, and one captured CUDA graph serves every batch size.
 *
 * Streams: `compute` runs the passes; `copy` uploads staged batches from pinned host buffers (two
 * slots, used in turn) while the previous step computes. */
#ifndef PAWPIPE_NN_CUDA_NET_H
#define PAWPIPE_NN_CUDA_NET_H

#include "nn/backend.h"
#include "nn/cuda/common.h"
#include "nn/cuda/cuda.h"
#include "nn/model.h"

#define CUDA_MAX_BATCH 4096   /* the loss kernel keeps one batch of per-sample values in shared memory */
#define CUDA_SLOTS 2

typedef struct {
    const nn_layer_t *spec;
    int act;                   /* the activation applied in the forward: none on the output layer,
                                  whose sigmoid is folded into the loss                        */
    int act_in_next;           /* the next layer (a max-pool) applies this layer's ReLU gradient  */
    float *y;                  /* output after the activation, max_batch images (flatten: the
                                  previous layer's)                                              */
    size_t y_count;            /* floats in y                                                     */
    /* conv2d: descriptors and the algorithms chosen at create time */
    cudnnTensorDescriptor_t x_desc, y_desc;
    cudnnFilterDescriptor_t w_desc;
    cudnnConvolutionDescriptor_t fwd_desc, bwd_data_desc, bwd_filter_desc;
    cudnnConvolutionFwdAlgo_t fwd_algo;
    cudnnConvolutionBwdDataAlgo_t bwd_data_algo;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter_algo;
} cuda_layer_t;

/* A staged batch: header, labels and images, in pinned host memory and on the device alike. */
typedef struct {
    unsigned char *host, *dev;
    cudaEvent_t copied;        /* the upload of the batch last staged here has finished          */
    cudaEvent_t used;          /* the step that last read the device buffer has finished        */
    cudaEvent_t t0, t1;        /* around the step that last used this slot (timing)             */
    cudaGraphExec_t graph;     /* the captured training step reading this slot                  */
} cuda_slot_t;

typedef struct {
    nn_model_t m;              /* copied (spec_text not kept)                                   */
    int max_batch, last_n;
    nn_options_t opts;
    char desc[320];            /* device, libraries, precision, for describe()                  */
    cudaStream_t compute, copy;
    cudnnHandle_t dnn;
    cublasHandle_t blas;
    void *blas_ws;             /* cuBLAS workspace, set once (graph capture allocates nothing)   */
    float *P, *G, *R;          /* parameters, gradients, RMSprop state: n_params each            */
    float *input;              /* scaled images, max_batch * in_h * in_w * in_c                  */
    float *grad_a, *grad_b;    /* gradient ping-pong, each max_batch * the largest layer output  */
    float *partial;            /* column-sum partials, the most any layer needs                 */
    void *ws;                  /* one cuDNN workspace, the largest the chosen algorithms need     */
    size_t ws_size;
    double *lr;                /* the learning rate the update reads (device)                   */
    double lr_set;             /* its value, as last set (NAN: never)                           */
    cuda_stats_t *stats, *stats_host;   /* device; pinned copy for reading                      */
    float *host_params;        /* pinned: n_params floats for set/get_params, get_grads        */
    float *host_logits;        /* pinned: max_batch logits                                     */
    size_t slot_bytes, labels_off, images_off;
    cuda_slot_t slots[CUDA_SLOTS];
    int next_slot;             /* the slot the next stage() fills                               */
    int staged;                /* the slot holding the staged batch; -1: none                   */
    int timed;                 /* the slot of the last step(); -1: none                         */
    int eager_steps;           /* step() calls run eagerly so far (the first warms every kernel
                                  up before anything is captured)                              */
    cuda_layer_t layers[NN_MAX_LAYERS];
} cuda_ctx_t;

/* conv2d.cu: descriptors and algorithm choice (at create, buffers allocated), forward, backward */
int cuda_conv2d_build(cuda_ctx_t *c, int i);
int cuda_conv2d_choose(cuda_ctx_t *c, int i, const float *x, void *ws, size_t ws_cap, size_t *ws_need);
int cuda_conv2d_forward(cuda_ctx_t *c, int i, const float *x);
int cuda_conv2d_backward(cuda_ctx_t *c, int i, const float *x, const float *dy, float *dx);
void cuda_conv2d_destroy(cuda_layer_t *l);

/* dense.cu: the matrix products of a dense layer on cuBLAS */
int cuda_dense_forward(cuda_ctx_t *c, int i, const float *x);
int cuda_dense_backward(cuda_ctx_t *c, int i, const float *x, const float *dy, float *dx);

/* params.cu: the model layout <-> the internal layout (conv kernels HWIO <-> OHWI), host side */
void cuda_params_import(const nn_model_t *m, const float *src, float *dst_int);
void cuda_params_export(const nn_model_t *m, const float *src_int, float *dst);

#endif
