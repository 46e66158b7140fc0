/* checkpoint.h: checkpoints as safetensors files. Tensors are named and laid out as Keras stores
 * them ("conv2d_1.kernel" HWIO, "dense_1.kernel" (in, out) in Keras' flatten order, "...bias"), plus
 * "<name>.rms" for the RMSprop state. The JSON header's __metadata__ holds the model spec text, epoch,
 * step, run seed, backend-independent training metrics and a format tag. Writes are atomic. */
#ifndef PAWPIPE_CHECKPOINT_H
#define PAWPIPE_CHECKPOINT_H

#include <stdint.h>

#include "nn/model.h"

#define NN_CKPT_MAX_METRICS 16

typedef struct {
    uint32_t epoch;        /* epochs completed                                  */
    uint64_t step;         /* global steps completed (= next batch seq)         */
    uint64_t seed;         /* run seed                                          */
    int n_metrics;
    char metric_names[NN_CKPT_MAX_METRICS][64];
    double metric_values[NN_CKPT_MAX_METRICS];
} nn_ckpt_info_t;

/* Write params (and rms unless NULL) of model m to path (via path.tmp + rename). 0 / -1. */
int nn_ckpt_save(const char *path, const nn_model_t *m, const nn_ckpt_info_t *info,
                 const float *params, const float *rms);

/* Read a checkpoint. The model is rebuilt from the spec inside (m must be freed by the caller with
 * nn_model_free); *params and *rms are malloc'd n_params arrays (rms zeros when absent).
 * A truncated file, a file that is not a checkpoint, or tensors that disagree with the spec are
 * refused with err_msg() "PATH: reason"; then m, *params and *rms hold nothing to free.
 * info may be NULL; rms may be NULL when the optimizer state is not wanted.
 * Format and checks: docs/model-spec.md. */
int nn_ckpt_load(const char *path, nn_model_t *m, nn_ckpt_info_t *info, float **params, float **rms);

/* Check that a checkpoint's model matches an expected one (same layers and shapes; the layers' names
 * may differ): used by --resume to refuse a checkpoint of another model. 0 / -1 with err_msg()
 * naming the difference. nn_model_same_weights asks less, for --init-from: the same weights in the
 * same places (dropout rates, which only training uses, may differ). */
int nn_model_same(const nn_model_t *a, const nn_model_t *b);
int nn_model_same_weights(const nn_model_t *a, const nn_model_t *b);

#endif
