/* test_spec.c: model specs: the tutorial's two models (layers, shapes, parameter count and layout,
 * summary, options), every kind of bad spec (tests/specs/NAME.ini, each naming its expected error), and
 * Glorot initialisation. Usage: test_spec SOURCE_DIR */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/check.h"
#include "common/rng.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "tests/test.h"

static const char *src_dir = ".";

static int load_model(const char *name, nn_model_t *m) {
    char path[4096];
    snprintf(path, sizeof path, "%s/models/%s", src_dir, name);
    int rc = nn_model_load(path, m);
    if (rc) fprintf(stderr, "  %s\n", err_msg());
    return rc;
}

typedef struct {
    const char *name;
    nn_layer_type_t type;
    int h, w, c, flat;
    size_t params;
} want_layer_t;

static const want_layer_t model1_layers[] = {
    {"conv2d_1", NN_CONV2D, 148, 148, 32, 0, 896},      {"max_pooling2d_1", NN_MAXPOOL2D, 74, 74, 32, 0, 0},
    {"conv2d_2", NN_CONV2D, 72, 72, 64, 0, 18496},      {"max_pooling2d_2", NN_MAXPOOL2D, 36, 36, 64, 0, 0},
    {"conv2d_3", NN_CONV2D, 34, 34, 128, 0, 73856},     {"max_pooling2d_3", NN_MAXPOOL2D, 17, 17, 128, 0, 0},
    {"conv2d_4", NN_CONV2D, 15, 15, 128, 0, 147584},    {"max_pooling2d_4", NN_MAXPOOL2D, 7, 7, 128, 0, 0},
    {"flatten", NN_FLATTEN, 1, 1, 6272, 1, 0},          {"dense_1", NN_DENSE, 1, 1, 512, 1, 3211776},
    {"dense_2", NN_DENSE, 1, 1, 1, 1, 513},
};

static void expect_layers(const nn_model_t *m, int dropout_at) {
    int n = (int)(sizeof model1_layers / sizeof model1_layers[0]) + (dropout_at >= 0);
    EXPECT(m->n_layers == n);
    for (int i = 0, k = 0; i < m->n_layers && i < n; i++) {
        const nn_layer_t *l = &m->layers[i];
        if (i == dropout_at) {
            EXPECT(strcmp(l->name, "dropout") == 0 && l->type == NN_DROPOUT);
            EXPECT(l->out_c == 6272 && l->flat && l->w_count + l->b_count == 0);
            EXPECT_NEAR(l->rate, 0.1, 0, 0);
            continue;
        }
        const want_layer_t *w = &model1_layers[k++];
        if (strcmp(l->name, w->name) != 0 || l->type != w->type || l->out_h != w->h || l->out_w != w->w ||
            l->out_c != w->c || l->flat != w->flat || l->w_count + l->b_count != w->params) {
            fprintf(stderr, "  layer %d: %s type %d out %dx%dx%d flat %d params %zu, want %s %dx%dx%d %zu\n", i,
                    l->name, (int)l->type, l->out_h, l->out_w, l->out_c, l->flat, l->w_count + l->b_count, w->name,
                    w->h, w->w, w->c, w->params);
            EXPECT(0);
        }
        if (i > 0) {   /* each layer's input is the previous one's output */
            const nn_layer_t *p = &m->layers[i - 1];
            EXPECT(l->in_h == p->out_h && l->in_w == p->out_w && l->in_c == p->out_c);
        }
    }
    EXPECT(m->layers[0].in_h == 150 && m->layers[0].in_w == 150 && m->layers[0].in_c == 3);
    EXPECT(m->layers[0].act == NN_ACT_RELU && m->layers[m->n_layers - 1].act == NN_ACT_SIGMOID);
    EXPECT(m->layers[m->n_layers - 2].units == 512 && m->layers[m->n_layers - 1].units == 1);
}

TEST(model1_layers_and_count) {
    nn_model_t m;
    REQUIRE(load_model("model1.ini", &m) == 0);
    EXPECT(m.n_params == 3453121);
    EXPECT(strcmp(m.name, "model1") == 0);
    expect_layers(&m, -1);
    EXPECT(m.layers[0].line > 0 && m.layers[1].line > m.layers[0].line);
    nn_model_free(&m);
    nn_model_free(&m);   /* twice is fine */
}

