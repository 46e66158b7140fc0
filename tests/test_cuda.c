/* test_cuda.c (label gpu): the cuda backend's own kernels one by one against the reference kernels
 * on random data, then the backend as a whole: three RMSprop steps of model2 at full size against the
 * cpu backend, the graphed training step against the kernel-by-kernel one (bit for bit), tf32 and
 * autotuned algorithms within their tolerances, and refusals of what it cannot run. Skips (exit 77) with the reason on a
 * machine without a usable GPU.
 *
 * Bit-for-bit where the GPU runs the reference's own formulas in the same order (nn/ops.h; the CUDA
 * code is compiled without FMA contraction): scaling, bias + ReLU, activation gradients, dropout,
 * pooling, RMSprop. The loss uses exp and log1p in double, whose last bit may differ between the
 * device's and the C library's: within 1e-12 relative. Column sums and whole-network results add in
 * other orders: the tolerances of test_backend_parity. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/rng.h"
#include "nn/backend.h"
#include "nn/cuda/cuda.h"
#include "nn/ops.h"
#include "nn/ref/kernels.h"
#include "test.h"

static int have_gpu;
static const char *src_dir = ".";

static void fill(float *a, size_t n, uint64_t stream, float lo, float hi) {
    rng_t r;
    rng_init(&r, 0x637564610aULL, stream);
    for (size_t i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng_uniform_f(&r);
}

static void fill_levels(float *a, size_t n, uint64_t stream) {
    rng_t r;
    rng_init(&r, 0x637564610aULL, stream);
    for (size_t i = 0; i < n; i++) a[i] = (float)((int)(rng_u32(&r) % 5) - 1) * 0.5f;
}

/* A device copy of a host array, and back. */
static void *to_dev(const void *src, size_t bytes) {
    void *d = NULL;
    if (cuda_alloc(&d, bytes ? bytes : 4) != 0) return NULL;
    if (bytes && src && cuda_copy_to_device(d, src, bytes) != 0) {
        cuda_free(d);
        return NULL;
    }
    return d;
}

static int from_dev(void *dst, const void *d, size_t bytes) { return cuda_sync() || cuda_copy_to_host(dst, d, bytes); }

TEST(probe) {
    char desc[256];
    int rc = cuda_probe(desc, sizeof desc);
    REQUIRE(rc >= 0);
    if (rc == 1) SKIP("%s", desc);
    have_gpu = 1;
    printf("device: %s\n", desc);
}

#define NEED_GPU() \
    if (!have_gpu) SKIP("no usable CUDA device")

TEST(scale_equals_reference) {
    NEED_GPU();
    enum { N = 150 * 150 * 3 * 20 };
    uint8_t *src = malloc(N);
    float *want = malloc(N * sizeof(float)), *got = malloc(N * sizeof(float));
    REQUIRE(src && want && got);
    for (int i = 0; i < N; i++) src[i] = (uint8_t)(i * 131 + 7);
    ref_scale_u8(src, want, N);
    void *d_src = to_dev(src, N), *d_dst = to_dev(NULL, N * sizeof(float));
    REQUIRE(d_src && d_dst);
    REQUIRE(cuda_scale_u8(d_src, d_dst, N, 0) == 0);
    REQUIRE(from_dev(got, d_dst, N * sizeof(float)) == 0);
    EXPECT(memcmp(want, got, N * sizeof(float)) == 0);
    cuda_free(d_src), cuda_free(d_dst);
    free(src), free(want), free(got);
}

