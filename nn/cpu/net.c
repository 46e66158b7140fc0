/* net.c: the "cpu" backend table (oneDNN): create/destroy, the whole-network passes and the copies
 * across the backend boundary. Every primitive, memory object and buffer is made in create().
 *
 * Batches shorter than max_batch run through the max_batch primitives: images past n keep finite
 * stale values, their logit gradients are 0, so they add exactly 0 to every parameter gradient. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/log.h"
#include "nn/backend.h"
#include "nn/backend_check.h"
#include "nn/backends.h"
#include "nn/cpu/cpu.h"
#include "nn/ref/kernels.h"

static void cpu_destroy(void **ctx) {
    if (!ctx || !*ctx) return;
    cpu_ctx_t *c = *ctx;
    for (int k = 0; k < c->n_prims; k++) dnnl_primitive_destroy(c->prims[k]);
    for (int k = 0; k < c->n_mems; k++) dnnl_memory_destroy(c->mems[k]);
    if (c->stream) dnnl_stream_destroy(c->stream);
    if (c->eng) dnnl_engine_destroy(c->eng);
    free(c->P);
    free(c->G);
    free(c->R);
    free(c->logits);
    free(c->dlogits);
    nn_staged_free(&c->staged);
    free(c->scratch);
    free(c);
    *ctx = NULL;
}

/* Beyond nn_check_create: the activations oneDNN is built with here, and one logit from a dense layer. */
static int check_model(const nn_model_t *m) {
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer_t *l = &m->layers[i];
        CHECK(l->act == NN_ACT_NONE || l->act == NN_ACT_RELU || l->act == NN_ACT_SIGMOID,
              "cpu: layer %s: unsupported activation", l->name);
    }
    const nn_layer_t *last = &m->layers[m->n_layers - 1];
    CHECK(last->type == NN_DENSE && last->units == 1, "cpu: the output layer %s must be a dense layer of one unit",
          last->name);
    return 0;
}