TEST(model2_layers_and_count) {
    nn_model_t m;
    REQUIRE(load_model("model2.ini", &m) == 0);
    EXPECT(m.n_params == 3453121);
    expect_layers(&m, 9);
    nn_model_free(&m);
}

TEST(options) {
    nn_model_t a, b;
    REQUIRE(load_model("model1.ini", &a) == 0);
    REQUIRE(load_model("model2.ini", &b) == 0);
    for (int k = 0; k < 2; k++) {
        const nn_model_t *m = k ? &b : &a;
        EXPECT(strcmp(m->optim.type, "rmsprop") == 0);
        EXPECT_NEAR(m->optim.learning_rate, 1e-4, 0, 1e-12);
        EXPECT_NEAR(m->optim.rho, 0.9, 0, 1e-12);
        EXPECT_NEAR(m->optim.epsilon, 1e-7, 0, 1e-12);
        EXPECT(strcmp(m->loss, "binary_crossentropy") == 0);
        EXPECT(m->train.batch_size == 20 && m->train.steps_per_epoch == 100 && m->train.validation_steps == 50);
        EXPECT(m->train.seed == 1);
        EXPECT(m->in_h == 150 && m->in_w == 150 && m->in_c == 3);
    }
    EXPECT(a.train.epochs == 30 && b.train.epochs == 100);
    EXPECT(a.aug.enabled == 0);
    const aug_params_t *g = &b.aug;
    EXPECT(g->enabled == 1);
    EXPECT_NEAR(g->rotation_range, 40, 0, 0);
    EXPECT_NEAR(g->width_shift_range, 0.2, 0, 0);
    EXPECT_NEAR(g->height_shift_range, 0.2, 0, 0);
    EXPECT_NEAR(g->shear_range, 0.2, 0, 0);
    EXPECT_NEAR(g->zoom_lo, 0.8, 1e-15, 0);
    EXPECT_NEAR(g->zoom_hi, 1.2, 1e-15, 0);
    EXPECT(g->horizontal_flip == 1 && g->vertical_flip == 0 && g->fill_mode == FILL_NEAREST);
    EXPECT(a.spec_text && strstr(a.spec_text, "[conv2d_1]"));
    nn_model_free(&a);
    nn_model_free(&b);
}

TEST(layout_and_views) {
    nn_model_t m;
    REQUIRE(load_model("model2.ini", &m) == 0);
    size_t off = 0;
    for (int i = 0; i < m.n_layers; i++) {
        const nn_layer_t *l = &m.layers[i];
        EXPECT(l->w_off == off);
        EXPECT(l->b_off == l->w_off + l->w_count);
        off = l->b_off + l->b_count;
        EXPECT((l->w_count == 0) == (l->b_count == 0));
    }
    EXPECT(off == m.n_params);
    EXPECT(nn_param_views(&m, NULL, 0) == 12);
    nn_param_view_t v[NN_MAX_PARAM_VIEWS];
    int n = nn_param_views(&m, v, NN_MAX_PARAM_VIEWS);
    REQUIRE(n == 12);
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
        size_t count = 1;
        for (int d = 0; d < v[i].ndim; d++) count *= (size_t)v[i].shape[d];
        EXPECT(count == v[i].count);
        EXPECT(v[i].offset == pos);
        pos += v[i].count;
    }
    EXPECT(pos == m.n_params);
    EXPECT(strcmp(v[0].name, "conv2d_1.kernel") == 0 && v[0].ndim == 4);
    EXPECT(v[0].shape[0] == 3 && v[0].shape[1] == 3 && v[0].shape[2] == 3 && v[0].shape[3] == 32);
    EXPECT(strcmp(v[1].name, "conv2d_1.bias") == 0 && v[1].ndim == 1 && v[1].shape[0] == 32);
    EXPECT(strcmp(v[6].name, "conv2d_4.kernel") == 0 && v[6].shape[2] == 128 && v[6].shape[3] == 128);
    EXPECT(strcmp(v[8].name, "dense_1.kernel") == 0 && v[8].ndim == 2);
    EXPECT(v[8].shape[0] == 6272 && v[8].shape[1] == 512);
    EXPECT(strcmp(v[11].name, "dense_2.bias") == 0 && v[11].shape[0] == 1);
    /* a short array gets the first views and the full count back */
    nn_param_view_t few[3];
    EXPECT(nn_param_views(&m, few, 3) == 12);
    EXPECT(strcmp(few[2].name, "conv2d_2.kernel") == 0);
    nn_model_free(&m);
}