TEST(bias_act_and_gradients_equal_reference) {
    NEED_GPU();
    enum { ROWS = 3001, F = 32, N = ROWS * F };
    float *y = malloc(N * 4), *b = malloc(F * 4), *want = malloc(N * 4), *got = malloc(N * 4), *dy = malloc(N * 4);
    REQUIRE(y && b && want && got && dy);
    fill(y, N, 1, -2, 2);
    fill(b, F, 2, -0.5f, 0.5f);
    fill(dy, N, 3, -1, 1);
    for (int act = OP_ACT_NONE; act <= OP_ACT_SIGMOID; act++) {
        for (int i = 0; i < N; i++) want[i] = y[i] + b[i % F];
        if (act == OP_ACT_RELU) ref_relu_forward(want, N);
        if (act == OP_ACT_SIGMOID) ref_sigmoid_forward(want, N);
        float *d_y = to_dev(y, N * 4), *d_b = to_dev(b, F * 4);
        REQUIRE(d_y && d_b);
        REQUIRE(cuda_bias_act(d_y, d_b, N, F, act, 0) == 0);
        REQUIRE(from_dev(got, d_y, N * 4) == 0);
        if (act == OP_ACT_SIGMOID)   /* exp in double on either side: the last bit may differ */
            for (int i = 0; i < N; i++) EXPECT_NEAR(got[i], want[i], 0, 1e-6);
        else
            EXPECT(memcmp(want, got, N * 4) == 0);
        /* the gradient through the activation, from its output */
        float *d_out = to_dev(want, N * 4), *d_dy = to_dev(dy, N * 4);
        REQUIRE(d_out && d_dy);
        REQUIRE(cuda_act_grad(d_out, d_dy, N, act, 0) == 0);
        REQUIRE(from_dev(got, d_dy, N * 4) == 0);
        float *g = malloc(N * 4);
        REQUIRE(g);
        memcpy(g, dy, N * 4);
        if (act == OP_ACT_RELU) ref_relu_backward(want, g, N);
        if (act == OP_ACT_SIGMOID) ref_sigmoid_backward(want, g, N);
        EXPECT(memcmp(g, got, N * 4) == 0);
        free(g);
        cuda_free(d_y), cuda_free(d_b), cuda_free(d_out), cuda_free(d_dy);
    }
    free(y), free(b), free(want), free(got), free(dy);
}

TEST(dropout_equals_reference) {
    NEED_GPU();
    enum { N = 20 * 6272 };
    float *x = malloc(N * 4), *want = malloc(N * 4), *got = malloc(N * 4);
    REQUIRE(x && want && got);
    fill(x, N, 4, -1, 1);
    cuda_hdr_t hdr = {20, 0, 0x5eed5eed1234ULL};
    cuda_hdr_t *d_hdr = to_dev(&hdr, sizeof hdr);
    float *d_x = to_dev(x, N * 4), *d_y = to_dev(NULL, N * 4);
    REQUIRE(d_hdr && d_x && d_y);
    memcpy(want, x, N * 4);
    ref_dropout_forward(want, N, 0.5, hdr.seed, 7);
    REQUIRE(cuda_dropout(d_x, d_y, N, 0.5, d_hdr, 7, 1, 0) == 0);
    REQUIRE(from_dev(got, d_y, N * 4) == 0);
    EXPECT(memcmp(want, got, N * 4) == 0);
    REQUIRE(cuda_dropout(d_x, d_y, N, 0.5, d_hdr, 7, 0, 0) == 0);   /* inference: a copy */
    REQUIRE(from_dev(got, d_y, N * 4) == 0);
    EXPECT(memcmp(x, got, N * 4) == 0);
    cuda_free(d_hdr), cuda_free(d_x), cuda_free(d_y);
    free(x), free(want), free(got);
}

