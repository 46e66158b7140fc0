/* backend_check.c: the argument and model checks every backend makes, and the loss that ends a step. */
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "nn/backend_check.h"
#include "nn/ref/kernels.h"

int nn_check_create(const char *be, const nn_model_t *m, int max_batch, void **ctx) {
    CHECK(m && ctx && max_batch > 0, "%s: create", be);
    *ctx = NULL;
    CHECK(m->n_layers > 0 && m->n_layers <= NN_MAX_LAYERS, "%s: model has %d layers", be, m->n_layers);
    CHECK(strcmp(m->optim.type, "rmsprop") == 0, "%s: optimizer '%s' (only rmsprop)", be, m->optim.type);
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer_t *l = &m->layers[i];
        if (l->type != NN_CONV2D && l->type != NN_DENSE)
            CHECK(l->act == NN_ACT_NONE, "%s: layer %s: activation on a parameter-free layer", be, l->name);
    }
    const nn_layer_t *last = &m->layers[m->n_layers - 1];
    CHECK(last->act == NN_ACT_NONE || last->act == NN_ACT_SIGMOID, "%s: the output layer %s must be linear or sigmoid",
          be, last->name);
    return 0;
}

int nn_check_batch(const char *be, int n, int max_batch) {
    CHECK(n > 0 && n <= max_batch, "%s: batch of %d (max %d)", be, n, max_batch);
    return 0;
}

int nn_check_layer_output(const char *be, const nn_model_t *m, int layer, int last_n) {
    CHECK(layer >= 0 && layer < m->n_layers, "%s: no layer %d", be, layer);
    CHECK(last_n > 0, "%s: layer_output before any forward pass", be);
    return 0;
}

int nn_check_options(const char *be, const nn_options_t *opts, int tf32_ok) {
    if (!opts) return 0;
    CHECK(opts->precision == NN_PRECISION_FP32 || (opts->precision == NN_PRECISION_TF32 && tf32_ok),
          "%s: precision %s is not available on this backend (only fp32)", be, nn_precision_name(opts->precision));
    return 0;
}

int nn_check_stage(const char *be, const uint8_t *images, const float *labels, int n, int max_batch) {
    CHECK(images && labels, "%s: stage", be);
    return nn_check_batch(be, n, max_batch);
}

int nn_staged_init(nn_staged_t *s, int max_batch) {
    memset(s, 0, sizeof *s);
    s->labels = calloc((size_t)max_batch, sizeof(float));
    return s->labels ? 0 : -1;
}

void nn_staged_free(nn_staged_t *s) {
    free(s->labels);
    s->labels = NULL;
}

int nn_staged_put(const char *be, nn_staged_t *s, int max_batch, const uint8_t *images, const float *labels,
                  int n, uint64_t seed, float *input, size_t image_floats) {
    TRY(nn_check_stage(be, images, labels, n, max_batch));
    ref_scale_u8(images, input, (size_t)n * image_floats);
    memcpy(s->labels, labels, sizeof(float) * n);
    s->n = n;
    s->seed = seed;
    return 0;
}

int nn_staged_take(const char *be, nn_staged_t *s) {
    int n = s->n;
    CHECK(n > 0, "%s: a training step with no batch staged", be);
    s->n = 0;
    return n;
}

void nn_sums_add(nn_sums_t *s, const nn_stats_t *st, int n) {
    s->loss_sum += st->loss * n;
    s->correct += st->accuracy * n;
    s->images += n;
    s->steps += 1;
}

void nn_sums_read(nn_sums_t *s, nn_sums_t *out, int reset) {
    if (out) *out = *s;
    if (reset) memset(s, 0, sizeof *s);
}

void nn_loss_stats(const float *logits, const float *labels, int n, float *dlogits, nn_stats_t *stats) {
    double accuracy = 0.0;
    double loss = ref_sigmoid_bce(logits, labels, n, dlogits, &accuracy);
    if (stats) {
        stats->loss = loss;
        stats->accuracy = accuracy;
    }
}

/* backend.h: the names of the precisions (here, in nn_ref, which every backend links). */
int nn_precision_parse(const char *name, nn_precision_t *out) {
    if (!name || strcmp(name, "fp32") == 0) *out = NN_PRECISION_FP32;
    else if (strcmp(name, "tf32") == 0) *out = NN_PRECISION_TF32;
    else {
        err_set("--precision: '%s' is not fp32 or tf32", name);
        return -1;
    }
    return 0;
}

const char *nn_precision_name(nn_precision_t p) { return p == NN_PRECISION_TF32 ? "tf32" : "fp32"; }