TEST(summary) {
    nn_model_t m;
    REQUIRE(load_model("model1.ini", &m) == 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    REQUIRE(f);
    nn_model_summary(&m, f);
    fclose(f);
    fputs(text, stderr);
    EXPECT(strstr(text, "Model: \"model1\"\n"));
    EXPECT(strstr(text, "Layer (type)"));
    EXPECT(strstr(text, "Output Shape"));
    EXPECT(strstr(text, "Param #"));
    EXPECT(strstr(text, "conv2d_1 (Conv2D)               (None, 148, 148, 32)      896\n"));
    EXPECT(strstr(text, "max_pooling2d_4 (MaxPooling2D)  (None, 7, 7, 128)         0\n"));
    EXPECT(strstr(text, "flatten (Flatten)               (None, 6272)              0\n"));
    EXPECT(strstr(text, "dense_1 (Dense)                 (None, 512)               3211776\n"));
    EXPECT(strstr(text, "dense_2 (Dense)                 (None, 1)                 513\n"));
    EXPECT(strstr(text, "Total params: 3,453,121\nTrainable params: 3,453,121\nNon-trainable params: 0\n"));
    free(text);
    nn_model_free(&m);
}

/* Each tests/specs/NAME.ini says on its second line "; expect: LINE: MESSAGE". */
static int check_bad_spec(const char *path) {   /* path: at most 8192 bytes */
    FILE *f = fopen(path, "r");
    char line[512];
    if (!f) return fprintf(stderr, "  %s: cannot open\n", path), -1;
    int ok = fgets(line, sizeof line, f) && fgets(line, sizeof line, f);
    fclose(f);
    int want_line, at = 0;
    if (!ok || sscanf(line, "; expect: %d: %n", &want_line, &at) != 1 || at == 0)
        return fprintf(stderr, "  %s: no '; expect: LINE: MESSAGE' line\n", path), -1;
    char *want = line + at;
    want[strcspn(want, "\n")] = '\0';
    nn_model_t m;
    if (nn_model_load(path, &m) == 0) {
        nn_model_free(&m);
        return fprintf(stderr, "  %s: accepted, expected line %d: %s\n", path, want_line, want), -1;
    }
    char prefix[8300];
    snprintf(prefix, sizeof prefix, "%s:%d: ", path, want_line);
    const char *got = err_msg();
    if (strncmp(got, prefix, strlen(prefix)) != 0 || !strstr(got, want))
        return fprintf(stderr, "  %s: got \"%s\", expected \"%s%s\"\n", path, got, prefix, want), -1;
    fprintf(stderr, "  ok: %s\n", got);
    if (m.spec_text || m.n_layers) return fprintf(stderr, "  %s: model not cleared on failure\n", path), -1;
    return 0;
}

TEST(bad_specs) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/specs", src_dir);
    DIR *d = opendir(dir);
    REQUIRE(d);
    struct dirent *e;
    int n = 0, failed = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".ini") != 0) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        failed += check_bad_spec(path) != 0;
        n++;
    }
    closedir(d);
    fprintf(stderr, "  %d bad specs checked\n", n);
    EXPECT(n >= 30);
    EXPECT(failed == 0);
}

