/* test_backend_parity.c: every backend of the registry (nn_backend_at) against the reference backend
 * ("ref"), which is the specification: logits, loss, accuracy, every layer's output, every gradient,
 * and parameters and RMSprop state after two updates, on random images and random (non-zero bias)
 * weights, for every layer type, with dropout on and off, full and short batches; then the
 * training-loop calls (stage, step, sums) against forward_backward + update on the same backend.
 *
 * Usage: test_backend_parity --device cpu|gpu SRC_DIR: the backends that compute on that device, in
 * registry order ("cpu" and "cpu-direct"; "cuda"). A backend that cannot run on this machine (no GPU)
 * is reported as skipped with the reason, and the run exits 77 when nothing ran.
 *
 * Tolerances. Both backends compute in float32 but sum in different orders (oneDNN blocks and
 * vectorises the reductions, the reference sums in loop order), so results differ by a few units of
 * float32 rounding times the growth over the sums: a value summed over K terms moves by about
 * sqrt(K) * 6e-8 of the terms' magnitude, at most ~1e-5 relative here (K <= 6272 for a forward
 * value, up to ~44,000 for a kernel gradient over batch and positions). The same bounds hold for
 * cuda in fp32 (cuDNN's FMA algorithms, cuBLAS without TF32); tf32 is not compared here. The two backends can also
 * disagree on a discrete choice when two values are within that rounding of each other: which of two
 * near-equal maxima a pool routes its gradient to, or whether a pre-activation within 1e-7 of 0
 * passes the ReLU. Such a flip changes one term of a sum, not the sum's scale. So each tensor is
 * compared element-wise with |cpu - ref| <= TOL * max|ref| (TOL relative to the tensor's scale,
 * not to the element: elements near 0 carry the absolute error of their big neighbours), with
 * TOL = 1e-4 for outputs and 1e-3 for gradients and updated parameters (an RMSprop step
 * lr * g / sqrt(rms + eps) is about lr * sqrt(10) for small and large g alike, so a small gradient's
 * relative error becomes the same relative error of a full-size step). Measured (PARITY_VERBOSE=1
 * prints every comparison): the largest error is 0.11 of its bound (dense_2's kernel after two
 * updates), nearly all are under 0.03; a wrong index, layout or mask gives errors of the order of
 * the values themselves, 1000x the bound. Loss and accuracy are compared directly (1e-5 and
 * exactly). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/check.h"
#include "common/rng.h"
#include "nn/backend.h"
#include "nn/model.h"
#include "test.h"

#define TOL_OUT 1e-4
#define TOL_GRAD 1e-3

static const char *src_dir = ".";   /* for models/model1.ini: argv[1] */
static const char *g_be = "cpu";     /* the backend under test: each test runs for every one chosen */

/* Uniform values in [lo, hi) from a fixed Philox stream. */
static void fill(float *a, size_t n, uint64_t stream, float lo, float hi) {
    rng_t r;
    rng_init(&r, 0x70617269747920ULL, stream);
    for (size_t i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng_uniform_f(&r);
}

/* |a - b| <= tol * max|b| element-wise; prints the worst element and the ratio to the bound. */
static int close_enough(const char *what, const float *a, const float *b, size_t n, double tol) {
    double scale = 0.0, worst = 0.0;
    size_t wi = 0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) finite = 0;
        double d = fabs((double)a[i] - b[i]);
        if (d > worst) worst = d, wi = i;
    }
    double bound = tol * (scale > 0 ? scale : 1e-30);
    int ok = finite && worst <= bound;
    if (!ok || getenv("PARITY_VERBOSE"))
        fprintf(stderr, "  %-28s n=%-8zu max|ref|=%-10.3g max err=%-10.3g (%.3g of the bound) at %zu: %s %.9g ref %.9g%s\n",
                what, n, scale, worst, worst / bound, wi, g_be, a[wi], b[wi], ok ? "" : "  <-- FAIL");
    return ok;
}

typedef struct {
    nn_model_t m;
    const nn_backend_t *be[2];   /* the backend under test, ref */
    void *ctx[2];
    int max_batch;
} pair_t;

