/* net.cu: the "cuda" backend table: create/destroy, the whole-network passes (the twins of nn/ref/net.c,
 * layer by layer on cuDNN, cuBLAS and our kernels), and the training loop's pipelined calls: a staged
 * batch is uploaded from pinned memory on its own stream while the previous step computes, and the
 * step itself (scale, forward, loss, backward, update) is captured once per staging slot as a CUDA
 * graph and replayed. Everything is allocated in create(); a step allocates nothing and waits for
 * nothing on the host. The layouts and the short-batch rule are in net.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "nn/backend_check.h"
#include "nn/backends.h"
#include "nn/cuda/net.h"
#include "nn/ops.h"
#include "nn/ref/kernels.h"

#define BLAS_WORKSPACE (32u << 20)   /* cuBLAS's own, set once so that captured products allocate nothing */
#define FIND_WORKSPACE_MAX ((size_t)2 << 30)   /* the most workspace an algorithm may need            */

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

static size_t image_bytes(const cuda_ctx_t *c) { return (size_t)c->m.in_h * c->m.in_w * c->m.in_c; }

/* ---- create / destroy ------------------------------------------------------------------------ */

static void cuda_destroy(void **ctx) {
    if (!ctx || !*ctx) return;
    cuda_ctx_t *c = (cuda_ctx_t *)*ctx;
    if (c->compute) cudaStreamSynchronize(c->compute);
    if (c->copy) cudaStreamSynchronize(c->copy);
    for (int i = 0; i < c->m.n_layers; i++) {
        cuda_layer_t *l = &c->layers[i];
        cuda_conv2d_destroy(l);
        if (l->spec && l->spec->type != NN_FLATTEN) cudaFree(l->y);
    }
    for (int s = 0; s < CUDA_SLOTS; s++) {
        cuda_slot_t *slot = &c->slots[s];
        if (slot->graph) cudaGraphExecDestroy(slot->graph);
        if (slot->copied) cudaEventDestroy(slot->copied);
        if (slot->used) cudaEventDestroy(slot->used);
        if (slot->t0) cudaEventDestroy(slot->t0);
        if (slot->t1) cudaEventDestroy(slot->t1);
        cudaFreeHost(slot->host);
        cudaFree(slot->dev);
    }
    if (c->blas) cublasDestroy(c->blas);   /* the handles before the workspaces they were given */
    if (c->dnn) cudnnDestroy(c->dnn);
    void *dev[] = {c->P, c->G, c->R, c->input, c->grad_a, c->grad_b, c->partial, c->ws, c->lr, c->stats, c->blas_ws};
    for (size_t k = 0; k < sizeof dev / sizeof dev[0]; k++) cudaFree(dev[k]);
    cudaFreeHost(c->stats_host);
    cudaFreeHost(c->host_params);
    cudaFreeHost(c->host_logits);
    if (c->compute) cudaStreamDestroy(c->compute);
    if (c->copy) cudaStreamDestroy(c->copy);
    free(c);
    *ctx = NULL;
}

/* Beyond nn_check_create: the layer types and activations the passes below run, one logit from a
 * dense layer, and the batch the loss kernel holds. */
static int check_model(const nn_model_t *m, int max_batch) {
    CHECK(max_batch <= CUDA_MAX_BATCH, "cuda: batch of %d (max %d)", max_batch, CUDA_MAX_BATCH);
    size_t biggest = (size_t)m->in_h * m->in_w * m->in_c;
    for (int i = 0; i < m->n_layers; i++)
        if (nn_layer_out_size(&m->layers[i]) > biggest) biggest = nn_layer_out_size(&m->layers[i]);
    /* cuDNN's convolutions count a tensor's elements in 32 bits */
    CHECK((size_t)max_batch * biggest <= (size_t)INT32_MAX, "cuda: batch of %d: a layer of %zu values per image "
          "would exceed cuDNN's 2^31 elements a tensor (at most %zu images)", max_batch, biggest,
          (size_t)INT32_MAX / biggest);
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer_t *l = &m->layers[i];
        CHECK(l->type >= NN_CONV2D && l->type <= NN_DROPOUT, "cuda: layer %s: unknown type %d", l->name, (int)l->type);
        CHECK(l->act == NN_ACT_NONE || l->act == NN_ACT_RELU || l->act == NN_ACT_SIGMOID,
              "cuda: layer %s: unsupported activation", l->name);
        CHECK(l->type != NN_MAXPOOL2D || l->pool > 0, "cuda: layer %s: pool size %d", l->name, l->pool);
    }
    const nn_layer_t *last = &m->layers[m->n_layers - 1];
    CHECK(last->type == NN_DENSE && last->units == 1, "cuda: the output layer %s must be a dense layer of one unit",
          last->name);
    return 0;
}