/* A spec in a string, with its expected error ("LABEL:LINE: ..." containing want), or NULL for valid. */
static void expect_text(const char *text, int want_line, const char *want) {
    nn_model_t m;
    int rc = nn_model_parse(text, "inline.ini", &m);
    if (!want) {
        if (rc) fprintf(stderr, "  unexpected error: %s\n", err_msg());
        EXPECT(rc == 0);
        nn_model_free(&m);
        return;
    }
    char prefix[64];
    snprintf(prefix, sizeof prefix, "inline.ini:%d: ", want_line);
    EXPECT(rc == -1);
    if (rc == 0) {
        nn_model_free(&m);
        return;
    }
    int ok = strncmp(err_msg(), prefix, strlen(prefix)) == 0 && strstr(err_msg(), want);
    fprintf(stderr, "  %s: %s\n", ok ? "ok" : "WRONG", err_msg());
    EXPECT(ok);
}

#define BASE "[model]\ninput = 8, 8, 1\n[optimizer]\ntype = rmsprop\n[loss]\ntype = binary_crossentropy\n"
#define OUT_LAYERS "[flatten]\ntype = flatten\n[out]\ntype = dense\nunits = 1\nactivation = sigmoid\n"

TEST(inline_specs) {
    expect_text(BASE OUT_LAYERS, 0, NULL);
    /* CRLF line ends, a BOM, inline comments, '#' comments, "key: value", defaults */
    expect_text("\xEF\xBB\xBF[model]\r\ninput = 8, 8, 1 ; comment\r\n# hash comment\r\n[optimizer]\r\ntype: rmsprop\r\n"
                "[loss]\r\ntype = binary_crossentropy\r\n" OUT_LAYERS,
                0, NULL);
    nn_model_t m;
    REQUIRE(nn_model_parse(BASE OUT_LAYERS, "dir/some.name.ini", &m) == 0);
    EXPECT(strcmp(m.name, "some") == 0);   /* default name: the file's base name */
    EXPECT_NEAR(m.optim.learning_rate, 0.001, 0, 0);
    EXPECT(m.train.batch_size == 32 && m.train.epochs == 1 && m.aug.enabled == 0 && m.n_params == 65);
    nn_model_free(&m);
    /* a base name over NN_NAME_MAX bytes is cut at a character boundary (checkpoint headers are UTF-8):
     * 40 two-byte characters, cut after 31 of them, not in the middle of the 32nd */
    char label[128] = "dir/";
    for (int i = 0; i < 40; i++) strcat(label, "\xC3\xA9");
    strcat(label, ".ini");
    REQUIRE(nn_model_parse(BASE OUT_LAYERS, label, &m) == 0);
    EXPECT(strlen(m.name) == 62 && memcmp(m.name, label + 4, 62) == 0);
    nn_model_free(&m);
    REQUIRE(nn_model_parse(BASE "[augmentation]\nzoom_range = 0.5, 2\nfill_mode = constant\ncval = 128\n" OUT_LAYERS,
                           "x", &m) == 0);
    EXPECT(m.aug.enabled && m.aug.zoom_lo == 0.5 && m.aug.zoom_hi == 2 && m.aug.fill_mode == FILL_CONSTANT);
    EXPECT(m.aug.cval == 128 && m.aug.rotation_range == 0 && m.aug.horizontal_flip == 0);
    nn_model_free(&m);

    char longline[400];
    memset(longline, 'x', sizeof longline);
    memcpy(longline, "; ", 2);
    longline[sizeof longline - 1] = '\0';
    char text[1024];
    snprintf(text, sizeof text, BASE "%s\n" OUT_LAYERS, longline);
    expect_text(text, 7, "line longer than");
    expect_text(BASE "; caf\xE9\n" OUT_LAYERS, 7, "not valid UTF-8");
    expect_text("", 1, "missing [model] section");
    expect_text(BASE "[flatten]\ntype = flatten\n[out]\ntype = dense\nunits = 1\n", 9, "activation = sigmoid");
    expect_text(BASE "[a]\ntype = dropout\nrate = 0.5\n", 7, "last layer a: binary_crossentropy needs");
    expect_text(BASE "[flatten]\ntype = flatten\n[flatten2]\ntype = flatten\n", 9, "already flat");
    /* the first of several problems is the one reported */
    expect_text(BASE "[c]\ntype = conv2d\nfilters = x\nkernel_size = 99\n" OUT_LAYERS, 9, "'filters' must be");
    expect_text(BASE "[c]\ntype = conv2d\nfilters = 4\nkernel_size = 9\n" OUT_LAYERS, 7, "a 9x9 kernel does not fit");
    expect_text(BASE "[c]\ntype = conv2d\nfilters = 4\nkernel_size = 0\n" OUT_LAYERS, 10, "out of range [1, 64]");
    expect_text(BASE "[c]\ntype = conv2d\nfilters = 99999999999999999999\nkernel_size = 3\n" OUT_LAYERS, 9,
                "out of range [1, 65536]");
    expect_text(BASE "[p]\ntype = max_pooling2d\npool_size = 3\n" OUT_LAYERS, 0, NULL);
    expect_text(BASE "[model]\ninput = 1, 1, 1\n" OUT_LAYERS, 7, "duplicate section [model] (first at line 1)");
    expect_text(BASE "[d]\ntype = dropout\nrate = nan\n" OUT_LAYERS, 9, "must be a number");
    expect_text(BASE "[conv.1]\ntype = conv2d\n" OUT_LAYERS, 7, "bad section name");
    expect_text(BASE "[]\n" OUT_LAYERS, 7, "empty section name");
    expect_text(BASE "[flatten] extra\ntype = flatten\n", 7, "text after");
    expect_text(BASE "= 3\n" OUT_LAYERS, 7, "empty key");
    expect_text("[model]\ninput = 100000, 8, 1\n", 2, "height must be an integer in [1, 8192]");
}