static int pair_open(pair_t *p, const nn_model_t *m, int max_batch) {
    memset(p, 0, sizeof(*p));
    p->m = *m;
    p->max_batch = max_batch;
    p->be[0] = nn_backend_find(g_be);
    p->be[1] = nn_backend_find("ref");
    if (!p->be[0] || !p->be[1]) return -1;
    for (int k = 0; k < 2; k++)
        if (p->be[k]->create(m, max_batch, NULL, &p->ctx[k]) != 0) {
            fprintf(stderr, "  create %s: %s\n", p->be[k]->name, err_msg());
            return -1;
        }
    return 0;
}

static void pair_close(pair_t *p) {
    for (int k = 0; k < 2; k++)
        if (p->be[k]) p->be[k]->destroy(&p->ctx[k]);
}

static size_t out_count(const nn_layer_t *l, int n) { return (size_t)n * l->out_h * l->out_w * l->out_c; }

/* Every layer's output of the last forward pass, the backend against ref. */
static int compare_layers(pair_t *p, int n, const char *when) {
    int ok = 1;
    for (int i = 0; i < p->m.n_layers; i++) {
        const nn_layer_t *l = &p->m.layers[i];
        size_t count = out_count(l, n);
        float *a = malloc(sizeof(float) * count), *b = malloc(sizeof(float) * count);
        if (!a || !b) return 0;
        int got = p->be[0]->layer_output(p->ctx[0], i, a) == 0 && p->be[1]->layer_output(p->ctx[1], i, b) == 0;
        char what[128];
        snprintf(what, sizeof what, "%.40s %.70s", when, l->name);
        if (!got) fprintf(stderr, "  layer_output %s: %s\n", what, err_msg());
        ok &= got && close_enough(what, a, b, count, TOL_OUT);
        free(a);
        free(b);
    }
    return ok;
}

/* Each parameter tensor (kernel, bias) of buffers a (the backend) and b (ref), separately. */
static int compare_params(const nn_model_t *m, const float *a, const float *b, const char *what, double tol) {
    nn_param_view_t v[NN_MAX_PARAM_VIEWS];
    int nv = nn_param_views(m, v, NN_MAX_PARAM_VIEWS), ok = 1;
    for (int k = 0; k < nv; k++) {
        char name[128];
        snprintf(name, sizeof name, "%.40s %.80s", what, v[k].name);
        ok &= close_enough(name, a + v[k].offset, b + v[k].offset, v[k].count, tol);
    }
    return ok;
}

/* The whole protocol on one model: predict, then two training steps of forward_backward + update,
 * the first on a full batch and the second on n2 images (n2 < max_batch exercises short batches),
 * comparing everything the backend contract exposes after each call. */