static int dev_alloc(void **p, size_t bytes) {
    CUDA_TRY(cudaMalloc(p, bytes ? bytes : 256));
    CUDA_TRY(cudaMemset(*p, 0, bytes ? bytes : 256));
    return 0;
}

#define DEV_ALLOC(ptr, bytes) TRY(dev_alloc((void **)&(ptr), (bytes)))

static int host_alloc(void **p, size_t bytes) {
    CUDA_TRY(cudaHostAlloc(p, bytes ? bytes : 256, cudaHostAllocDefault));
    memset(*p, 0, bytes ? bytes : 256);
    return 0;
}

#define HOST_ALLOC(ptr, bytes) TRY(host_alloc((void **)&(ptr), (bytes)))

static int build_libraries(cuda_ctx_t *c) {
    CUDA_TRY(cudaSetDevice(0));
    /* Waiting host threads sleep instead of spinning: the trainer shares its cores with augmenters. */
    if (cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync) != cudaSuccess) {
        cudaGetLastError();
        LOG_D("cuda: the device was already in use; host waits keep its scheduling flags");
    }
    CUDA_TRY(cudaStreamCreateWithFlags(&c->compute, cudaStreamNonBlocking));
    CUDA_TRY(cudaStreamCreateWithFlags(&c->copy, cudaStreamNonBlocking));
    CUDNN_TRY(cudnnCreate(&c->dnn));
    CUDNN_TRY(cudnnSetStream(c->dnn, c->compute));
    CUBLAS_TRY(cublasCreate(&c->blas));
    CUBLAS_TRY(cublasSetStream(c->blas, c->compute));
    CUBLAS_TRY(cublasSetMathMode(c->blas, c->opts.precision == NN_PRECISION_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                                 : CUBLAS_DEFAULT_MATH));
    DEV_ALLOC(c->blas_ws, BLAS_WORKSPACE);
    CUBLAS_TRY(cublasSetWorkspace(c->blas, c->blas_ws, BLAS_WORKSPACE));
    return 0;
}