TEST(load_errors) {
    nn_model_t m;
    EXPECT(nn_model_load("no/such/spec.ini", &m) == -1);
    EXPECT(strstr(err_msg(), "no/such/spec.ini: cannot open"));
    char path[] = "test_spec_nul_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    static const char nul_text[] = "[model]\ninput = 8, 8, 1\nx\0y\n";
    EXPECT(write(fd, nul_text, sizeof nul_text - 1) == (ssize_t)(sizeof nul_text - 1));
    close(fd);
    EXPECT(nn_model_load(path, &m) == -1);
    char want[128];
    snprintf(want, sizeof want, "%s:3: NUL byte", path);
    fprintf(stderr, "  %s\n", err_msg());
    EXPECT(strncmp(err_msg(), want, strlen(want)) == 0);
    unlink(path);
}

TEST(same_model) {
    nn_model_t a, b, c;
    REQUIRE(load_model("model1.ini", &a) == 0);
    REQUIRE(load_model("model2.ini", &b) == 0);
    REQUIRE(load_model("model1.ini", &c) == 0);
    EXPECT(nn_model_same(&a, &c) == 0);
    EXPECT(nn_model_same(&a, &b) == -1);
    fprintf(stderr, "  %s\n", err_msg());
    EXPECT(strstr(err_msg(), "layer 10") && strstr(err_msg(), "dropout"));
    nn_model_free(&c);
    char *text = strdup(a.spec_text);
    char *at = strstr(text, "filters = 64");
    REQUIRE(at);
    memcpy(at, "filters = 65", 12);
    REQUIRE(nn_model_parse(text, "changed", &c) == 0);
    EXPECT(nn_model_same(&a, &c) == -1);
    fprintf(stderr, "  %s\n", err_msg());
    EXPECT(strstr(err_msg(), "layer 3: conv2d_2 (conv2d, 64 filters"));
    free(text);
    nn_model_free(&a);
    nn_model_free(&b);
    nn_model_free(&c);
}

