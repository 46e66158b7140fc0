/* backend.c: the "ref" backend table: the reference kernels behind the nn_backend_t contract. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "nn/backend.h"
#include "nn/backend_check.h"
#include "nn/backends.h"
#include "nn/ref/kernels.h"
#include "nn/ref/net.h"

/* Beyond nn_check_create, refuse what the passes in net.c cannot run: shapes that do not chain,
 * parameters outside the buffer, an output that is not one logit. */
static int check_model(const nn_model_t *m) {
    CHECK(m->in_h > 0 && m->in_w > 0 && m->in_c > 0, "ref: bad input shape");
    int h = m->in_h, w = m->in_w, c = m->in_c;
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer_t *l = &m->layers[i];
        if (l->type == NN_DENSE)
            CHECK(l->in_h * l->in_w * l->in_c == h * w * c, "ref: layer %s: input size", l->name);
        else
            CHECK(l->in_h == h && l->in_w == w && l->in_c == c, "ref: layer %s: input shape", l->name);
        CHECK(l->out_h > 0 && l->out_w > 0 && l->out_c > 0, "ref: layer %s: output shape", l->name);
        if (l->type == NN_CONV2D || l->type == NN_DENSE)
            CHECK(l->w_off + l->w_count <= m->n_params && l->b_off + l->b_count <= m->n_params,
                  "ref: layer %s: parameters outside the buffer", l->name);
        CHECK(l->type != NN_FLATTEN || nn_layer_out_size(l) == (size_t)h * w * c, "ref: layer %s: flatten size",
              l->name);
        h = l->out_h, w = l->out_w, c = l->out_c;
    }
    const nn_layer_t *last = &m->layers[m->n_layers - 1];
    CHECK(nn_layer_out_size(last) == 1, "ref: the output layer %s must give one logit", last->name);
    return 0;
}

static void ref_destroy(void **ctx) {
    if (!ctx || !*ctx) return;
    ref_net_t *net = *ctx;
    free(net->params);
    free(net->grads);
    free(net->rms);
    free(net->input);
    for (int i = 0; i < net->m.n_layers; i++)
        if (net->m.layers[i].type != NN_FLATTEN) free(net->out[i]);
    free(net->logits);
    free(net->grad_a);
    free(net->grad_b);
    nn_staged_free(&net->staged);
    free(net);
    *ctx = NULL;
}

static float *alloc_floats(size_t count) { return calloc(count ? count : 1, sizeof(float)); }

static int ref_create(const nn_model_t *model, int max_batch, const nn_options_t *opts, void **ctx) {
    TRY(nn_check_create("ref", model, max_batch, ctx));
    TRY(nn_check_options("ref", opts, 0));
    TRY(check_model(model));
    ref_net_t *net = calloc(1, sizeof(*net));
    CHECK(net, "ref: out of memory");
    net->m = *model;
    net->m.spec_text = NULL;
    net->max_batch = max_batch;
    size_t nb = (size_t)max_batch, biggest = 1;
    net->params = alloc_floats(model->n_params);
    net->grads = alloc_floats(model->n_params);
    net->rms = alloc_floats(model->n_params);
    net->input = alloc_floats(nb * model->in_h * model->in_w * model->in_c);
    net->logits = alloc_floats(nb);
    int ok = net->params && net->grads && net->rms && net->input && net->logits &&
             nn_staged_init(&net->staged, max_batch) == 0;
    for (int i = 0; i < model->n_layers && ok; i++) {
        const nn_layer_t *l = &model->layers[i];
        if (nn_layer_out_size(l) > biggest) biggest = nn_layer_out_size(l);
        if (l->type == NN_FLATTEN) {
            net->out[i] = i > 0 ? net->out[i - 1] : net->input;
        } else {
            net->out[i] = alloc_floats(nb * nn_layer_out_size(l));
            ok = net->out[i] != NULL;
        }
    }
    if (ok) {
        net->grad_a = alloc_floats(nb * biggest);
        net->grad_b = alloc_floats(nb * biggest);
        ok = net->grad_a && net->grad_b;
    }
    if (!ok) {
        void *p = net;
        ref_destroy(&p);
        CHECK(0, "ref: out of memory for a batch of %d", max_batch);
    }
    *ctx = net;
    return 0;
}

static int ref_set_params(void *ctx, const float *params, const float *rms) {
    ref_net_t *net = ctx;
    CHECK(net && params, "ref: set_params");
    memcpy(net->params, params, sizeof(float) * net->m.n_params);
    if (rms) memcpy(net->rms, rms, sizeof(float) * net->m.n_params);
    else memset(net->rms, 0, sizeof(float) * net->m.n_params);
    return 0;
}