/* Every buffer a step touches, at its final size. */
static int build_buffers(cuda_ctx_t *c) {
    const nn_model_t *m = &c->m;
    size_t nb = (size_t)c->max_batch, np = m->n_params, biggest = 1, partials = 1;
    DEV_ALLOC(c->P, np * sizeof(float));
    DEV_ALLOC(c->G, np * sizeof(float));
    DEV_ALLOC(c->R, np * sizeof(float));
    DEV_ALLOC(c->input, nb * image_bytes(c) * sizeof(float));
    for (int i = 0; i < m->n_layers; i++) {
        cuda_layer_t *l = &c->layers[i];
        l->spec = &m->layers[i];
        l->act = i == m->n_layers - 1 ? (int)NN_ACT_NONE : (int)l->spec->act;
        l->y_count = nb * nn_layer_out_size(l->spec);
        if (nn_layer_out_size(l->spec) > biggest) biggest = nn_layer_out_size(l->spec);
        if (l->spec->type == NN_FLATTEN) l->y = i > 0 ? c->layers[i - 1].y : c->input;
        else DEV_ALLOC(l->y, l->y_count * sizeof(float));
        int f = l->spec->type == NN_CONV2D ? l->spec->filters : l->spec->type == NN_DENSE ? l->spec->units : 0;
        if (f > 0 && cuda_colsum_partials(l->y_count / f, f) > partials) partials = cuda_colsum_partials(l->y_count / f, f);
        /* a max-pool right after a ReLU takes that ReLU's gradient into its own backward */
        if (i > 0 && l->spec->type == NN_MAXPOOL2D && c->layers[i - 1].act == NN_ACT_RELU)
            c->layers[i - 1].act_in_next = 1;
    }
    DEV_ALLOC(c->grad_a, nb * biggest * sizeof(float));
    DEV_ALLOC(c->grad_b, nb * biggest * sizeof(float));
    DEV_ALLOC(c->partial, partials * sizeof(float));
    DEV_ALLOC(c->lr, sizeof(double));
    DEV_ALLOC(c->stats, sizeof(cuda_stats_t));
    HOST_ALLOC(c->stats_host, sizeof(cuda_stats_t));
    HOST_ALLOC(c->host_params, np * sizeof(float));
    HOST_ALLOC(c->host_logits, nb * sizeof(float));
    c->labels_off = align256(sizeof(cuda_hdr_t));
    c->images_off = c->labels_off + align256(nb * sizeof(float));
    c->slot_bytes = c->images_off + nb * image_bytes(c);
    for (int s = 0; s < CUDA_SLOTS; s++) {
        cuda_slot_t *slot = &c->slots[s];
        HOST_ALLOC(slot->host, c->slot_bytes);
        DEV_ALLOC(slot->dev, c->slot_bytes);
        /* the host waits for `used` (stage) and `t1` (last_step_ms) sleeping, not spinning */
        CUDA_TRY(cudaEventCreateWithFlags(&slot->copied, cudaEventDisableTiming));
        CUDA_TRY(cudaEventCreateWithFlags(&slot->used, cudaEventDisableTiming | cudaEventBlockingSync));
        CUDA_TRY(cudaEventCreate(&slot->t0));
        CUDA_TRY(cudaEventCreateWithFlags(&slot->t1, cudaEventBlockingSync));
    }
    return 0;
}

/* Each convolution's cuDNN descriptors and algorithms (cuDNN's heuristics, or with autotune timed on
 * the real buffers with a generous temporary workspace), then the one shared workspace the chosen
 * ones need. */
static int build_convolutions(cuda_ctx_t *c) {
    size_t free_b = 0, total_b = 0, need = 0;
    CUDA_TRY(cudaMemGetInfo(&free_b, &total_b));
    size_t cap = free_b / 4 < FIND_WORKSPACE_MAX ? free_b / 4 : FIND_WORKSPACE_MAX;
    void *tmp = NULL;   /* scratch for timing the algorithms (autotune) */
    if (c->opts.autotune) CUDA_TRY(cudaMalloc(&tmp, cap));
    int rc = 0;
    const float *x = c->input;
    for (int i = 0; i < c->m.n_layers && rc == 0; i++) {
        size_t layer_need = 0;
        if (c->layers[i].spec->type == NN_CONV2D) {
            rc = cuda_conv2d_build(c, i);
            if (rc == 0) rc = cuda_conv2d_choose(c, i, x, tmp, cap, &layer_need);
        }
        if (layer_need > need) need = layer_need;
        x = c->layers[i].y;
    }
    if (tmp) cudaFree(tmp);
    if (rc != 0) return -1;
    c->ws_size = need;
    DEV_ALLOC(c->ws, need);
    return 0;
}

static void describe_device(cuda_ctx_t *c) {
    char dev[200] = "";
    if (cuda_probe(dev, sizeof dev) != 0) snprintf(dev, sizeof dev, "CUDA device");
    int maj = 0, min = 0;
    cublasGetProperty(MAJOR_VERSION, &maj);
    cublasGetProperty(MINOR_VERSION, &min);
    snprintf(c->desc, sizeof c->desc, "%s, cuBLAS %d.%d; %s; convolution algorithms %s; training step %s", dev, maj,
             min,
             c->opts.precision == NN_PRECISION_TF32 ? "tf32 (tensor cores may round inputs to TF32)"
                                                    : "fp32 (FMA only, no TF32)",
             c->opts.autotune ? "timed" : "from cuDNN's heuristics",
             c->opts.no_graph ? "launched kernel by kernel" : "replayed as a CUDA graph");
}

