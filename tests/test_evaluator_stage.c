/* test_evaluator_stage.c: the evaluator's one-shot commands on a generated data set: a checkpoint file
 * scores exactly what a direct forward pass gives, the image cap, feature-map grids (sizes that follow
 * from the layer shapes, pixels that follow from the layer outputs), predictions, and the binary. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "evaluator/evaluator.h"
#include "evaluator/featuremaps.h"
#include "image/grid.h"
#include "tests/test.h"
#include "tests/test_evaluator_fixture.h"

static fixture_t fx;
static const char *g_evaluator;   /* path of the evaluator binary */

static evaluator_config_t config(const char *backend) {
    evaluator_config_t c;
    evaluator_config_default(&c);
    c.data_dir = fx.data;
    c.backend = backend;
    return c;
}

/* Loss and accuracy of a direct forward pass (ref backend) over a whole split. */
static int direct(const char *split, double *loss, double *acc, int *n_out, double *min_abs_logit) {
    uint8_t *images = NULL, *labels = NULL;
    int n = 0;
    if (fx_load_split(fx.data, split, 32, 32, &images, &labels, &n) != 0) return -1;
    float *z = malloc((size_t)n * sizeof *z);
    int rc = z && fx_ref_forward(&fx.m, fx.params, images, n, z, 0, NULL) == 0 ? 0 : -1;
    double sum = 0.0;
    int right = 0;
    *min_abs_logit = INFINITY;
    for (int i = 0; rc == 0 && i < n; i++) {
        double p = 1.0 / (1.0 + exp(-(double)z[i]));
        sum += labels[i] ? -log(p) : -log(1.0 - p);
        right += (z[i] > 0) == (labels[i] == 1);
        *min_abs_logit = fmin(*min_abs_logit, fabs(z[i]));
    }
    *loss = sum / n;
    *acc = (double)right / n;
    *n_out = n;
    free(images);
    free(labels);
    free(z);
    return rc;
}

static void check_against_direct(const char *backend, const char *split) {
    double loss, acc, min_abs;
    int n;
    REQUIRE(direct(split, &loss, &acc, &n, &min_abs) == 0);
    REQUIRE(min_abs > 1e-3);   /* no logit so near 0 that backends could disagree on its class */
    evaluator_config_t c = config(backend);
    c.split = split;
    eval_metrics_t m;
    REQUIRE(evaluator_eval_file(&c, fx.ckpt, &m) == 0);
    fprintf(stderr, "  %s/%s: direct loss %.6f acc %.4f, evaluator loss %.6f acc %.4f auc %.4f\n", backend,
            split, loss, acc, m.loss, m.accuracy, m.auc);
    EXPECT(m.n == n);
    EXPECT_NEAR(m.loss, loss, 1e-5, 1e-4);
    EXPECT(m.accuracy == acc);
    EXPECT(m.tn + m.fp + m.fn + m.tp == m.n);
    EXPECT(m.fn + m.tp == n / 2 && m.tn + m.fp == n / 2);   /* gen_dataset writes equal classes */
    EXPECT_NEAR(m.accuracy, (double)(m.tn + m.tp) / m.n, 1e-12, 0);
    EXPECT(m.auc >= 0.0 && m.auc <= 1.0);
    EXPECT(m.tp + m.fp > 0 && m.tn + m.fn > 0);   /* not a degenerate model: both classes predicted */
}

TEST(checkpoint_matches_direct_forward_cpu) { check_against_direct("cpu", "validation"); }
TEST(checkpoint_matches_direct_forward_ref) { check_against_direct("ref", "validation"); }
TEST(checkpoint_on_test_split) { check_against_direct("cpu", "test"); }

