/* backend.h: a backend is a const table of operations plus an opaque context ("ref", "cpu", "cuda").
 *
 * The context owns every buffer a step needs (parameters, gradients, RMSprop state, activations for
 * up to max_batch images), allocated once in create(); no call below allocates. Parameters and
 * optimizer state cross the boundary as host float arrays of model->n_params in the model layout
 * (nn/model.h), so checkpoints and tests are backend-independent. */
#ifndef PAWPIPE_BACKEND_H
#define PAWPIPE_BACKEND_H

#include <stdint.h>

#include "nn/model.h"

typedef struct {
    double loss;       /* mean binary cross-entropy over the batch                 */
    double accuracy;   /* fraction with (logit > 0) == label                       */
} nn_stats_t;

typedef struct nn_backend {
    const char *name;
    /* Build a context for `model` and batches of at most max_batch images. 0 / -1 + err_msg(). */
    int (*create)(const nn_model_t *model, int max_batch, void **ctx);
    void (*destroy)(void **ctx);                       /* frees and NULLs; NULL is fine */

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

    /* Copy layer i's output of the last forward pass: n * out_h * out_w * out_c floats, NHWC.
     * Layer outputs are after the layer's activation. */
    int (*layer_output)(void *ctx, int layer, float *out);
} nn_backend_t;

/* Look a backend up by name; NULL with err_msg() listing the available ones. */
const nn_backend_t *nn_backend_find(const char *name);
const char *nn_backend_names(void);   /* e.g. "ref, cpu, cuda" */

#endif