static int cuda_create(const nn_model_t *model, int max_batch, const nn_options_t *opts, void **ctx) {
    TRY(nn_check_create("cuda", model, max_batch, ctx));
    TRY(nn_check_options("cuda", opts, 1));
    TRY(check_model(model, max_batch));
    char why[256];
    if (cuda_probe(why, sizeof why) != 0) {
        err_set("cuda: %s", why);
        return -1;
    }
    cuda_ctx_t *c = (cuda_ctx_t *)calloc(1, sizeof(*c));
    CHECK(c, "cuda: out of memory");
    c->m = *model;
    c->m.spec_text = NULL;
    c->max_batch = max_batch;
    if (opts) c->opts = *opts;
    c->staged = c->timed = -1;
    c->lr_set = NAN;
    /* the memsets of dev_alloc run on the legacy stream: done, and any fault reported, before use */
    if (build_libraries(c) != 0 || build_buffers(c) != 0 || build_convolutions(c) != 0 || cuda_sync() != 0) {
        void *p = c;
        cuda_destroy(&p);
        err_prepend("cuda: model %s, batch %d", model->name, max_batch);
        return -1;
    }
    describe_device(c);
    LOG_I("cuda: %s; %.1f MiB of cuDNN workspace", c->desc, c->ws_size / 1048576.0);
    *ctx = c;
    return 0;
}

static int cuda_available(char *why, size_t cap) {
    int rc = cuda_probe(why, cap);
    if (rc < 0) snprintf(why, cap, "%s", err_msg());
    return rc == 0;
}

static void cuda_describe(void *ctx, char *buf, size_t cap) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    snprintf(buf, cap, "%s", c ? c->desc : "cuDNN, cuBLAS and own kernels");
}

/* ---- the passes ------------------------------------------------------------------------------ */

/* Forward over all max_batch images of a staged slot (device memory: header, labels, images). */
static int forward(cuda_ctx_t *c, const unsigned char *slot, int training) {
    const cuda_hdr_t *hdr = (const cuda_hdr_t *)slot;
    TRY(cuda_scale_u8(slot + c->images_off, c->input, (size_t)c->max_batch * image_bytes(c), c->compute));
    const float *x = c->input;
    for (int i = 0; i < c->m.n_layers; i++) {
        cuda_layer_t *l = &c->layers[i];
        const nn_layer_t *s = l->spec;
        switch (s->type) {
        case NN_CONV2D: TRY(cuda_conv2d_forward(c, i, x)); break;
        case NN_MAXPOOL2D:
            TRY(cuda_maxpool_fwd(x, l->y, c->max_batch, s->in_h, s->in_w, s->in_c, s->pool, c->compute));
            break;
        case NN_FLATTEN: break;   /* NHWC memory is already in Keras' (h, w, c) order */
        case NN_DENSE: TRY(cuda_dense_forward(c, i, x)); break;
        case NN_DROPOUT: TRY(cuda_dropout(x, l->y, l->y_count, s->rate, hdr, (uint64_t)i, training, c->compute)); break;
        }
        x = l->y;
    }
    return 0;
}

/* Backward from the logit gradients in grad_a into G; needs the training forward of the same slot. */
static int backward(cuda_ctx_t *c, const unsigned char *slot) {
    const cuda_hdr_t *hdr = (const cuda_hdr_t *)slot;
    float *dy = c->grad_a, *dx = c->grad_b;   /* dy: gradient of the current layer's output */
    int last = c->m.n_layers - 1;
    for (int i = last; i >= 0; i--) {
        cuda_layer_t *l = &c->layers[i];
        const nn_layer_t *s = l->spec;
        const float *x = i > 0 ? c->layers[i - 1].y : c->input;
        float *dxi = i > 0 ? dx : NULL;   /* the first layer's input needs no gradient */
        int swap = 1;
        if (!l->act_in_next) TRY(cuda_act_grad(l->y, dy, l->y_count, l->act, c->compute));
        switch (s->type) {
        case NN_CONV2D: TRY(cuda_conv2d_backward(c, i, x, dy, dxi)); break;
        case NN_MAXPOOL2D:
            if (dxi)
                TRY(cuda_maxpool_bwd(x, l->y, dy, dxi, c->max_batch, s->in_h, s->in_w, s->in_c, s->pool,
                                     c->layers[i - 1].act_in_next, c->compute));
            break;
        case NN_FLATTEN: swap = 0; break;
        case NN_DENSE: TRY(cuda_dense_backward(c, i, x, dy, dxi)); break;
        case NN_DROPOUT:
            TRY(cuda_dropout(dy, dy, l->y_count, s->rate, hdr, (uint64_t)i, 1, c->compute));
            swap = 0;
            break;
        }
        if (swap) {
            float *t = dy;
            dy = dx;
            dx = t;
        }
    }
    return 0;
}

