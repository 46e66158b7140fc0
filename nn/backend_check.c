/* backend_check.c: the argument and model checks every backend makes, and the loss that ends a step. */
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

void nn_loss_stats(const float *logits, const float *labels, int n, float *dlogits, nn_stats_t *stats) {
    double accuracy = 0.0;
    double loss = ref_sigmoid_bce(logits, labels, n, dlogits, &accuracy);
    if (stats) {
        stats->loss = loss;
        stats->accuracy = accuracy;
    }
}