static void run_parity(const nn_model_t *m, int max_batch, int n2, uint64_t seed, int check_layers) {
    pair_t p;
    size_t np = m->n_params, img = (size_t)m->in_h * m->in_w * m->in_c;
    float *params = malloc(sizeof(float) * np), *a = malloc(sizeof(float) * np), *b = malloc(sizeof(float) * np);
    float *ra = malloc(sizeof(float) * np), *rb = malloc(sizeof(float) * np);
    uint8_t *images = malloc(img * max_batch);
    float *labels = malloc(sizeof(float) * max_batch), *la = malloc(sizeof(float) * max_batch),
          *lb = malloc(sizeof(float) * max_batch);
    REQUIRE(params && a && b && ra && rb && images && labels && la && lb);
    REQUIRE(pair_open(&p, m, max_batch) == 0);

    /* Glorot kernels plus non-zero biases, so that the bias paths are tested too */
    nn_init_params(m, seed, params);
    nn_param_view_t v[NN_MAX_PARAM_VIEWS];
    int nv = nn_param_views(m, v, NN_MAX_PARAM_VIEWS);
    for (int k = 0; k < nv; k++)
        if (v[k].ndim == 1) fill(params + v[k].offset, v[k].count, 100 + k, -0.05f, 0.05f);
    rng_t r;
    rng_init(&r, seed, 1);
    for (size_t i = 0; i < img * max_batch; i++) images[i] = (uint8_t)(rng_u32(&r) >> 24);
    for (int i = 0; i < max_batch; i++) labels[i] = (float)(rng_u32(&r) >> 31);
    for (int k = 0; k < 2; k++) REQUIRE(p.be[k]->set_params(p.ctx[k], params, NULL) == 0);

    /* set_params / get_params round trip through the internal layout is exact */
    REQUIRE(p.be[0]->get_params(p.ctx[0], a, NULL) == 0);
    EXPECT(memcmp(a, params, sizeof(float) * np) == 0);

    REQUIRE(p.be[0]->predict(p.ctx[0], images, max_batch, la) == 0);
    REQUIRE(p.be[1]->predict(p.ctx[1], images, max_batch, lb) == 0);
    EXPECT(close_enough("predict logits", la, lb, max_batch, TOL_OUT));
    if (check_layers) EXPECT(compare_layers(&p, max_batch, "predict"));

    for (int step = 0; step < 2; step++) {
        int n = step == 0 ? max_batch : n2;
        uint64_t dseed = rng_derive(seed, 10 + step);
        nn_stats_t sa, sb;
        REQUIRE(p.be[0]->forward_backward(p.ctx[0], images + img * step, labels, n, dseed, &sa) == 0);
        REQUIRE(p.be[1]->forward_backward(p.ctx[1], images + img * step, labels, n, dseed, &sb) == 0);
        EXPECT_NEAR(sa.loss, sb.loss, 1e-5, 1e-5);
        EXPECT(sa.accuracy == sb.accuracy);
        char when[32];
        snprintf(when, sizeof when, "step %d train", step + 1);
        if (check_layers) EXPECT(compare_layers(&p, n, when));
        REQUIRE(p.be[0]->get_grads(p.ctx[0], a) == 0);
        REQUIRE(p.be[1]->get_grads(p.ctx[1], b) == 0);
        snprintf(when, sizeof when, "step %d grad", step + 1);
        EXPECT(compare_params(m, a, b, when, TOL_GRAD));
        for (int k = 0; k < 2; k++) REQUIRE(p.be[k]->update(p.ctx[k], m->optim.learning_rate) == 0);
    }
    REQUIRE(p.be[0]->get_params(p.ctx[0], a, ra) == 0);
    REQUIRE(p.be[1]->get_params(p.ctx[1], b, rb) == 0);
    /* compare the change from the start: the step is what the update computed */
    for (size_t i = 0; i < np; i++) a[i] -= params[i], b[i] -= params[i];
    EXPECT(compare_params(m, a, b, "2 updates: param change", TOL_GRAD));
    EXPECT(compare_params(m, ra, rb, "2 updates: rms", TOL_GRAD));

    /* and the trained network's inference, short batch */
    REQUIRE(p.be[0]->predict(p.ctx[0], images, n2, la) == 0);
    REQUIRE(p.be[1]->predict(p.ctx[1], images, n2, lb) == 0);
    EXPECT(close_enough("predict after updates", la, lb, n2, TOL_OUT));
    pair_close(&p);
    free(params), free(a), free(b), free(ra), free(rb), free(images), free(labels), free(la), free(lb);
}

/* run_parity on the model of a spec text, every layer's output compared. */
static void run_parity_spec(const char *text, int max_batch, int n2, uint64_t seed) {
    nn_model_t m;
    int parsed = nn_model_parse(text, "parity", &m) == 0;
    if (!parsed) fprintf(stderr, "  spec: %s\n", err_msg());
    REQUIRE(parsed);
    run_parity(&m, max_batch, n2, seed, 1);
    nn_model_free(&m);
}

#define OPTIM "[optimizer]\ntype = rmsprop\nlearning_rate = 0.001\nrho = 0.9\nepsilon = 1e-7\n" \
              "[loss]\ntype = binary_crossentropy\n"

/* Model 1's layer types at a tiny size: odd sizes test the pool's floor, 3 filters of 4 test a
 * blocked layout's padding. */
TEST(model1_like) {
    run_parity_spec("[model]\nname = tiny1\ninput = 27, 25, 3\n" OPTIM
                    "[c1]\ntype = conv2d\nfilters = 8\nkernel_size = 3\nactivation = relu\n"
                    "[p1]\ntype = max_pooling2d\npool_size = 2\n"
                    "[c2]\ntype = conv2d\nfilters = 16\nkernel_size = 3\nactivation = relu\n"
                    "[p2]\ntype = max_pooling2d\npool_size = 2\n"
                    "[f]\ntype = flatten\n"
                    "[d1]\ntype = dense\nunits = 12\nactivation = relu\n"
                    "[d2]\ntype = dense\nunits = 1\nactivation = sigmoid\n",
                    5, 3, 11);
}