/* Forward, loss (into grad_a and the device statistics; the running sums only with `sum`, which
 * step() asks for and forward_backward does not, as on the CPU backends) and backward of a slot. */
static int train_pass(cuda_ctx_t *c, const unsigned char *slot, int sum) {
    TRY(forward(c, slot, 1));
    TRY(cuda_bce(c->layers[c->m.n_layers - 1].y, (const float *)(slot + c->labels_off), (const cuda_hdr_t *)slot,
                 c->max_batch, sum, c->grad_a, c->stats, c->compute));
    TRY(backward(c, slot));
    return 0;
}

static int set_lr(cuda_ctx_t *c, double lr) {
    if (lr != c->lr_set) {
        TRY(cuda_set_double(c->lr, lr, c->compute));
        c->lr_set = lr;
    }
    return 0;
}

static int rmsprop(cuda_ctx_t *c) {
    return cuda_rmsprop(c->P, c->G, c->R, c->m.n_params, c->lr, c->m.optim.rho, c->m.optim.epsilon, c->compute);
}

/* Header, labels (may be NULL: predict) and images of a batch into a slot's pinned buffer; returns the
 * bytes to upload (the n images, not the stale rest). */
static size_t fill_slot(cuda_ctx_t *c, int s, const uint8_t *images, const float *labels, int n, uint64_t seed) {
    unsigned char *h = c->slots[s].host;
    cuda_hdr_t hdr = {n, 0, seed};
    memcpy(h, &hdr, sizeof hdr);
    if (labels) memcpy(h + c->labels_off, labels, sizeof(float) * n);
    memcpy(h + c->images_off, images, (size_t)n * image_bytes(c));
    return c->images_off + (size_t)n * image_bytes(c);
}

/* ---- the synchronous calls (tests, the evaluator, tools): slot 0, waiting for the result -------- */

static int drain(cuda_ctx_t *c) {
    CUDA_TRY(cudaStreamSynchronize(c->copy));
    CUDA_TRY(cudaStreamSynchronize(c->compute));
    return 0;
}

static int upload_now(cuda_ctx_t *c, const uint8_t *images, const float *labels, int n, uint64_t seed) {
    CHECK(c->staged < 0, "cuda: a batch is staged: step() takes it before predict() or forward_backward()");
    TRY(drain(c));
    size_t bytes = fill_slot(c, 0, images, labels, n, seed);
    CUDA_TRY(cudaMemcpyAsync(c->slots[0].dev, c->slots[0].host, bytes, cudaMemcpyHostToDevice, c->compute));
    c->last_n = n;
    return 0;
}

static int cuda_set_params(void *ctx, const float *params, const float *rms) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    CHECK(c && params, "cuda: set_params");
    size_t bytes = sizeof(float) * c->m.n_params;
    TRY(drain(c));
    cuda_params_import(&c->m, params, c->host_params);
    CUDA_TRY(cudaMemcpyAsync(c->P, c->host_params, bytes, cudaMemcpyHostToDevice, c->compute));
    CUDA_TRY(cudaStreamSynchronize(c->compute));
    if (rms) {
        cuda_params_import(&c->m, rms, c->host_params);
        CUDA_TRY(cudaMemcpyAsync(c->R, c->host_params, bytes, cudaMemcpyHostToDevice, c->compute));
    } else {
        CUDA_TRY(cudaMemsetAsync(c->R, 0, bytes, c->compute));
    }
    CUDA_TRY(cudaStreamSynchronize(c->compute));
    return 0;
}

/* src: one of P, G, R -> dst in the model layout */
static int export_params(cuda_ctx_t *c, const float *src, float *dst) {
    CUDA_TRY(cudaMemcpyAsync(c->host_params, src, sizeof(float) * c->m.n_params, cudaMemcpyDeviceToHost, c->compute));
    CUDA_TRY(cudaStreamSynchronize(c->compute));
    cuda_params_export(&c->m, c->host_params, dst);
    return 0;
}

