/* test_fixtures.c: the ref backend against PyTorch on the tiny model of tests/reference/tiny.ini:
 * logits, loss, every layer's output, every gradient, and the weights and RMSprop state after three
 * updates (fixtures written by tests/reference/make_fixtures.py, float64 in PyTorch, stored float32).
 *
 * Usage: test_fixtures DIR   (DIR holds tiny.ini, tiny.manifest and tiny.bin; CMake passes it)
 *
 * Tolerances are float32 ones: the reference sums in float32 over at most 3*3*8 = 72 products per
 * conv output and 128 per dense output, so values agree to a few 1e-7 relative to the tensor's
 * magnitude (measured: below 1e-6). The checks allow 1e-5 of the largest magnitude in each tensor
 * plus 1e-4 relative, for outputs and gradients alike; RMSprop state twice that (squared gradients);
 * weights after the updates 2e-6 of the largest weight (one step moves a weight by up to about
 * 3 * learning_rate = 3e-3, so a wrong step is hundreds of times over). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "nn/backend.h"
#include "nn/model.h"
#include "test.h"
#include "testlib.h"

#define FX_MAX 128

typedef struct {
    char name[96], dtype[8];
    int ndim;
    int64_t shape[4];
    size_t off, bytes;
} fx_tensor_t;

typedef struct {
    int n;
    fx_tensor_t t[FX_MAX];
    unsigned char *blob;
    size_t blob_size;
    double learning_rate, rho, epsilon;
    int batch, steps;
} fixture_t;

static const char *fx_dir;
static fixture_t fx;
static nn_model_t model;
static int loaded;   /* 1: fixture and model are loaded */

/* Read tiny.manifest and tiny.bin. 0 / -1 with err_msg(). */
static int fx_load(const char *dir, fixture_t *f) {
    char path[1024];
    const uint16_t probe = 1;
    CHECK(*(const uint8_t *)&probe == 1, "fixtures are little-endian; this host is not");
    snprintf(path, sizeof path, "%s/tiny.bin", dir);
    f->blob = (unsigned char *)tl_read_file(path, &f->blob_size);
    CHECK(f->blob && f->blob_size > 0, "cannot read %s", path);

    snprintf(path, sizeof path, "%s/tiny.manifest", dir);
    FILE *fp = fopen(path, "r");
    CHECK(fp, "cannot open %s", path);
    char line[512];
    int bad = 0;
    while (!bad && fgets(line, sizeof line, fp)) {
        char key[96], val[64], shape[64];
        if (line[0] == '#' || line[0] == '\n') continue;
        if (sscanf(line, "meta %95s %63s", key, val) == 2) {
            if (!strcmp(key, "learning_rate")) f->learning_rate = atof(val);
            else if (!strcmp(key, "rho")) f->rho = atof(val);
            else if (!strcmp(key, "epsilon")) f->epsilon = atof(val);
            else if (!strcmp(key, "batch")) f->batch = atoi(val);
            else if (!strcmp(key, "steps")) f->steps = atoi(val);
            continue;
        }
        fx_tensor_t *t = &f->t[f->n];
        if (f->n == FX_MAX || sscanf(line, "%95s %7s %63s %zu %zu", t->name, t->dtype, shape, &t->off, &t->bytes) != 5) {
            bad = 1;
            break;
        }
        size_t count = 1;
        char *s = shape;
        for (t->ndim = 0; t->ndim < 4 && *s; t->ndim++) {
            t->shape[t->ndim] = strtoll(s, &s, 10);
            count *= (size_t)t->shape[t->ndim];
            if (*s == 'x') s++;
        }
        size_t elem = !strcmp(t->dtype, "u8") ? 1 : !strcmp(t->dtype, "f32") ? 4 : 0;
        bad = *s || elem == 0 || count * elem != t->bytes || t->off % 16 || t->off + t->bytes > f->blob_size;
        f->n++;
    }
    fclose(fp);
    CHECK(!bad, "%s: bad line: %s", path, line);
    CHECK(f->batch > 0 && f->steps > 0 && f->learning_rate > 0, "%s: meta lines missing", path);
    return 0;
}

static const fx_tensor_t *fx_find(const char *name) {
    for (int i = 0; i < fx.n; i++)
        if (!strcmp(fx.t[i].name, name)) return &fx.t[i];
    fprintf(stderr, "  fixture has no tensor '%s'\n", name);
    return NULL;
}

static const float *fx_f32(const char *name, size_t count) {
    const fx_tensor_t *t = fx_find(name);
    if (!t || strcmp(t->dtype, "f32") || t->bytes != count * sizeof(float)) return NULL;
    return (const float *)(fx.blob + t->off);
}

/* Compare got with want (count floats): |got - want| <= atol_frac * max|want| + rtol * |want|.
 * Prints the worst element; returns the number out of tolerance. */
