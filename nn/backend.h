/* backend.h: a backend is a const table of operations plus an opaque context ("ref", "cpu",
 * "cpu-direct", "cuda"), looked up by name in one registry (nn/backend.c).
 *
 * The context owns every buffer a step needs (parameters, gradients, RMSprop state, activations for
 * up to max_batch images), allocated once in create(); no call below allocates. Parameters and
 * optimizer state cross the boundary as host float arrays of model->n_params in the model layout
 * (nn/model.h), so checkpoints and tests are backend-independent. */
#ifndef PAWPIPE_BACKEND_H
#define PAWPIPE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    double loss;       /* mean binary cross-entropy over the batch                 */
    double accuracy;   /* fraction with (logit > 0) == label                       */
} nn_stats_t;

/* Running sums over the steps since the last reset (sums()): the epoch's loss and accuracy are
 * loss_sum / images and correct / images, as Keras weights them (by images). */
typedef struct {
    double loss_sum;   /* sum over images of their binary cross-entropy             */
    double correct;    /* images with (logit > 0) == label                         */
    double images;
    double steps;
} nn_sums_t;

/* Arithmetic precision. fp32: float32 everywhere, no reduced-precision tensor-core modes, so
 * results match the CPU backends within float rounding. tf32: convolutions and matrix products may
 * round their inputs to TF32 on tensor cores (cuda only; see docs/trainer.md for its tolerance). */
typedef enum { NN_PRECISION_FP32 = 0, NN_PRECISION_TF32 = 1 } nn_precision_t;

typedef struct {
    nn_precision_t precision;
    int no_graph;      /* cuda: launch the training step kernel by kernel instead of replaying it as
                          a CUDA graph (to compare the two); ignored elsewhere                   */
    int autotune;      /* cuda: time cuDNN's convolution algorithms at create and take the fastest,
                          instead of its heuristics' choice (which every process repeats, so that
                          a resumed run is bit-identical); ignored elsewhere                     */
} nn_options_t;

typedef struct nn_backend {
    const char *name;
    const char *device;   /* "cpu" or "gpu": where it computes (tests choose backends by it)  */

    /* Whether the backend can run on this machine; 1 when it can, else 0 with the reason in why
     * ("no CUDA device: ..."). NULL: always. */
    int (*available)(char *why, size_t cap);

    /* Build a context for `model` and batches of at most max_batch images; opts NULL: defaults
     * (fp32). 0 / -1 + err_msg(). */
    int (*create)(const nn_model_t *model, int max_batch, const nn_options_t *opts, void **ctx);
    void (*destroy)(void **ctx);                       /* frees and NULLs; NULL is fine */

    /* One line on what runs (device, library versions, precision), for logs. */
    void (*describe)(void *ctx, char *buf, size_t cap);

    /* Parameters and RMSprop mean-square state (NULL: zeros on set, skipped on get). */
    int (*set_params)(void *ctx, const float *params, const float *rms);
    int (*get_params)(void *ctx, float *params, float *rms);

    /* Inference forward (dropout off): n images uint8 NHWC, scaled by 1/255 inside -> n logits. */
    int (*predict)(void *ctx, const uint8_t *images, int n, float *logits);

    /* Training forward + loss + backward. Dropout masks come from (dropout_seed, layer, element)
     * through rng_uniform_at, so every backend draws the same mask. Gradients stay in the context. */
    int (*forward_backward)(void *ctx, const uint8_t *images, const float *labels, int n,
                            uint64_t dropout_seed, nn_stats_t *stats);
    int (*get_grads)(void *ctx, float *grads);         /* copy out the last gradients (tests) */

    /* RMSprop (Keras: rho, epsilon, no momentum) over the whole parameter buffer, one pass. */
    int (*update)(void *ctx, double learning_rate);

    /* The training loop's calls, pipelined where the backend can. stage() takes the next batch and
     * has copied what it needs when it returns (the caller may reuse images and labels at once);
     * step() trains on the staged batch: forward, loss, backward and update, as forward_backward +
     * update would, and may return before the work is done (cuda: while it runs, the caller receives
     * and stages the next batch). Loss and accuracy add up in the context; sums() waits for the
     * steps so far, reads the sums and, with reset, starts new ones. */
    int (*stage)(void *ctx, const uint8_t *images, const float *labels, int n, uint64_t dropout_seed);
    int (*step)(void *ctx, double learning_rate);
    int (*sums)(void *ctx, nn_sums_t *out, int reset);

    /* The device time of the last step(), waiting for it (cuda: CUDA events around the step). NULL
     * where step() is synchronous and the caller's clock measures it. */
    int (*last_step_ms)(void *ctx, double *ms);

    /* Copy layer i's output of the last forward pass: n * out_h * out_w * out_c floats, NHWC.
     * Layer outputs are after the layer's activation. */
    int (*layer_output)(void *ctx, int layer, float *out);
} nn_backend_t;

/* Look a backend up by name; NULL with err_msg() listing the available ones. */
const nn_backend_t *nn_backend_find(const char *name);
/* The registry: backend i (0 <= i < nn_backend_count()), in the order names lists them. */
int nn_backend_count(void);
const nn_backend_t *nn_backend_at(int i);
const char *nn_backend_names(void);   /* e.g. "ref, cpu, cpu-direct, cuda" */

/* find + available: NULL with one sentence when the name is unknown or the backend cannot run here
 * ("backend cuda cannot run here: no CUDA device (...)"). */
const nn_backend_t *nn_backend_usable(const char *name);

/* usable + create in one, for the stages: a backend that cannot run here fails with one
 * sentence ("--backend cuda: no CUDA device ..."). 0 / -1 + err_msg(). */
int nn_backend_open(const char *name, const nn_model_t *model, int max_batch, const nn_options_t *opts,
                    const nn_backend_t **be, void **ctx);

/* "fp32" / "tf32" (NULL: fp32) <-> nn_precision_t; -1 with err_msg() for an unknown name. */
int nn_precision_parse(const char *name, nn_precision_t *out);
const char *nn_precision_name(nn_precision_t p);

#ifdef __cplusplus
}
#endif

#endif