static int cuda_get_params(void *ctx, float *params, float *rms) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    CHECK(c, "cuda: get_params");
    TRY(drain(c));
    if (params) TRY(export_params(c, c->P, params));
    if (rms) TRY(export_params(c, c->R, rms));
    return 0;
}

static int cuda_get_grads(void *ctx, float *grads) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    CHECK(c && grads, "cuda: get_grads");
    TRY(drain(c));
    return export_params(c, c->G, grads);
}

static int cuda_predict(void *ctx, const uint8_t *images, int n, float *logits) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    CHECK(c && images && logits, "cuda: predict");
    TRY(nn_check_batch("cuda", n, c->max_batch));
    TRY(upload_now(c, images, NULL, n, 0));
    TRY(forward(c, c->slots[0].dev, 0));
    CUDA_TRY(cudaMemcpyAsync(c->host_logits, c->layers[c->m.n_layers - 1].y, sizeof(float) * n,
                             cudaMemcpyDeviceToHost, c->compute));
    CUDA_TRY(cudaStreamSynchronize(c->compute));
    memcpy(logits, c->host_logits, sizeof(float) * n);
    return 0;
}

static int cuda_forward_backward(void *ctx, const uint8_t *images, const float *labels, int n, uint64_t dropout_seed,
                                 nn_stats_t *stats) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    CHECK(c && images && labels, "cuda: forward_backward");
    TRY(nn_check_batch("cuda", n, c->max_batch));
    TRY(upload_now(c, images, labels, n, dropout_seed));
    TRY(train_pass(c, c->slots[0].dev, 0));
    CUDA_TRY(cudaMemcpyAsync(c->stats_host, c->stats, sizeof(cuda_stats_t), cudaMemcpyDeviceToHost, c->compute));
    CUDA_TRY(cudaStreamSynchronize(c->compute));
    if (stats) {
        stats->loss = c->stats_host->loss;
        stats->accuracy = c->stats_host->accuracy;
    }
    return 0;
}

static int cuda_update(void *ctx, double learning_rate) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    CHECK(c, "cuda: update");
    TRY(set_lr(c, learning_rate));
    TRY(rmsprop(c));
    CUDA_TRY(cudaStreamSynchronize(c->compute));
    return 0;
}

static int cuda_layer_output(void *ctx, int layer, float *out) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    CHECK(c && out, "cuda: layer_output");
    TRY(nn_check_layer_output("cuda", &c->m, layer, c->last_n));
    TRY(drain(c));
    const cuda_layer_t *l = &c->layers[layer];
    size_t count = (size_t)c->last_n * nn_layer_out_size(l->spec);
    CUDA_TRY(cudaMemcpy(out, l->y, sizeof(float) * count, cudaMemcpyDeviceToHost));
    /* the output layer keeps logits; its output after the activation is the sigmoid of them */
    if (layer == c->m.n_layers - 1 && l->spec->act == NN_ACT_SIGMOID) ref_sigmoid_forward(out, count);
    return 0;
}

/* ---- the training loop's calls: staged uploads, graphed steps --------------------------------- */

static int cuda_stage(void *ctx, const uint8_t *images, const float *labels, int n, uint64_t dropout_seed) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    CHECK(c, "cuda: stage");
    TRY(nn_check_stage("cuda", images, labels, n, c->max_batch));
    CHECK(c->staged < 0, "cuda: a batch is already staged (step() takes it)");
    int s = c->next_slot;
    cuda_slot_t *slot = &c->slots[s];
    /* The step that last read this slot (two steps ago, after its upload) must be done before the
     * slot is refilled: the host runs at most two steps ahead of the device, and the device has the
     * previous step to run meanwhile. */
    CUDA_TRY(cudaEventSynchronize(slot->used));
    size_t bytes = fill_slot(c, s, images, labels, n, dropout_seed);
    CUDA_TRY(cudaMemcpyAsync(slot->dev, slot->host, bytes, cudaMemcpyHostToDevice, c->copy));
    CUDA_TRY(cudaEventRecord(slot->copied, c->copy));
    c->staged = s;
    c->next_slot = (s + 1) % CUDA_SLOTS;
    c->last_n = n;
    return 0;
}