/* Model 2's shape: dropout after the flatten, at a high rate so that many elements drop. */
TEST(model2_like_dropout) {
    run_parity_spec("[model]\nname = tiny2\ninput = 30, 30, 3\n" OPTIM
                    "[c1]\ntype = conv2d\nfilters = 8\nkernel_size = 3\nactivation = relu\n"
                    "[p1]\ntype = max_pooling2d\npool_size = 2\n"
                    "[c2]\ntype = conv2d\nfilters = 8\nkernel_size = 3\nactivation = relu\n"
                    "[p2]\ntype = max_pooling2d\npool_size = 2\n"
                    "[f]\ntype = flatten\n"
                    "[drop]\ntype = dropout\nrate = 0.5\n"
                    "[d1]\ntype = dense\nunits = 16\nactivation = relu\n"
                    "[d2]\ntype = dense\nunits = 1\nactivation = sigmoid\n",
                    4, 3, 12);
}

/* The other combinations the backend supports: odd filter counts (padded blocked layouts), linear
 * and sigmoid conv activations (no ReLU mask for the pool to take over), a pool of 3, a conv right
 * after a conv, dropout on an image tensor and after a dense layer. */
TEST(other_layer_combinations) {
    run_parity_spec("[model]\nname = tiny3\ninput = 20, 23, 2\n" OPTIM
                    "[c1]\ntype = conv2d\nfilters = 5\nkernel_size = 3\nactivation = sigmoid\n"
                    "[c2]\ntype = conv2d\nfilters = 6\nkernel_size = 2\nactivation = linear\n"
                    "[p1]\ntype = max_pooling2d\npool_size = 3\n"
                    "[drop1]\ntype = dropout\nrate = 0.3\n"
                    "[c3]\ntype = conv2d\nfilters = 7\nkernel_size = 3\nactivation = relu\n"
                    "[f]\ntype = flatten\n"
                    "[d1]\ntype = dense\nunits = 9\nactivation = sigmoid\n"
                    "[drop2]\ntype = dropout\nrate = 0.25\n"
                    "[d2]\ntype = dense\nunits = 6\nactivation = linear\n"
                    "[d3]\ntype = dense\nunits = 1\nactivation = sigmoid\n",
                    4, 1, 13);
}

/* Channels in multiples of 16 past the first layer, where "cpu" uses Winograd's algorithm (its
 * rounding differs from the direct sums, still within the tolerances: measured <= 0.03 of the bound
 * on model 1 below). */
TEST(winograd_shapes) {
    run_parity_spec("[model]\nname = tiny4\ninput = 24, 22, 3\n" OPTIM
                    "[c1]\ntype = conv2d\nfilters = 16\nkernel_size = 3\nactivation = relu\n"
                    "[c2]\ntype = conv2d\nfilters = 32\nkernel_size = 3\nactivation = relu\n"
                    "[p1]\ntype = max_pooling2d\npool_size = 2\n"
                    "[c3]\ntype = conv2d\nfilters = 16\nkernel_size = 3\nactivation = linear\n"
                    "[f]\ntype = flatten\n"
                    "[d1]\ntype = dense\nunits = 1\nactivation = sigmoid\n",
                    3, 2, 15);
}

/* The real model 1 at 150 x 150 on a batch of 2 (the reference needs a few seconds for it). */
TEST(model1_full_size) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/model1.ini", src_dir);
    nn_model_t m;
    if (nn_model_load(path, &m) != 0) SKIP("cannot load %s: %s", path, err_msg());
    run_parity(&m, 2, 1, 14, 1);
    nn_model_free(&m);
}

/* The training loop's calls on the backend under test: stage + step on a context must give the same
 * parameters, RMSprop state and loss sums as forward_backward + update on another one, bit for bit
 * (cuda: the step is a replayed CUDA graph, forward_backward launches kernel by kernel), over four
 * steps of full and short batches, the first two staged back to back before any result is read. */
