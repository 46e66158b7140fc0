/* backend_check.h: the checks every backend makes at its boundary, and the loss every training step
 * ends with, shared so that ref, cpu and cuda refuse the same calls with the same words (internal to nn/).
 *
 * `be` is the backend's name; each message starts with it ("cpu: batch of 9 (max 8)"). */
#ifndef PAWPIPE_BACKEND_CHECK_H
#define PAWPIPE_BACKEND_CHECK_H

#include "nn/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The top of create(): model, ctx and max_batch > 0 given (*ctx set to NULL), then what no backend
 * runs: a layer count outside 1..NN_MAX_LAYERS, an optimizer other than RMSprop, an activation on
 * a parameter-free layer, an output layer that is neither linear nor sigmoid. Backends add their own. */
int nn_check_create(const char *be, const nn_model_t *m, int max_batch, void **ctx);

/* predict() and forward_backward(), once their pointers are checked: 0 < n <= max_batch. */
int nn_check_batch(const char *be, int n, int max_batch);

/* layer_output(), once its pointers are checked: a layer of the model, after a forward pass (last_n > 0). */
int nn_check_layer_output(const char *be, const nn_model_t *m, int layer, int last_n);

/* create()'s options: NULL or fp32 (precision tf32 is for backends with tf32 arithmetic: tf32_ok). */
int nn_check_options(const char *be, const nn_options_t *opts, int tf32_ok);

/* stage(): 0 < n <= max_batch and the pointers given. */
int nn_check_stage(const char *be, const uint8_t *images, const float *labels, int n, int max_batch);

/* The staged batch of a synchronous (CPU) backend, and the running sums of its steps. */
typedef struct {
    float *labels;      /* max_batch                                 */
    int n;              /* images staged; 0: none                    */
    uint64_t seed;      /* their dropout seed                        */
    nn_sums_t sums;
} nn_staged_t;

int nn_staged_init(nn_staged_t *s, int max_batch);   /* 0 / -1 (out of memory) */
void nn_staged_free(nn_staged_t *s);

/* stage() of a synchronous backend: checks, scales the n images into input (image_floats each) and
 * keeps labels, n and seed. */
int nn_staged_put(const char *be, nn_staged_t *s, int max_batch, const uint8_t *images, const float *labels,
                  int n, uint64_t seed, float *input, size_t image_floats);

/* Takes the staged batch for a training step: its size, or -1 when none is staged. */
int nn_staged_take(const char *be, nn_staged_t *s);

/* Running sums: add a step of n images; read them into out (may be NULL) and, with reset, zero them. */
void nn_sums_add(nn_sums_t *s, const nn_stats_t *st, int n);
void nn_sums_read(nn_sums_t *s, nn_sums_t *out, int reset);

/* The loss of forward_backward: mean BCE of n logits against labels, its gradient into dlogits,
 * and (stats not NULL) the loss and accuracy reported. */
void nn_loss_stats(const float *logits, const float *labels, int n, float *dlogits, nn_stats_t *stats);

#ifdef __cplusplus
}
#endif

#endif