TEST(validation_steps_cap) {
    evaluator_config_t c = config("cpu");
    eval_metrics_t m;
    c.validation_steps = 2;   /* x batch_size 4 = 8 of the 40 images, spread over both classes */
    REQUIRE(evaluator_eval_file(&c, fx.ckpt, &m) == 0);
    EXPECT(m.n == 8);
    EXPECT(m.tn + m.fp == 4 && m.fn + m.tp == 4);
    c.validation_steps = 0;
    REQUIRE(evaluator_eval_file(&c, fx.ckpt, &m) == 0);
    EXPECT(m.n == 2 * FX_VALIDATION_PER_CLASS);
    c.validation_steps = 1000;   /* more than there are: all of them */
    REQUIRE(evaluator_eval_file(&c, fx.ckpt, &m) == 0);
    EXPECT(m.n == 2 * FX_VALIDATION_PER_CLASS);
}

TEST(bad_inputs_fail_with_a_message) {
    evaluator_config_t c = config("cpu");
    eval_metrics_t m;
    char path[256];
    snprintf(path, sizeof path, "%s/no-such.safetensors", fx.work);
    EXPECT(evaluator_eval_file(&c, path, &m) == -1);
    EXPECT(strstr(err_msg(), "no-such.safetensors") != NULL);
    c.data_dir = fx.work;   /* no validation/ folder in it */
    EXPECT(evaluator_eval_file(&c, fx.ckpt, &m) == -1);
    fprintf(stderr, "  (expected) %s\n", err_msg());
    c = config("no-such-backend");
    EXPECT(evaluator_eval_file(&c, fx.ckpt, &m) == -1);
    EXPECT(strstr(err_msg(), "no-such-backend") != NULL);
}

/* The normalised, viridis-coloured value of channel ch at (y, x) of layer l's output `map`. */
static void expected_colour(const nn_layer_t *l, const float *map, int ch, int y, int x, uint8_t rgb[3]) {
    int n = l->out_h * l->out_w, c = l->out_c;
    double sum = 0.0, sq = 0.0;
    for (int i = 0; i < n; i++) sum += map[(size_t)i * c + ch];
    double mean = sum / n;
    for (int i = 0; i < n; i++) sq += pow(map[(size_t)i * c + ch] - mean, 2);
    double v = (map[((size_t)y * l->out_w + x) * c + ch] - mean) / (sqrt(sq / n) + 1e-5) * 64.0 + 128.0;
    grid_viridis((float)fmin(255.0, fmax(0.0, v)), rgb);
}