TEST(maxpool_equals_reference) {
    NEED_GPU();
    int n = 20, h = 148, w = 147, c = 32, p = 2;   /* odd width: the floor mode's dropped column */
    size_t nx = (size_t)n * h * w * c, ny = (size_t)n * (h / p) * (w / p) * c;
    float *x = malloc(nx * 4), *y = malloc(ny * 4), *dy = malloc(ny * 4), *want = malloc(nx * 4), *got = malloc(nx * 4);
    REQUIRE(x && y && dy && want && got);
    fill_levels(x, nx, 5);
    fill(dy, ny, 6, -1, 1);
    ref_maxpool_forward(x, y, n, h, w, c, p);
    float *d_x = to_dev(x, nx * 4), *d_y = to_dev(NULL, ny * 4), *d_dy = to_dev(dy, ny * 4), *d_dx = to_dev(NULL, nx * 4);
    REQUIRE(d_x && d_y && d_dy && d_dx);
    REQUIRE(cuda_maxpool_fwd(d_x, d_y, n, h, w, c, p, 0) == 0);
    REQUIRE(from_dev(got, d_y, ny * 4) == 0);
    EXPECT(memcmp(y, got, ny * 4) == 0);
    for (int relu = 0; relu < 2; relu++) {
        ref_maxpool_backward(x, y, dy, want, n, h, w, c, p);
        if (relu) ref_relu_backward(x, want, nx);
        REQUIRE(cuda_maxpool_bwd(d_x, d_y, d_dy, d_dx, n, h, w, c, p, relu, 0) == 0);
        REQUIRE(from_dev(got, d_dx, nx * 4) == 0);
        EXPECT(memcmp(want, got, nx * 4) == 0);
    }
    cuda_free(d_x), cuda_free(d_y), cuda_free(d_dy), cuda_free(d_dx);
    free(x), free(y), free(dy), free(want), free(got);
}

TEST(colsum_equals_double_sum) {
    NEED_GPU();
    size_t rows = 20 * 148 * 148;
    int f = 32;
    float *a = malloc(rows * f * 4), out[32];
    REQUIRE(a);
    fill(a, rows * f, 7, -1, 1);
    float *d_a = to_dev(a, rows * f * 4), *d_p = to_dev(NULL, cuda_colsum_partials(rows, f) * 4), *d_out = to_dev(NULL, f * 4);
    REQUIRE(d_a && d_p && d_out);
    REQUIRE(cuda_colsum(d_a, rows, f, d_p, d_out, 0) == 0);
    REQUIRE(from_dev(out, d_out, f * 4) == 0);
    for (int col = 0; col < f; col++) {
        double s = 0, mag = 0;
        for (size_t r = 0; r < rows; r++) s += a[r * f + col], mag += fabs(a[r * f + col]);
        EXPECT(fabs(out[col] - s) <= 1e-6 * mag);
    }
    cuda_free(d_a), cuda_free(d_p), cuda_free(d_out);
    free(a);
}

TEST(loss_equals_reference) {
    NEED_GPU();
    enum { MAXB = 256 };
    float logits[MAXB], labels[MAXB], want[MAXB], got[MAXB];
    fill(logits, MAXB, 8, -30, 30);   /* large |z| too: the stable form */
    for (int i = 0; i < MAXB; i++) labels[i] = (float)(i % 3 == 0);
    int n = 250;   /* a short batch: dlogits past n are 0 */
    double acc = 0, loss = ref_sigmoid_bce(logits, labels, n, want, &acc);
    cuda_hdr_t hdr = {n, 0, 0};
    cuda_stats_t zero, st;
    memset(&zero, 0, sizeof zero);
    void *d_logits = to_dev(logits, sizeof logits), *d_labels = to_dev(labels, sizeof labels);
    void *d_hdr = to_dev(&hdr, sizeof hdr), *d_st = to_dev(&zero, sizeof zero), *d_dl = to_dev(NULL, sizeof got);
    REQUIRE(d_logits && d_labels && d_hdr && d_st && d_dl);
    REQUIRE(cuda_bce(d_logits, d_labels, d_hdr, MAXB, 1, d_dl, d_st, 0) == 0);
    REQUIRE(cuda_bce(d_logits, d_labels, d_hdr, MAXB, 1, d_dl, d_st, 0) == 0);   /* twice: the sums add up */
    REQUIRE(cuda_bce(d_logits, d_labels, d_hdr, MAXB, 0, d_dl, d_st, 0) == 0);   /* without sum: they stay */
    REQUIRE(from_dev(got, d_dl, sizeof got) == 0 && from_dev(&st, d_st, sizeof st) == 0);
    for (int i = 0; i < n; i++) EXPECT_NEAR(got[i], want[i], 0, 1e-6);
    for (int i = n; i < MAXB; i++) EXPECT(got[i] == 0.0f);
    EXPECT_NEAR(st.loss, loss, 0, 1e-12);
    EXPECT(st.accuracy == acc);
    EXPECT_NEAR(st.loss_sum, 2 * loss * n, 0, 1e-12);
    EXPECT(st.images == 2 * n && st.steps == 2);
    cuda_free(d_logits), cuda_free(d_labels), cuda_free(d_hdr), cuda_free(d_st), cuda_free(d_dl);
}