static int compare(const char *what, const float *got, const float *want, size_t count, double atol_frac,
                   double rtol) {
    double maxabs = 0.0, worst = 0.0;
    size_t worst_i = 0;
    int bad = 0;
    for (size_t i = 0; i < count; i++) maxabs = fmax(maxabs, fabs(want[i]));
    double atol = atol_frac * maxabs + 1e-30;
    for (size_t i = 0; i < count; i++) {
        double err = fabs((double)got[i] - want[i]), lim = atol + rtol * fabs(want[i]);
        if (!(err <= lim)) {
            if (bad < 3) fprintf(stderr, "  %s[%zu]: got %.9g, want %.9g\n", what, i, got[i], want[i]);
            bad++;
        }
        if (err / lim > worst) worst = err / lim, worst_i = i;
    }
    fprintf(stderr, "  %-30s %6zu values, max|want| %.3g, worst error %.3f of tolerance (at %zu)\n", what,
            count, maxabs, worst, worst_i);
    return bad;
}

/* Gather the fixture tensors "<prefix><view name>" into a buffer in the model layout. 0 / -1. */
static int gather(const char *prefix, float *dst) {
    nn_param_view_t v[NN_MAX_PARAM_VIEWS];
    int nv = nn_param_views(&model, v, NN_MAX_PARAM_VIEWS);
    for (int i = 0; i < nv; i++) {
        char name[160];
        snprintf(name, sizeof name, "%s%.*s", prefix, (int)sizeof v[i].name, v[i].name);
        const float *src = fx_f32(name, v[i].count);
        if (!src) return -1;
        memcpy(dst + v[i].offset, src, v[i].count * sizeof(float));
    }
    return 0;
}

/* Compare a buffer in the model layout with "<prefix><view name>", view by view. */
static int compare_views(const char *prefix, const float *got, double atol_frac, double rtol) {
    nn_param_view_t v[NN_MAX_PARAM_VIEWS];
    int nv = nn_param_views(&model, v, NN_MAX_PARAM_VIEWS), bad = 0;
    for (int i = 0; i < nv; i++) {
        char name[160];
        snprintf(name, sizeof name, "%s%.*s", prefix, (int)sizeof v[i].name, v[i].name);
        const float *want = fx_f32(name, v[i].count);
        bad += want ? compare(name, got + v[i].offset, want, v[i].count, atol_frac, rtol) : 1;
    }
    return bad;
}

TEST(load) {
    char path[1024];
    if (fx_load(fx_dir, &fx) != 0) {
        fprintf(stderr, "  %s\n", err_msg());
        REQUIRE(0);
    }
    snprintf(path, sizeof path, "%s/tiny.ini", fx_dir);
    if (nn_model_load(path, &model) != 0) {
        fprintf(stderr, "  %s\n", err_msg());
        REQUIRE(0);
    }
    /* The spec and the script describe the same model: parameter shapes and optimizer settings. */
    nn_param_view_t v[NN_MAX_PARAM_VIEWS];
    int nv = nn_param_views(&model, v, NN_MAX_PARAM_VIEWS);
    REQUIRE(nv == 10);
    for (int i = 0; i < nv; i++) {
        char name[160];
        snprintf(name, sizeof name, "init.%.*s", (int)sizeof v[i].name, v[i].name);
        const fx_tensor_t *t = fx_find(name);
        REQUIRE(t && t->ndim == v[i].ndim);
        for (int d = 0; d < t->ndim; d++) REQUIRE(t->shape[d] == v[i].shape[d]);
    }
    const fx_tensor_t *img = fx_find("images");
    REQUIRE(img && img->ndim == 4 && img->shape[0] == fx.batch && img->shape[1] == model.in_h &&
            img->shape[2] == model.in_w && img->shape[3] == model.in_c);
    EXPECT_NEAR(model.optim.rho, fx.rho, 0, 1e-12);
    EXPECT_NEAR(model.optim.epsilon, fx.epsilon, 0, 1e-12);
    EXPECT_NEAR(model.optim.learning_rate, fx.learning_rate, 0, 1e-12);
    loaded = 1;
}

/* One context for the tests below, with the fixture's initial weights. */
static const nn_backend_t *be;
static void *ctx;
static float *params0;

static int setup(void) {
    if (ctx) return be->set_params(ctx, params0, NULL);
    be = nn_backend_find("ref");
    params0 = calloc(model.n_params, sizeof(float));
    if (!be || !params0 || gather("init.", params0) != 0) return -1;
    TRY(be->create(&model, fx.batch, NULL, &ctx));
    return be->set_params(ctx, params0, NULL);
}