TEST(feature_maps) {
    char image[256], out[256], path[512];
    snprintf(image, sizeof image, "%s/validation/dogs/dog.%d.jpg", fx.data, 2);
    struct stat st;
    if (stat(image, &st) != 0) {   /* gen_dataset's numbering: take whichever dog comes first */
        ds_split_t ds = {0};
        int64_t ign;
        REQUIRE(ds_index(fx.data, "validation", 2, &ds, &ign) == 0);
        snprintf(image, sizeof image, "%s", ds.files[ds.n_files - 1].path);
        ds_free(&ds);
    }
    snprintf(out, sizeof out, "%s/fm", fx.work);
    evaluator_config_t c = config("cpu");
    REQUIRE(evaluator_feature_maps(&c, fx.ckpt, image, out) == 0);

    int w, h;
    uint8_t *input = NULL;
    snprintf(path, sizeof path, "%s/00_input.png", out);
    REQUIRE(fx_read_png(path, &w, &h, &input) == 0);
    EXPECT(w == 32 && h == 32);

    /* The expected grids: layer 1 30x30x32 -> 2 rows of 16; 2: 15x15x32 -> 2 x 16; 3: 13x13x16 and
     * 4: 6x6x16 -> 1 x 16; small maps enlarged by a whole factor. Nothing after the pooling layers. */
    static const struct { const char *file; int side, channels, rows; } want[4] = {
        {"01_conv2d_1.png", 30, 32, 2}, {"02_max_pooling2d_1.png", 15, 32, 2},
        {"03_conv2d_2.png", 13, 16, 1}, {"04_max_pooling2d_2.png", 6, 16, 1}};
    float *maps[4];
    int title_h = -1;
    for (int i = 0; i < 4; i++) {
        const nn_layer_t *l = &fx.m.layers[i];
        EXPECT(l->out_h == want[i].side && l->out_c == want[i].channels);
        maps[i] = malloc((size_t)l->out_h * l->out_w * l->out_c * sizeof(float));
        float logit;
        REQUIRE(fx_ref_forward(&fx.m, fx.params, input, 1, &logit, i, maps[i]) == 0);

        int k = fm_tile_scale(want[i].side), tile = want[i].side * k;
        EXPECT(tile >= FM_MIN_TILE && tile < FM_MIN_TILE + want[i].side);
        uint8_t *px = NULL;
        snprintf(path, sizeof path, "%s/%s", out, want[i].file);
        REQUIRE(fx_read_png(path, &w, &h, &px) == 0);
        EXPECT(w == FM_PAD + FM_PER_ROW * (tile + FM_PAD));
        int th = h - FM_PAD - want[i].rows * (tile + FM_PAD);   /* the title's band */
        EXPECT(th > 5 && th < 60);
        if (title_h < 0) title_h = th;
        EXPECT(th == title_h);
        fprintf(stderr, "  %s: %dx%d, tiles %dx%d (x%d), title band %d px\n", want[i].file, w, h, tile, tile, k, th);

        /* Pixels: channels 0, 5 and the last, at a few map positions, against the tutorial's
         * transform of the ref backend's layer output (the evaluator ran the cpu backend). */
        int chans[3] = {0, 5, want[i].channels - 1}, bad = 0;
        for (int a = 0; a < 3; a++)
            for (int y = 0; y < want[i].side; y += 4)
                for (int x = 1; x < want[i].side; x += 5) {
                    int ch = chans[a], col = ch % FM_PER_ROW, row = ch / FM_PER_ROW;
                    int gx = FM_PAD + col * (tile + FM_PAD) + x * k + k / 2;
                    int gy = th + FM_PAD + row * (tile + FM_PAD) + y * k + k / 2;
                    uint8_t e[3], *g = px + ((size_t)gy * w + gx) * 3;
                    expected_colour(l, maps[i], ch, y, x, e);
                    for (int b = 0; b < 3; b++) bad += abs((int)g[b] - (int)e[b]) > 6;
                }
        EXPECT(bad == 0);
        g_free(px);
        free(maps[i]);
    }
    snprintf(path, sizeof path, "%s/05_flatten.png", out);
    EXPECT(access(path, F_OK) != 0);
    g_free(input);

    /* A file that is not an image: an error naming it, no crash. */
    snprintf(path, sizeof path, "%s/not-an-image.jpg", fx.work);
    REQUIRE(tl_write_text(path, "hello") == 0);
    EXPECT(evaluator_feature_maps(&c, fx.ckpt, path, out) == -1);
    EXPECT(strstr(err_msg(), "not-an-image.jpg") != NULL);
}

/* Run the evaluator binary with args; its stdout into out (at most cap bytes); the exit status. */
static int run_binary(const char *args, char *out, size_t cap) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s", g_evaluator, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(predict) {
    ds_split_t ds = {0};
    int64_t ign;
    REQUIRE(ds_index(fx.data, "test", 2, &ds, &ign) == 0);
    char bad[256], missing[256];
    snprintf(bad, sizeof bad, "%s/not-an-image.jpg", fx.work);
    REQUIRE(tl_write_text(bad, "hello") == 0);
    snprintf(missing, sizeof missing, "%s/missing.jpg", fx.work);
    char *files[4] = {ds.files[0].path, bad, ds.files[ds.n_files - 1].path, missing};
    evaluator_config_t c = config("cpu");
    int n_ok = -1;
    EXPECT(evaluator_predict(&c, fx.ckpt, files, 4, &n_ok) == 0);
    EXPECT(n_ok == 2);
    EXPECT(evaluator_predict(&c, fx.ckpt, files + 1, 1, &n_ok) == 0 && n_ok == 0);

    /* The binary: the probability printed is the direct forward pass's; exit 0 when some were read,
     * 1 when none could be. */
    uint8_t *img = NULL, *lab = NULL;
    int n = 0;
    REQUIRE(fx_load_split(fx.data, "test", 32, 32, &img, &lab, &n) == 0);
    float z;
    REQUIRE(fx_ref_forward(&fx.m, fx.params, img, 1, &z, 0, NULL) == 0);   /* files[0] is index 0 */
    char args[1024], out[4096];
    snprintf(args, sizeof args, "--predict --checkpoint '%s' --classes kitten,puppy '%s' '%s' 2>/dev/null",
             fx.ckpt, files[0], bad);
    EXPECT(run_binary(args, out, sizeof out) == 0);
    fprintf(stderr, "  %s", out);
    const char *line = strstr(out, files[0]);
    REQUIRE(line != NULL);
    const char *pp = strstr(line, "p(puppy)=");
    REQUIRE(pp != NULL);
    double p1 = atof(pp + strlen("p(puppy)=")), want = 1.0 / (1.0 + exp(-(double)z));
    EXPECT_NEAR(p1, want, 2e-4, 0);
    EXPECT(strstr(line, want > 0.5 ? ": puppy (" : ": kitten (") != NULL);
    EXPECT(strstr(out, "not-an-image") == NULL);   /* the bad file's message goes to stderr */
    snprintf(args, sizeof args, "--predict --checkpoint '%s' '%s' '%s' 2>/dev/null", fx.ckpt, bad, missing);
    EXPECT(run_binary(args, out, sizeof out) == 1);
    free(img);
    free(lab);
    ds_free(&ds);
}