TEST(rmsprop_equals_reference) {
    NEED_GPU();
    enum { N = 1 << 20 };
    float *p = malloc(N * 4), *g = malloc(N * 4), *r = malloc(N * 4), *got = malloc(N * 4);
    REQUIRE(p && g && r && got);
    fill(p, N, 9, -0.1f, 0.1f);
    fill(g, N, 10, -1e-2f, 1e-2f);
    fill(r, N, 11, 0, 1e-4f);
    float *d_p = to_dev(p, N * 4), *d_g = to_dev(g, N * 4), *d_r = to_dev(r, N * 4);
    double lr = 1e-4, *d_lr = to_dev(NULL, sizeof(double));
    REQUIRE(d_p && d_g && d_r && d_lr);
    REQUIRE(cuda_set_double(d_lr, lr, 0) == 0);
    REQUIRE(cuda_rmsprop(d_p, d_g, d_r, N, d_lr, 0.9, 1e-7, 0) == 0);
    ref_rmsprop(p, g, r, N, lr, 0.9, 1e-7);
    REQUIRE(from_dev(got, d_p, N * 4) == 0);
    EXPECT(memcmp(p, got, N * 4) == 0);
    REQUIRE(from_dev(got, d_r, N * 4) == 0);
    EXPECT(memcmp(r, got, N * 4) == 0);
    cuda_free(d_p), cuda_free(d_g), cuda_free(d_r), cuda_free(d_lr);
    free(p), free(g), free(r), free(got);
}

/* |a - b| <= tol * max|b| per tensor of the model (as test_backend_parity). */
static int tensors_close(const nn_model_t *m, const float *a, const float *b, double tol, const char *what) {
    nn_param_view_t v[NN_MAX_PARAM_VIEWS];
    int nv = nn_param_views(m, v, NN_MAX_PARAM_VIEWS), ok = 1;
    for (int k = 0; k < nv; k++) {
        double scale = 0, worst = 0;
        for (size_t i = 0; i < v[k].count; i++) scale = fmax(scale, fabs(b[v[k].offset + i]));
        for (size_t i = 0; i < v[k].count; i++) {
            double d = fabs((double)a[v[k].offset + i] - b[v[k].offset + i]);
            if (!(d <= worst)) worst = d;   /* NaN counts as the worst */
        }
        int good = worst <= tol * (scale > 0 ? scale : 1e-30);
        if (!good || getenv("PARITY_VERBOSE"))
            fprintf(stderr, "  %s %s: max|ref| %.3g, max err %.3g (%.3g of the bound)%s\n", what, v[k].name, scale,
                    worst, worst / (tol * scale), good ? "" : "  <-- FAIL");
        ok &= good;
    }
    return ok;
}

typedef struct {
    nn_model_t m;
    int batch;
    uint8_t *images;   /* STEPS batches */
    float *labels, *params;
} run_data_t;

#define STEPS 3

static int run_data(run_data_t *d, int batch) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/model2.ini", src_dir);
    TRY(nn_model_load(path, &d->m));
    d->batch = batch;
    size_t img = (size_t)d->m.in_h * d->m.in_w * d->m.in_c * batch;
    d->images = malloc(img * STEPS);
    d->labels = malloc(sizeof(float) * batch);
    d->params = malloc(sizeof(float) * d->m.n_params);
    CHECK(d->images && d->labels && d->params, "out of memory");
    rng_t r;
    rng_init(&r, 0x6d6f64656c32ULL, 0);
    for (size_t i = 0; i < img * STEPS; i++) d->images[i] = (uint8_t)(rng_u32(&r) >> 24);
    for (int i = 0; i < batch; i++) d->labels[i] = (float)(rng_u32(&r) >> 31);
    nn_init_params(&d->m, 3, d->params);
    return 0;
}