TEST(forward) {
    REQUIRE(loaded);
    REQUIRE(setup() == 0);
    const uint8_t *images = fx.blob + fx_find("images")->off;
    const float *labels = fx_f32("labels", (size_t)fx.batch);
    const float *want_logits = fx_f32("logits", (size_t)fx.batch);
    REQUIRE(labels && want_logits);
    float logits[64];
    REQUIRE(be->predict(ctx, images, fx.batch, logits) == 0);
    EXPECT(compare("logits (predict)", logits, want_logits, (size_t)fx.batch, 1e-5, 1e-4) == 0);

    nn_stats_t st;
    REQUIRE(be->forward_backward(ctx, images, labels, fx.batch, 42, &st) == 0);
    const float *want_loss = fx_f32("loss", 1);
    REQUIRE(want_loss);
    EXPECT_NEAR(st.loss, *want_loss, 1e-6, 1e-5);
    int correct = 0;
    for (int i = 0; i < fx.batch; i++) correct += (want_logits[i] > 0) == (labels[i] > 0.5f);
    EXPECT_NEAR(st.accuracy, (double)correct / fx.batch, 1e-12, 0);

    /* Every layer's output (after its activation) of the training pass (the model has no dropout). */
    static float out[1 << 16];
    for (int i = 0; i < model.n_layers; i++) {
        const nn_layer_t *l = &model.layers[i];
        size_t count = (size_t)fx.batch * l->out_h * l->out_w * l->out_c;
        char name[96];
        snprintf(name, sizeof name, "out.%s", l->name);
        const float *want = fx_f32(name, count);
        REQUIRE(want && count <= sizeof out / sizeof out[0]);
        REQUIRE(be->layer_output(ctx, i, out) == 0);
        EXPECT(compare(name, out, want, count, 1e-5, 1e-4) == 0);
    }

    float *grads = calloc(model.n_params, sizeof(float));
    REQUIRE(grads);
    if (be->get_grads(ctx, grads) == 0) EXPECT(compare_views("grad.", grads, 1e-5, 1e-4) == 0);
    else EXPECT(0);
    free(grads);
}

/* A batch smaller than the context's gives the same logits for its images. */
TEST(smaller_batch) {
    REQUIRE(loaded);
    REQUIRE(setup() == 0);
    const uint8_t *images = fx.blob + fx_find("images")->off;
    const float *want_logits = fx_f32("logits", (size_t)fx.batch);
    float logits[2];
    REQUIRE(be->predict(ctx, images, 2, logits) == 0);
    EXPECT(compare("logits (batch of 2)", logits, want_logits, 2, 1e-5, 1e-4) == 0);
    EXPECT(be->predict(ctx, images, fx.batch + 1, logits) == -1);   /* over max_batch: refused */
    EXPECT(be->predict(ctx, images, 0, logits) == -1);
}

/* Three RMSprop steps on the same batch: the loss before each, then the weights and the state. */
TEST(rmsprop_steps) {
    REQUIRE(loaded);
    REQUIRE(setup() == 0);
    const uint8_t *images = fx.blob + fx_find("images")->off;
    const float *labels = fx_f32("labels", (size_t)fx.batch);
    const float *want_losses = fx_f32("step_losses", (size_t)fx.steps);
    REQUIRE(labels && want_losses);
    for (int s = 0; s < fx.steps; s++) {
        nn_stats_t st;
        REQUIRE(be->forward_backward(ctx, images, labels, fx.batch, 7, &st) == 0);
        EXPECT_NEAR(st.loss, want_losses[s], 1e-6, 1e-5);
        REQUIRE(be->update(ctx, fx.learning_rate) == 0);
    }
    float *p = calloc(model.n_params, sizeof(float)), *rms = calloc(model.n_params, sizeof(float));
    REQUIRE(p && rms);
    if (be->get_params(ctx, p, rms) == 0) {
        char prefix[32];
        /* Each step moves a weight by up to ~3 * lr = 3e-3; allow 2e-6 of the largest weight. */
        snprintf(prefix, sizeof prefix, "step%d.", fx.steps);
        EXPECT(compare_views(prefix, p, 2e-6, 1e-5) == 0);
        /* rms is a sum of squared gradients: twice the gradients' relative error. */
        snprintf(prefix, sizeof prefix, "rms%d.", fx.steps);
        EXPECT(compare_views(prefix, rms, 2e-5, 2e-4) == 0);
    } else {
        EXPECT(0);
    }
    free(p);
    free(rms);
}

TEST(registry) {
    EXPECT(nn_backend_find("ref") != NULL && strcmp(nn_backend_find("ref")->name, "ref") == 0);
    EXPECT(nn_backend_find("no-such-backend") == NULL);
    EXPECT(strstr(err_msg(), "ref") != NULL);   /* the message lists what there is */
    /* Every listed name is found under that name. */
    char names[128];
    snprintf(names, sizeof names, "%s", nn_backend_names());
    for (char *save = NULL, *tok = strtok_r(names, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        const nn_backend_t *b = nn_backend_find(tok);
        EXPECT(b && strcmp(b->name, tok) == 0);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR (tests/reference)\n", argv[0]);
        return 2;
    }
    fx_dir = argv[1];
    RUN(load);
    RUN(forward);
    RUN(smaller_batch);
    RUN(rmsprop_steps);
    RUN(registry);
    if (be) be->destroy(&ctx);
    free(params0);
    free(fx.blob);
    nn_model_free(&model);
    return TEST_SUMMARY();
}