TEST(binary_flags) {
    char out[8192], args[1024];
    EXPECT(run_binary("--help", out, sizeof out) == 0);
    static const char *flags[] = {"checkpoints", "data", "split", "backend", "run-dir", "validation-steps",
                                  "batch-size", "rcvhwm", "max-checkpoints", "checkpoint", "feature-maps",
                                  "out", "predict", "classes", "log-level", "help"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "\n  --%s ", flags[i]);
        if (!strstr(out, want)) fprintf(stderr, "  --help does not list --%s\n", flags[i]);
        EXPECT(strstr(out, want) != NULL);
    }
    EXPECT(run_binary("--split train --data x 2>/dev/null", out, sizeof out) == 2);
    EXPECT(run_binary("--predict --checkpoint x 2>/dev/null", out, sizeof out) == 2);   /* no IMAGE */
    EXPECT(run_binary("2>/dev/null", out, sizeof out) == 2);                            /* no --data */
    /* --checkpoint FILE --split test: one line with the metrics, exit 0. */
    snprintf(args, sizeof args, "--checkpoint '%s' --data '%s' --split test 2>/dev/null", fx.ckpt, fx.data);
    EXPECT(run_binary(args, out, sizeof out) == 0);
    fprintf(stderr, "  %s", out);
    const char *head = "epoch 3 step 30: loss 0.6250 accuracy 0.7500 test_loss ";
    EXPECT(strncmp(out, head, strlen(head)) == 0);
    EXPECT(strstr(out, "(10 images,") != NULL);
    /* Environment fallback: PAWPIPE_EVAL_SPLIT=test is the same as --split test. */
    snprintf(args, sizeof args, "--checkpoint '%s' --data '%s' 2>/dev/null", fx.ckpt, fx.data);
    setenv("PAWPIPE_EVAL_SPLIT", "test", 1);
    EXPECT(run_binary(args, out, sizeof out) == 0);
    unsetenv("PAWPIPE_EVAL_SPLIT");
    EXPECT(strstr(out, "(10 images,") != NULL);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s GEN_DATASET EVALUATOR\n", argv[0]);
        return 2;
    }
    g_evaluator = argv[2];
    log_init("test_evaluator_stage", NULL);
    if (img_init(argv[0]) != 0 || fx_init(&fx, argv[1], "stage") != 0) {
        fprintf(stderr, "set-up failed: %s\n", err_msg());
        return 1;
    }
    RUN(checkpoint_matches_direct_forward_cpu);
    RUN(checkpoint_matches_direct_forward_ref);
    RUN(checkpoint_on_test_split);
    RUN(validation_steps_cap);
    RUN(bad_inputs_fail_with_a_message);
    RUN(feature_maps);
    RUN(predict);
    RUN(binary_flags);
    fx_free(&fx);
    return TEST_SUMMARY();
}