static int ref_get_params(void *ctx, float *params, float *rms) {
    ref_net_t *net = ctx;
    CHECK(net, "ref: get_params");
    if (params) memcpy(params, net->params, sizeof(float) * net->m.n_params);
    if (rms) memcpy(rms, net->rms, sizeof(float) * net->m.n_params);
    return 0;
}

static void scale_input(ref_net_t *net, const uint8_t *images, int n) {
    ref_scale_u8(images, net->input, (size_t)n * net->m.in_h * net->m.in_w * net->m.in_c);
}

static int ref_predict(void *ctx, const uint8_t *images, int n, float *logits) {
    ref_net_t *net = ctx;
    CHECK(net && images && logits, "ref: predict");
    TRY(nn_check_batch("ref", n, net->max_batch));
    scale_input(net, images, n);
    ref_net_forward(net, n, 0, 0);
    memcpy(logits, net->logits, sizeof(float) * n);
    return 0;
}

static int ref_stage(void *ctx, const uint8_t *images, const float *labels, int n, uint64_t dropout_seed) {
    ref_net_t *net = ctx;
    CHECK(net, "ref: stage");
    return nn_staged_put("ref", &net->staged, net->max_batch, images, labels, n, dropout_seed, net->input,
                         (size_t)net->m.in_h * net->m.in_w * net->m.in_c);
}

/* Forward, loss and backward of the staged batch, which it consumes; returns its size or -1. */
static int train_staged(ref_net_t *net, nn_stats_t *stats) {
    int n = nn_staged_take("ref", &net->staged);
    if (n < 0) return -1;
    ref_net_forward(net, n, 1, net->staged.seed);
    nn_loss_stats(net->logits, net->staged.labels, n, net->grad_a, stats);
    ref_net_backward(net, n, net->staged.seed);
    return n;
}

static int ref_forward_backward(void *ctx, const uint8_t *images, const float *labels, int n,
                                uint64_t dropout_seed, nn_stats_t *stats) {
    TRY(ref_stage(ctx, images, labels, n, dropout_seed));
    return train_staged(ctx, stats) < 0 ? -1 : 0;
}

static int ref_get_grads(void *ctx, float *grads) {
    ref_net_t *net = ctx;
    CHECK(net && grads, "ref: get_grads");
    memcpy(grads, net->grads, sizeof(float) * net->m.n_params);
    return 0;
}

static int ref_update(void *ctx, double learning_rate) {
    ref_net_t *net = ctx;
    CHECK(net, "ref: update");
    ref_rmsprop(net->params, net->grads, net->rms, net->m.n_params, learning_rate, net->m.optim.rho,
                net->m.optim.epsilon);
    return 0;
}

static int ref_layer_output(void *ctx, int layer, float *out) {
    ref_net_t *net = ctx;
    CHECK(net && out, "ref: layer_output");
    TRY(nn_check_layer_output("ref", &net->m, layer, net->last_n));
    memcpy(out, net->out[layer], sizeof(float) * net->last_n * nn_layer_out_size(&net->m.layers[layer]));
    return 0;
}

static int ref_step(void *ctx, double learning_rate) {
    ref_net_t *net = ctx;
    CHECK(net, "ref: step");
    nn_stats_t st;
    int n = train_staged(net, &st);
    if (n < 0) return -1;
    TRY(ref_update(net, learning_rate));
    nn_sums_add(&net->staged.sums, &st, n);
    return 0;
}

static int ref_sums(void *ctx, nn_sums_t *out, int reset) {
    ref_net_t *net = ctx;
    CHECK(net, "ref: sums");
    nn_sums_read(&net->staged.sums, out, reset);
    return 0;
}

static void ref_describe(void *ctx, char *buf, size_t cap) {
    (void)ctx;
    snprintf(buf, cap, "plain-C reference kernels, one thread, fp32");
}

const nn_backend_t nn_backend_ref = {
    .name = "ref",
    .device = "cpu",
    .create = ref_create,
    .describe = ref_describe,
    .destroy = ref_destroy,
    .set_params = ref_set_params,
    .get_params = ref_get_params,
    .predict = ref_predict,
    .forward_backward = ref_forward_backward,
    .get_grads = ref_get_grads,
    .update = ref_update,
    .layer_output = ref_layer_output,
    .stage = ref_stage,
    .step = ref_step,
    .sums = ref_sums,
};