static void run_data_free(run_data_t *d) {
    free(d->images), free(d->labels), free(d->params);
    nn_model_free(&d->m);
}

/* The outcome of STEPS staged training steps (the last one a short batch) from the same start. */
typedef struct {
    float *params, *rms;
    nn_sums_t sums;
} outcome_t;

static void outcome_free(outcome_t *o) {
    free(o->params), free(o->rms);
    o->params = o->rms = NULL;
}

static int train(outcome_t *o, const char *backend, const nn_options_t *opts, const run_data_t *d) {
    o->params = malloc(sizeof(float) * d->m.n_params);
    o->rms = malloc(sizeof(float) * d->m.n_params);
    CHECK(o->params && o->rms, "out of memory");
    const nn_backend_t *be = NULL;
    void *ctx = NULL;
    TRY(nn_backend_open(backend, &d->m, d->batch, opts, &be, &ctx));
    size_t img = (size_t)d->m.in_h * d->m.in_w * d->m.in_c * d->batch;
    int rc = be->set_params(ctx, d->params, NULL);
    for (int s = 0; s < STEPS && rc == 0; s++) {
        int n = s == STEPS - 1 ? d->batch - 3 : d->batch;
        rc = be->stage(ctx, d->images + img * s, d->labels, n, rng_derive(11, (uint64_t)s));
        if (rc == 0) rc = be->step(ctx, d->m.optim.learning_rate);
    }
    if (rc == 0) rc = be->sums(ctx, &o->sums, 1);
    if (rc == 0) rc = be->get_params(ctx, o->params, o->rms);
    be->destroy(&ctx);
    return rc;
}

/* The parameter changes of two outcomes (and their RMSprop state) within tol of each tensor's scale. */
static int changes_close(const run_data_t *d, outcome_t *a, outcome_t *b, double tol, int rms, const char *what) {
    for (size_t i = 0; i < d->m.n_params; i++) a->params[i] -= d->params[i], b->params[i] -= d->params[i];
    char label[96];
    snprintf(label, sizeof label, "%s: param change", what);
    int ok = tensors_close(&d->m, a->params, b->params, tol, label);
    snprintf(label, sizeof label, "%s: rms", what);
    return ok & (!rms || tensors_close(&d->m, a->rms, b->rms, tol, label));
}

/* Model 2 at 150 x 150, batch 20, three RMSprop steps (dropout on): cuda against cpu, within the
 * tolerances of test_backend_parity. */
TEST(model2_three_steps_against_cpu) {
    NEED_GPU();
    if (!nn_backend_find("cpu")) SKIP("this build has no cpu backend to compare with (%s)", nn_backend_names());
    run_data_t d = {0};
    outcome_t a = {0}, b = {0};
    REQUIRE(run_data(&d, 20) == 0);
    REQUIRE(train(&a, "cuda", NULL, &d) == 0 && train(&b, "cpu", NULL, &d) == 0);
    EXPECT_NEAR(a.sums.loss_sum, b.sums.loss_sum, 1e-4, 1e-4);
    EXPECT(fabs(a.sums.correct - b.sums.correct) <= 1.0);   /* one image may sit on the 0.5 threshold */
    EXPECT(changes_close(&d, &a, &b, 1e-3, 1, "3 steps"));
    outcome_free(&a), outcome_free(&b);
    run_data_free(&d);
}

/* The step replayed as a CUDA graph equals the step launched kernel by kernel, bit for bit. */
TEST(graph_equals_eager) {
    NEED_GPU();
    run_data_t d = {0};
    outcome_t a = {0}, b = {0};
    nn_options_t graph = {.no_graph = 0}, eager = {.no_graph = 1};
    REQUIRE(run_data(&d, 20) == 0);
    REQUIRE(train(&a, "cuda", &graph, &d) == 0 && train(&b, "cuda", &eager, &d) == 0);
    EXPECT(memcmp(a.params, b.params, d.m.n_params * 4) == 0);
    EXPECT(memcmp(a.rms, b.rms, d.m.n_params * 4) == 0);
    EXPECT(a.sums.loss_sum == b.sums.loss_sum && a.sums.correct == b.sums.correct && a.sums.images == b.sums.images);
    outcome_free(&a), outcome_free(&b);
    run_data_free(&d);
}