static int build(cpu_ctx_t *c) {
    const nn_model_t *m = &c->m;
    const dnnl_version_t *v = dnnl_version();
    LOG_D("cpu: oneDNN %d.%d.%d, %s threading (threads: OMP_NUM_THREADS, else one per core)", v->major, v->minor,
          v->patch, v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB" : "other");
    DNNL_TRY(dnnl_engine_create(&c->eng, dnnl_cpu, 0));
    DNNL_TRY(dnnl_stream_create(&c->stream, c->eng, dnnl_stream_default_flags));
    int64_t in[4] = {c->max_batch, m->in_c, m->in_h, m->in_w};
    dnnl_memory_desc_t md;
    TRY(cpu_md(&md, 4, in, dnnl_nhwc));
    TRY(cpu_tensor(c, &c->in, &md));
    for (int i = 0; i < m->n_layers; i++) {
        cpu_layer_t *l = &c->layers[i];
        l->spec = &m->layers[i];
        l->act = i == m->n_layers - 1 ? NN_ACT_NONE : l->spec->act;
        switch (l->spec->type) {
        case NN_CONV2D: TRY(cpu_conv2d_build(c, i)); break;
        case NN_MAXPOOL2D: TRY(cpu_maxpool_build(c, i)); break;
        case NN_DENSE: TRY(cpu_dense_build(c, i)); break;
        case NN_FLATTEN: TRY(cpu_flatten_build(c, i)); break;
        case NN_DROPOUT: TRY(cpu_dropout_build(c, i)); break;
        default: CHECK(0, "cpu: layer %s: unknown type %d", l->spec->name, (int)l->spec->type);
        }
        l->plain = l->y.md.ndims == 2 || l->spec->type == NN_DROPOUT;
        TRY(cpu_out_view(c, i));
        CHECK(cpu_md_floats(&l->y.md) >= (size_t)c->max_batch * nn_layer_out_size(l->spec),
              "cpu: layer %s: output smaller than the model's shape", l->spec->name);
    }
    TRY(cpu_params_build(c));
    c->logits = calloc((size_t)c->max_batch, sizeof(float));
    c->dlogits = calloc((size_t)c->max_batch, sizeof(float));
    CHECK(c->logits && c->dlogits && nn_staged_init(&c->staged, c->max_batch) == 0, "cpu: out of memory");
    if (c->scratch_size > 0) {
        c->scratch = aligned_alloc(64, (c->scratch_size + 63) & ~(size_t)63);
        CHECK(c->scratch, "cpu: out of memory for a %zu-byte scratchpad", c->scratch_size);
        memset(c->scratch, 0, c->scratch_size);
        for (int k = 0; k < c->n_scratch; k++) DNNL_TRY(dnnl_memory_set_data_handle(c->scratch_mems[k], c->scratch));
    }
    return 0;
}

static int create(const nn_model_t *model, int max_batch, const nn_options_t *opts, int winograd, void **ctx) {
    TRY(nn_check_create("cpu", model, max_batch, ctx));
    TRY(nn_check_options("cpu", opts, 0));
    TRY(check_model(model));
    cpu_ctx_t *c = calloc(1, sizeof(*c));
    CHECK(c, "cpu: out of memory");
    c->m = *model;
    c->m.spec_text = NULL;
    c->max_batch = max_batch;
    c->winograd = winograd;
    if (build(c) != 0) {
        void *p = c;
        cpu_destroy(&p);
        err_prepend("cpu: model %s, batch %d", model->name, max_batch);
        return -1;
    }
    *ctx = c;
    return 0;
}

/* "cpu" computes 3x3 stride-1 convolutions with Winograd's F(4x4, 3x3) where oneDNN has it (16-channel
 * multiples, AVX-512): about half the time of the direct algorithm here, in float32, with rounding
 * errors of the same order (test_backend_parity checks both against the reference).
 * "cpu-direct" always uses the direct algorithm, for comparison. Why and measurements:
 * docs/architecture.md ("Departures") and bench/step_time.md ("Winograd convolutions"). */
static int cpu_create(const nn_model_t *model, int max_batch, const nn_options_t *opts, void **ctx) {
    return create(model, max_batch, opts, 1, ctx);
}

static int cpu_direct_create(const nn_model_t *model, int max_batch, const nn_options_t *opts, void **ctx) {
    return create(model, max_batch, opts, 0, ctx);
}

static int cpu_set_params(void *ctx, const float *params, const float *rms) {
    cpu_ctx_t *c = ctx;
    CHECK(c && params, "cpu: set_params");
    TRY(cpu_params_import(c, params, c->P));
    if (rms) TRY(cpu_params_import(c, rms, c->R));
    else memset(c->R, 0, c->n_int * sizeof(float));
    return 0;
}

static int cpu_get_params(void *ctx, float *params, float *rms) {
    cpu_ctx_t *c = ctx;
    CHECK(c, "cpu: get_params");
    if (params) TRY(cpu_params_export(c, c->P, params));
    if (rms) TRY(cpu_params_export(c, c->R, rms));
    return 0;
}

static void scale_input(cpu_ctx_t *c, const uint8_t *images, int n) {
    ref_scale_u8(images, c->in.ptr, (size_t)n * c->m.in_h * c->m.in_w * c->m.in_c);
}

/* The forward pass over the n images already scaled into c->in. */
static int forward(cpu_ctx_t *c, int n, int training, uint64_t seed) {
    const nn_model_t *m = &c->m;
    c->last_n = n;
    for (int i = 0; i < m->n_layers; i++) {
        switch (m->layers[i].type) {
        case NN_CONV2D: TRY(cpu_conv2d_forward(c, i)); break;
        case NN_MAXPOOL2D: TRY(cpu_maxpool_forward(c, i)); break;
        case NN_DENSE: TRY(cpu_dense_forward(c, i)); break;
        case NN_FLATTEN: TRY(cpu_flatten_forward(c, i)); break;
        case NN_DROPOUT: TRY(cpu_dropout_forward(c, i, n, training, seed)); break;
        }
    }
    const cpu_layer_t *last = &c->layers[m->n_layers - 1];
    for (int b = 0; b < n; b++) c->logits[b] = last->y.ptr[(size_t)b * last->img_stride];
    return 0;
}

static int backward(cpu_ctx_t *c, int n, uint64_t seed) {
    const nn_model_t *m = &c->m;
    cpu_layer_t *last = &c->layers[m->n_layers - 1];
    memset(last->dy.ptr, 0, cpu_md_floats(&last->dy.md) * sizeof(float));
    for (int b = 0; b < n; b++) last->dy.ptr[(size_t)b * last->img_stride] = c->dlogits[b];
    for (int i = m->n_layers - 1; i >= 0; i--) {
        switch (m->layers[i].type) {
        case NN_CONV2D: TRY(cpu_conv2d_backward(c, i)); break;
        case NN_MAXPOOL2D: TRY(cpu_maxpool_backward(c, i)); break;
        case NN_DENSE: TRY(cpu_dense_backward(c, i)); break;
        case NN_FLATTEN: TRY(cpu_flatten_backward(c, i)); break;
        case NN_DROPOUT: TRY(cpu_dropout_backward(c, i, n, seed)); break;
        }
    }
    return 0;
}

static int cpu_predict(void *ctx, const uint8_t *images, int n, float *logits) {
    cpu_ctx_t *c = ctx;
    CHECK(c && images && logits, "cpu: predict");
    TRY(nn_check_batch("cpu", n, c->max_batch));
    scale_input(c, images, n);
    TRY(forward(c, n, 0, 0));
    memcpy(logits, c->logits, sizeof(float) * n);
    return 0;
}

static int cpu_stage(void *ctx, const uint8_t *images, const float *labels, int n, uint64_t dropout_seed) {
    cpu_ctx_t *c = ctx;
    CHECK(c, "cpu: stage");
    return nn_staged_put("cpu", &c->staged, c->max_batch, images, labels, n, dropout_seed, c->in.ptr,
                         (size_t)c->m.in_h * c->m.in_w * c->m.in_c);
}

/* Forward, loss and backward of the staged batch, which it consumes; returns its size or -1. */
static int train_staged(cpu_ctx_t *c, nn_stats_t *stats) {
    int n = nn_staged_take("cpu", &c->staged);
    if (n < 0) return -1;
    TRY(forward(c, n, 1, c->staged.seed));
    nn_loss_stats(c->logits, c->staged.labels, n, c->dlogits, stats);
    TRY(backward(c, n, c->staged.seed));
    return n;
}

static int cpu_forward_backward(void *ctx, const uint8_t *images, const float *labels, int n,
                                uint64_t dropout_seed, nn_stats_t *stats) {
    TRY(cpu_stage(ctx, images, labels, n, dropout_seed));
    return train_staged(ctx, stats) < 0 ? -1 : 0;
}

static int cpu_get_grads(void *ctx, float *grads) {
    cpu_ctx_t *c = ctx;
    CHECK(c && grads, "cpu: get_grads");
    TRY(cpu_params_export(c, c->G, grads));
    return 0;
}

static int cpu_update(void *ctx, double learning_rate) {
    cpu_ctx_t *c = ctx;
    CHECK(c, "cpu: update");
    cpu_rmsprop(c, learning_rate);
    return 0;
}

static int cpu_layer_output(void *ctx, int layer, float *out) {
    cpu_ctx_t *c = ctx;
    CHECK(c && out, "cpu: layer_output");
    TRY(nn_check_layer_output("cpu", &c->m, layer, c->last_n));
    cpu_layer_t *l = &c->layers[layer];
    size_t size = nn_layer_out_size(l->spec);
    for (int b = 0; b < c->last_n; b++) {
        const float *src = l->y.ptr + (size_t)b * l->img_stride;
        if (l->plain) {
            memcpy(out + b * size, src, sizeof(float) * size);
            continue;
        }
        DNNL_TRY(dnnl_memory_set_data_handle(l->out_src, (void *)src));
        DNNL_TRY(dnnl_memory_set_data_handle(l->out_dst, out + b * size));
        TRY(cpu_run(c, &l->out_op));
    }
    /* the output layer keeps logits; its output after the activation is the sigmoid of them */
    if (layer == c->m.n_layers - 1 && l->spec->act == NN_ACT_SIGMOID)
        ref_sigmoid_forward(out, (size_t)c->last_n * size);
    return 0;
}

static int cpu_step(void *ctx, double learning_rate) {
    cpu_ctx_t *c = ctx;
    CHECK(c, "cpu: step");
    nn_stats_t st;
    int n = train_staged(c, &st);
    if (n < 0) return -1;
    cpu_rmsprop(c, learning_rate);
    nn_sums_add(&c->staged.sums, &st, n);
    return 0;
}

static int cpu_sums(void *ctx, nn_sums_t *out, int reset) {
    cpu_ctx_t *c = ctx;
    CHECK(c, "cpu: sums");
    nn_sums_read(&c->staged.sums, out, reset);
    return 0;
}

static void cpu_describe(void *ctx, char *buf, size_t cap) {
    cpu_ctx_t *c = ctx;
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, cap, "oneDNN %d.%d.%d, %s convolutions, fp32", v->major, v->minor, v->patch,
             c && c->winograd ? "Winograd where they fit, else direct" : "direct");
}

#define CPU_OPS                                   \
    .device = "cpu",                              \
    .destroy = cpu_destroy,                       \
    .describe = cpu_describe,                     \
    .set_params = cpu_set_params,                 \
    .get_params = cpu_get_params,                 \
    .predict = cpu_predict,                       \
    .forward_backward = cpu_forward_backward,     \
    .get_grads = cpu_get_grads,                   \
    .update = cpu_update,                         \
    .stage = cpu_stage,                           \
    .step = cpu_step,                             \
    .sums = cpu_sums,                             \
    .layer_output = cpu_layer_output

const nn_backend_t nn_backend_cpu = {.name = "cpu", .create = cpu_create, CPU_OPS};
const nn_backend_t nn_backend_cpu_direct = {.name = "cpu-direct", .create = cpu_direct_create, CPU_OPS};
