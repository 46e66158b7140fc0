/* scorer.h: a model on a backend, ready to score images: built from a spec text (rebuilt only when the
 * spec changes), loaded with the weights of a checkpoint message or file, run in batches. */
#ifndef PAWPIPE_EVAL_SCORER_H
#define PAWPIPE_EVAL_SCORER_H

#include <signal.h>
#include <stdint.h>

#include "evaluator/evaluator.h"
#include "evaluator/metrics.h"
#include "evaluator/valset.h"
#include "nn/backend.h"
#include "nn/model.h"
#include "proto/proto.h"

typedef struct {
    nn_model_t model;
    int have_model;
    char backend_name[32];
    nn_options_t opts;
    const nn_backend_t *be;
    void *ctx;
    int batch;                 /* images per forward pass (the backend's max_batch)   */
    float *params;             /* model.n_params, the host copy handed to the backend */
    nn_param_view_t views[NN_MAX_LAYERS * 2];
    int n_views;
    float *logits;             /* cap entries, one per scored image                   */
    metrics_pair_t *pairs;
    int64_t cap;
} scorer_t;

/* Make s hold the model of spec_text (label names it in errors) on backend at precision ("fp32",
 * "tf32"), in batches of batch (0: the spec's batch_size). Keeps the current model and context when
 * spec, backend, precision and batch are unchanged. 0 / -1 + err_msg() (a bad spec: s is left empty and can be used again). */
int scorer_use_spec(scorer_t *s, const char *spec_text, const char *label, const char *backend, const char *precision,
                    int batch);

/* Load the weights: from a checkpoint message, every parameter tensor matched by name, dtype, shape
 * and size (a missing, misshapen or unknown tensor refuses the checkpoint; "<name>.rms" optimizer
 * state is ignored), or from a host array of model.n_params floats. 0 / -1 + err_msg(). */
int scorer_set_tensors(scorer_t *s, const proto_checkpoint_t *c);
int scorer_set_params(scorer_t *s, const float *params);

/* Forward pass of images[0..n) (uint8 NHWC at the model's input size) into s->logits. Returns 0,
 * 1 when *stop was set between two batches (stop may be NULL), -1 + err_msg(). */
int scorer_logits(scorer_t *s, const uint8_t *images, int64_t n, const volatile sig_atomic_t *stop);

/* Score every image of v: forward pass and metrics. Same returns as scorer_logits. */
int scorer_eval(scorer_t *s, const valset_t *v, const volatile sig_atomic_t *stop, eval_metrics_t *out);

void scorer_free(scorer_t *s);

#endif