TEST(glorot_init) {
    nn_model_t m;
    REQUIRE(load_model("model1.ini", &m) == 0);
    float *p = malloc(m.n_params * sizeof *p), *q = malloc(m.n_params * sizeof *q);
    REQUIRE(p && q);
    for (size_t i = 0; i < m.n_params; i++) p[i] = NAN, q[i] = 1.0f;
    nn_init_params(&m, 1, p);
    nn_init_params(&m, 1, q);
    EXPECT(memcmp(p, q, m.n_params * sizeof *p) == 0);   /* a pure function of the seed */
    for (int i = 0; i < m.n_layers; i++) {
        const nn_layer_t *l = &m.layers[i];
        if (!l->w_count) continue;
        double fan_in = l->type == NN_CONV2D ? 9.0 * l->in_c : l->in_c;
        double fan_out = l->type == NN_CONV2D ? 9.0 * l->filters : l->units;
        double limit = sqrt(6.0 / (fan_in + fan_out)), sum = 0, sq = 0, maxabs = 0;
        int inside = 1;
        for (size_t j = 0; j < l->w_count; j++) {
            double x = p[l->w_off + j];
            inside &= fabs(x) <= (float)limit;
            sum += x, sq += x * x;
            if (fabs(x) > maxabs) maxabs = fabs(x);
        }
        size_t n = l->w_count;
        double mean = sum / n, var = sq / n - mean * mean, want_var = limit * limit / 3;
        fprintf(stderr, "  %-9s n %8zu limit %.5f max %.5f mean %+.2e var/want %.4f\n", l->name, n, limit, maxabs,
                mean, var / want_var);
        EXPECT(inside);
        EXPECT(maxabs > limit * (1 - 20.0 / n));                        /* the range is used up to the bound */
        EXPECT(fabs(mean) < 5 * limit / sqrt(3.0 * n));                 /* 5 standard errors             */
        EXPECT(fabs(var / want_var - 1) < 5 * 0.9 / sqrt((double)n));   /* var of U(-a, a) = a^2 / 3       */
        int zero = 1;
        for (size_t j = 0; j < l->b_count; j++) zero &= p[l->b_off + j] == 0.0f;
        EXPECT(zero);
    }
    nn_init_params(&m, 2, q);
    size_t same = 0;
    for (size_t i = 0; i < m.n_params; i++) same += p[i] == q[i];
    EXPECT(same >= 865 && same < 865 + 100);   /* the zero biases (865 of them), and rare coincidences */
    /* kernels of different layers are not copies of one stream */
    EXPECT(memcmp(p + m.layers[2].w_off, p + m.layers[0].w_off, 100 * sizeof *p) != 0);
    free(p);
    free(q);
    nn_model_free(&m);
}

/* Randomly damaged copies of model2.ini: each parses or is refused with "LABEL:LINE: ..."; never a
 * crash (run under PAWPIPE_ASAN to catch memory errors). */
TEST(mutations) {
    nn_model_t m2;
    REQUIRE(load_model("model2.ini", &m2) == 0);
    size_t len = strlen(m2.spec_text);
    char *buf = malloc(len + 1);
    REQUIRE(buf);
    static const char pokes[] = "[]=;#:\n\r\t ,.-+e0123456789x_\x80\xff";
    rng_t g;
    rng_init(&g, 77, 0);
    int accepted = 0, refused = 0, unlabelled = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, m2.spec_text, len + 1);
        for (int k = 1 + (int)(rng_u32(&g) % 3); k > 0; k--) {
            size_t at = rng_u32(&g) % len;
            buf[at] = pokes[rng_u32(&g) % (sizeof pokes - 1)];
        }
        if (it % 5 == 0) buf[rng_u32(&g) % len] = '\0';
        nn_model_t m;
        if (nn_model_parse(buf, "mutant", &m) == 0) {
            accepted++;
            EXPECT(m.n_layers > 0 && m.n_params > 0);
            nn_model_free(&m);
        } else {
            refused++;
            int line;
            unlabelled += sscanf(err_msg(), "mutant:%d: ", &line) != 1 || line < 1;
        }
    }
    fprintf(stderr, "  3000 damaged specs: %d refused, %d accepted\n", refused, accepted);
    EXPECT(refused > 1000 && accepted > 100 && unlabelled == 0);
    free(buf);
    nn_model_free(&m2);
}

int main(int argc, char **argv) {
    if (argc > 1) src_dir = argv[1];
    RUN(model1_layers_and_count);
    RUN(model2_layers_and_count);
    RUN(options);
    RUN(layout_and_views);
    RUN(summary);
    RUN(bad_specs);
    RUN(inline_specs);
    RUN(load_errors);
    RUN(same_model);
    RUN(glorot_init);
    RUN(mutations);
    return TEST_SUMMARY();
}