/* tf32 rounds the products' inputs to 10 mantissa bits: after three steps the parameter changes stay
 * within 2% of their scale of fp32's (docs/cuda.md), and the loss within 1%. */
TEST(tf32_within_tolerance) {
    NEED_GPU();
    run_data_t d = {0};
    outcome_t a = {0}, b = {0};
    nn_options_t tf32 = {.precision = NN_PRECISION_TF32};
    REQUIRE(run_data(&d, 20) == 0);
    REQUIRE(train(&a, "cuda", &tf32, &d) == 0 && train(&b, "cuda", NULL, &d) == 0);
    EXPECT_NEAR(a.sums.loss_sum, b.sums.loss_sum, 0, 1e-2);
    EXPECT(changes_close(&d, &a, &b, 2e-2, 0, "tf32 vs fp32"));
    outcome_free(&a), outcome_free(&b);
    run_data_free(&d);
}

/* With autotune cuDNN times the algorithms (cudnnFind*Ex) and may pick others than its heuristics:
 * the same training within the fp32 tolerances. */
TEST(autotune_within_tolerance) {
    NEED_GPU();
    run_data_t d = {0};
    outcome_t a = {0}, b = {0};
    nn_options_t tuned = {.autotune = 1};
    REQUIRE(run_data(&d, 20) == 0);
    REQUIRE(train(&a, "cuda", &tuned, &d) == 0 && train(&b, "cuda", NULL, &d) == 0);
    EXPECT_NEAR(a.sums.loss_sum, b.sums.loss_sum, 1e-4, 1e-4);
    EXPECT(changes_close(&d, &a, &b, 1e-3, 1, "autotune vs heuristics"));
    outcome_free(&a), outcome_free(&b);
    run_data_free(&d);
}

/* What the backend cannot run is refused at create with a sentence, not a crash. */
TEST(refusals) {
    NEED_GPU();
    run_data_t d = {0};
    REQUIRE(run_data(&d, 20) == 0);
    const nn_backend_t *be = nn_backend_find("cuda");
    void *ctx = NULL;
    REQUIRE(be);
    EXPECT(be->create(&d.m, 5000, NULL, &ctx) == -1 && ctx == NULL);   /* over the loss kernel's batch */
    fprintf(stderr, "  refused: %s\n", err_msg());
    REQUIRE(be->create(&d.m, 4, NULL, &ctx) == 0);
    uint8_t img[150 * 150 * 3] = {0};
    float logit, label = 1;
    EXPECT(be->predict(ctx, img, 5, &logit) == -1);   /* over max_batch */
    EXPECT(be->step(ctx, 1e-4) == -1);                /* nothing staged */
    EXPECT(be->layer_output(ctx, 0, &logit) == -1);   /* before any forward pass */
    EXPECT(be->stage(ctx, img, &label, 1, 1) == 0);
    EXPECT(be->stage(ctx, img, &label, 1, 1) == -1);  /* staged twice without a step */
    be->destroy(&ctx);
    EXPECT(ctx == NULL);
    run_data_free(&d);
}

int main(int argc, char **argv) {
    if (argc > 1) src_dir = argv[1];
    RUN(probe);
    RUN(scale_equals_reference);
    RUN(bias_act_and_gradients_equal_reference);
    RUN(dropout_equals_reference);
    RUN(maxpool_equals_reference);
    RUN(colsum_equals_double_sum);
    RUN(loss_equals_reference);
    RUN(rmsprop_equals_reference);
    RUN(model2_three_steps_against_cpu);
    RUN(graph_equals_eager);
    RUN(tf32_within_tolerance);
    RUN(autotune_within_tolerance);
    RUN(refusals);
    return TEST_SUMMARY();
}