TEST(staged_steps_equal_direct) {
    nn_model_t m;
    REQUIRE(nn_model_parse("[model]\nname = tiny5\ninput = 26, 24, 3\n" OPTIM
                           "[c1]\ntype = conv2d\nfilters = 8\nkernel_size = 3\nactivation = relu\n"
                           "[p1]\ntype = max_pooling2d\npool_size = 2\n"
                           "[f]\ntype = flatten\n"
                           "[drop]\ntype = dropout\nrate = 0.3\n"
                           "[d1]\ntype = dense\nunits = 1\nactivation = sigmoid\n",
                           "parity", &m) == 0);
    const nn_backend_t *be = nn_backend_find(g_be);
    REQUIRE(be);
    void *staged = NULL, *direct = NULL;
    int max_batch = 4, ns[4] = {4, 2, 4, 3};
    size_t np = m.n_params, img = (size_t)m.in_h * m.in_w * m.in_c;
    float *params = malloc(sizeof(float) * np), *pa = malloc(sizeof(float) * np), *pb = malloc(sizeof(float) * np);
    float *ra = malloc(sizeof(float) * np), *rb = malloc(sizeof(float) * np), labels[4] = {1, 0, 0, 1};
    uint8_t *images = malloc(img * max_batch * 4);
    REQUIRE(params && pa && pb && ra && rb && images);
    REQUIRE(be->create(&m, max_batch, NULL, &staged) == 0 && be->create(&m, max_batch, NULL, &direct) == 0);
    nn_init_params(&m, 5, params);
    rng_t r;
    rng_init(&r, 5, 2);
    for (size_t i = 0; i < img * max_batch * 4; i++) images[i] = (uint8_t)(rng_u32(&r) >> 24);
    REQUIRE(be->set_params(staged, params, NULL) == 0 && be->set_params(direct, params, NULL) == 0);
    double loss_sum = 0.0, correct = 0.0;
    for (int s = 0; s < 4; s++) {
        const uint8_t *x = images + img * max_batch * s;
        uint64_t seed = rng_derive(99, (uint64_t)s);
        nn_stats_t st;
        REQUIRE(be->stage(staged, x, labels, ns[s], seed) == 0);
        REQUIRE(be->step(staged, m.optim.learning_rate) == 0);
        REQUIRE(be->forward_backward(direct, x, labels, ns[s], seed, &st) == 0);
        REQUIRE(be->update(direct, m.optim.learning_rate) == 0);
        loss_sum += st.loss * ns[s];
        correct += st.accuracy * ns[s];
    }
    nn_sums_t sums;
    REQUIRE(be->sums(staged, &sums, 1) == 0);
    EXPECT(sums.steps == 4 && sums.images == 13);
    EXPECT_NEAR(sums.loss_sum, loss_sum, 1e-9, 1e-9);
    EXPECT_NEAR(sums.correct, correct, 1e-9, 1e-9);
    REQUIRE(be->sums(staged, &sums, 0) == 0);
    EXPECT(sums.steps == 0 && sums.images == 0 && sums.loss_sum == 0);
    REQUIRE(be->get_params(staged, pa, ra) == 0 && be->get_params(direct, pb, rb) == 0);
    EXPECT(memcmp(pa, pb, sizeof(float) * np) == 0);
    EXPECT(memcmp(ra, rb, sizeof(float) * np) == 0);
    EXPECT(memcmp(pa, params, sizeof(float) * np) != 0);   /* and the steps did change something */
    EXPECT(be->step(staged, m.optim.learning_rate) == -1);   /* nothing staged: refused */
    be->destroy(&staged);
    be->destroy(&direct);
    EXPECT(staged == NULL && direct == NULL);
    free(params), free(pa), free(pb), free(ra), free(rb), free(images);
    nn_model_free(&m);
}

static int usage(void) {
    fprintf(stderr, "usage: test_backend_parity --device cpu|gpu [SRC_DIR]\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *device = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) device = argv[++i];
        else if (argv[i][0] != '-') src_dir = argv[i];
        else return usage();
    }
    if (!device || (strcmp(device, "cpu") != 0 && strcmp(device, "gpu") != 0)) return usage();
    int chosen = 0;
    for (int k = 0; k < nn_backend_count(); k++) {
        const nn_backend_t *be = nn_backend_at(k);
        if (strcmp(be->device, device) != 0 || strcmp(be->name, "ref") == 0) continue;
        chosen++;
        char why[256] = "";
        if (be->available && !be->available(why, sizeof why)) {
            fprintf(stderr, "== %s: skipped: it cannot run here: %s\n", be->name, why);
            t_skipped++;
            continue;
        }
        g_be = be->name;
        fprintf(stderr, "== %s against ref\n", g_be);
        RUN(model1_like);
        RUN(model2_like_dropout);
        RUN(other_layer_combinations);
        RUN(winograd_shapes);
        RUN(model1_full_size);
        RUN(staged_steps_equal_direct);
    }
    if (chosen == 0) {
        fprintf(stderr, "this build has no %s backend besides ref (registry: %s)\n", device, nn_backend_names());
        return strcmp(device, "gpu") == 0 ? 77 : 1;
    }
    return TEST_SUMMARY();
}