/* Capture the training step of slot s (train_pass + update) as a graph, once. Every kernel has run
 * eagerly before (the first step), so capture loads no module and allocates nothing. */
static int capture(cuda_ctx_t *c, int s) {
    cuda_slot_t *slot = &c->slots[s];
    cudaGraph_t g = NULL;
    CUDA_TRY(cudaStreamBeginCapture(c->compute, cudaStreamCaptureModeThreadLocal));
    int rc = train_pass(c, slot->dev, 1) == 0 && rmsprop(c) == 0 ? 0 : -1;
    cudaError_t e = cudaStreamEndCapture(c->compute, &g);
    if (rc != 0) {
        if (g) cudaGraphDestroy(g);
        err_prepend("cuda: capturing the training step");
        return -1;
    }
    CUDA_TRY(e);
    e = cudaGraphInstantiate(&slot->graph, g, 0);
    cudaGraphDestroy(g);
    CUDA_TRY(e);
    LOG_D("cuda: training step captured as a CUDA graph (slot %d)", s);
    return 0;
}

static int cuda_step(void *ctx, double learning_rate) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    CHECK(c, "cuda: step");
    int s = c->staged;
    CHECK(s >= 0, "cuda: a training step with no batch staged");
    cuda_slot_t *slot = &c->slots[s];
    c->staged = -1;
    TRY(set_lr(c, learning_rate));
    CUDA_TRY(cudaStreamWaitEvent(c->compute, slot->copied, 0));
    CUDA_TRY(cudaEventRecord(slot->t0, c->compute));
    if (c->opts.no_graph || c->eager_steps < 1) {
        TRY(train_pass(c, slot->dev, 1));
        TRY(rmsprop(c));
        c->eager_steps++;
    } else {
        if (!slot->graph) TRY(capture(c, s));
        CUDA_TRY(cudaGraphLaunch(slot->graph, c->compute));
    }
    CUDA_TRY(cudaEventRecord(slot->t1, c->compute));
    CUDA_TRY(cudaEventRecord(slot->used, c->compute));
    c->timed = s;
    return 0;
}

static int cuda_sums(void *ctx, nn_sums_t *out, int reset) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    CHECK(c, "cuda: sums");
    CUDA_TRY(cudaMemcpyAsync(c->stats_host, c->stats, sizeof(cuda_stats_t), cudaMemcpyDeviceToHost, c->compute));
    CUDA_TRY(cudaStreamSynchronize(c->compute));
    if (out) {
        out->loss_sum = c->stats_host->loss_sum;
        out->correct = c->stats_host->correct;
        out->images = c->stats_host->images;
        out->steps = c->stats_host->steps;
    }
    if (reset) CUDA_TRY(cudaMemsetAsync(&c->stats->loss_sum, 0, 4 * sizeof(double), c->compute));
    return 0;
}

static int cuda_last_step_ms(void *ctx, double *ms) {
    cuda_ctx_t *c = (cuda_ctx_t *)ctx;
    CHECK(c && ms, "cuda: last_step_ms");
    CHECK(c->timed >= 0, "cuda: no step to time yet");
    cuda_slot_t *slot = &c->slots[c->timed];
    float t = 0.0f;
    CUDA_TRY(cudaEventSynchronize(slot->t1));
    CUDA_TRY(cudaEventElapsedTime(&t, slot->t0, slot->t1));
    *ms = t;
    return 0;
}

extern "C" const nn_backend_t nn_backend_cuda = {
    .name = "cuda",
    .device = "gpu",
    .available = cuda_available,
    .create = cuda_create,
    .destroy = cuda_destroy,
    .describe = cuda_describe,
    .set_params = cuda_set_params,
    .get_params = cuda_get_params,
    .predict = cuda_predict,
    .forward_backward = cuda_forward_backward,
    .get_grads = cuda_get_grads,
    .update = cuda_update,
    .stage = cuda_stage,
    .step = cuda_step,
    .sums = cuda_sums,
    .last_step_ms = cuda_last_step_ms,
    .layer_output = cuda_layer_output,
};
