/* test_keras_io.c: the Keras file readers and writers (interop/keras*.c) without Keras: round trips
 * through .h5 and .keras, configs of every Keras era mapped or refused by name, and damaged files
 * (cut, bytes changed) read in-process so that the sanitizers see our code, plus the child-process
 * reader's answers. Keras itself reads and writes these files in tests/test_keras.py.
 *   test_keras_io SOURCE_DIR SCRATCH_DIR */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "interop/keras.h"
#include "interop/keras_internal.h"
#include "nn/model.h"
#include "test.h"
#include "testlib.h"

static const char *src_dir = ".";
static char scratch[4096];

static const char *TINY =
    "[model]\nname = tiny\ninput = 8, 8, 3\n[optimizer]\ntype = rmsprop\nlearning_rate = 0.002\n"
    "[loss]\ntype = binary_crossentropy\n"
    "[c]\ntype = conv2d\nfilters = 2\nkernel_size = 3\nactivation = relu\n"
    "[p]\ntype = max_pooling2d\npool_size = 2\n[f]\ntype = flatten\n[d]\ntype = dropout\nrate = 0.25\n"
    "[o]\ntype = dense\nunits = 1\nactivation = sigmoid\n";

static void path_in(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", scratch, name); }

/* A model with Glorot parameters and a made-up RMSprop state. */
typedef struct {
    nn_model_t m;
    float *p, *r;
} fixture_t;

static int fixture_from(const char *spec_text, fixture_t *f) {
    if (nn_model_parse(spec_text, "tiny", &f->m) != 0) return -1;
    f->p = malloc(f->m.n_params * sizeof(float));
    f->r = malloc(f->m.n_params * sizeof(float));
    if (!f->p || !f->r) return -1;
    nn_init_params(&f->m, 11, f->p);
    for (size_t i = 0; i < f->m.n_params; i++) f->r[i] = f->p[i] * f->p[i];
    return 0;
}

static int fixture_model2(fixture_t *f) {
    char path[4096];
    snprintf(path, sizeof path, "%s/models/model2.ini", src_dir);
    char *text = tl_read_file(path, NULL);
    int rc = text ? fixture_from(text, f) : -1;
    free(text);
    return rc;
}

static void fixture_free(fixture_t *f) {
    free(f->p);
    free(f->r);
    nn_model_free(&f->m);
}

/* Export f as name, read it back (through the child process), compare. */
static void round_trip(const char *name, fixture_t *f) {
    char path[4200];
    path_in(path, sizeof path, name);
    nn_ckpt_info_t info = {.epoch = 2, .step = 40};
    if (keras_export(path, &f->m, &info, f->p, f->r) != 0) fprintf(stderr, "  %s\n", err_msg());
    REQUIRE(access(path, F_OK) == 0);
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    EXPECT(access(tmp, F_OK) != 0);
    nn_model_t m;
    nn_ckpt_info_t got = {.epoch = 9};
    float *p = NULL, *r = NULL;
    if (model_file_load(path, &m, &got, &p, &r) != 0) fprintf(stderr, "  %s\n", err_msg());
    REQUIRE(p && r);
    EXPECT(nn_model_same(&f->m, &m) == 0);
    EXPECT(memcmp(p, f->p, m.n_params * sizeof(float)) == 0);   /* bit for bit */
    EXPECT(r[0] == 0 && r[m.n_params - 1] == 0);                 /* weights only */
    EXPECT(got.epoch == 0 && got.step == 0);
    EXPECT(m.optim.learning_rate == f->m.optim.learning_rate && m.optim.rho == f->m.optim.rho);
    EXPECT(strstr(m.spec_text, "made from the Keras model config"));
    free(p);
    free(r);
    nn_model_free(&m);
}

TEST(round_trips) {
    fixture_t f = {0};
    REQUIRE(fixture_from(TINY, &f) == 0);
    round_trip("tiny.h5", &f);
    round_trip("tiny.keras", &f);
    fixture_free(&f);
    REQUIRE(fixture_model2(&f) == 0);
    EXPECT(f.m.n_params == 3453121);
    round_trip("model2.h5", &f);
    round_trip("model2.keras", &f);
    fixture_free(&f);
}

TEST(kinds) {
    fixture_t f = {0};
    REQUIRE(fixture_from(TINY, &f) == 0);
    char h5[4200], zip[4200], other[4200];
    path_in(h5, sizeof h5, "kind.h5");
    path_in(zip, sizeof zip, "kind.keras");
    path_in(other, sizeof other, "kind.txt");
    REQUIRE(keras_export(h5, &f.m, NULL, f.p, NULL) == 0);   /* without optimizer state */
    REQUIRE(keras_export(zip, &f.m, NULL, f.p, NULL) == 0);
    REQUIRE(tl_write_text(other, "hello") == 0);
    EXPECT(model_file_kind(h5) == MODEL_FILE_KERAS_H5);
    EXPECT(model_file_kind(zip) == MODEL_FILE_KERAS_ZIP);
    EXPECT(model_file_kind(other) == MODEL_FILE_CHECKPOINT);
    EXPECT(keras_export(other, &f.m, NULL, f.p, NULL) == -1);   /* .txt: neither format */
    EXPECT(strstr(err_msg(), "ends in .h5"));
    char missing[4200];
    path_in(missing, sizeof missing, "no/such/folder/x.keras");
    EXPECT(keras_export(missing, &f.m, NULL, f.p, NULL) == -1);
    fprintf(stderr, "  %s\n", err_msg());
    fixture_free(&f);
}

/* The spec made from a config (JSON text), or NULL with err_msg(). */
static char *spec_of(const char *json) {
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    if (!j) {
        fprintf(stderr, "  bad test JSON: %s\n", je.text);
        return NULL;
    }
    char *spec = NULL;
    keras_spec_from_config(j, NULL, "f.h5", &spec);
    json_decref(j);
    return spec;
}

#define CONV(name, extra) "{\"class_name\": \"Conv2D\", \"config\": {\"name\": \"" name "\", \"filters\": 4, " \
                          "\"kernel_size\": [3, 3], \"activation\": \"relu\"" extra "}}"
#define TAIL "{\"class_name\": \"Flatten\", \"config\": {\"name\": \"flatten_1\"}}, " \
             "{\"class_name\": \"Dense\", \"config\": {\"name\": \"dense_1\", \"units\": 1, \"activation\": \"sigmoid\"}}"

TEST(configs) {
    /* Keras 2.0: the layer list itself, the input on the first Conv2D */
    char *s = spec_of("{\"class_name\": \"Sequential\", \"config\": [" CONV("conv2d_1", ", \"batch_input_shape\": [null, 16, 16, 3]") ", " TAIL "]}");
    REQUIRE(s);
    nn_model_t m;
    EXPECT(nn_model_parse(s, "f.h5", &m) == 0);
    EXPECT(m.in_h == 16 && m.n_layers == 3 && !strcmp(m.layers[0].name, "conv2d_1"));
    nn_model_free(&m);
    free(s);
    /* Keras 3: an InputLayer with batch_shape; odd and taken names made usable */
    s = spec_of("{\"class_name\": \"Sequential\", \"config\": {\"name\": \"m\", \"layers\": ["
                "{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 16, 16, 3]}}, "
                CONV("my conv/1", "") ", " CONV("model", "") ", " TAIL "]}}");
    REQUIRE(s);
    EXPECT(nn_model_parse(s, "f.h5", &m) == 0);
    EXPECT(!strcmp(m.layers[0].name, "my_conv_1") && strcmp(m.layers[1].name, "model") != 0);
    nn_model_free(&m);
    free(s);

    static const struct {
        const char *json, *want;
    } refused[] = {
        {"{\"class_name\": \"Functional\", \"config\": {}}", "a Keras Functional; pawpipe reads Sequential"},
        {"{\"class_name\": \"Sequential\", \"config\": {\"layers\": [" CONV("c", "") ", " TAIL "]}}", "no input shape"},
        {"{\"class_name\": \"Sequential\", \"config\": [" CONV("c", ", \"batch_input_shape\": [null, 16, 16, 3]") ", "
         "{\"class_name\": \"BatchNormalization\", \"config\": {\"name\": \"bn\"}}, " TAIL "]}",
         "layer 2 'bn' (BatchNormalization) cannot be mapped"},
        {"{\"class_name\": \"Sequential\", \"config\": [" CONV("c", ", \"batch_input_shape\": [null, 16, 16, 3], \"strides\": [2, 2]") "]}",
         "layer 1 'c' (Conv2D) cannot be mapped to pawpipe's model spec: strides = [2,2]"},
        {"{\"class_name\": \"Sequential\", \"config\": [" CONV("c", ", \"batch_input_shape\": [null, 16, 16, 3], \"padding\": \"same\"") "]}",
         "padding = \"same\""},
        {"{\"class_name\": \"Sequential\", \"config\": [{\"class_name\": \"Conv2D\", \"config\": {\"name\": \"c\", "
         "\"batch_input_shape\": [null, 16, 16, 3], \"filters\": 4, \"kernel_size\": [3, 5]}}]}", "not square"},
        {"{\"class_name\": \"Sequential\", \"config\": [" CONV("c", ", \"batch_input_shape\": [null, 16, 16, 3], \"data_format\": \"channels_first\"") "]}",
         "data_format"},
        {"{\"class_name\": \"Sequential\", \"config\": [{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", "
         "\"batch_input_shape\": [null, 16, 16, 3], \"units\": 2, \"activation\": \"tanh\"}}]}", "activation tanh"},
        {"{\"class_name\": \"Sequential\", \"config\": [" CONV("c", ", \"batch_input_shape\": [null, 16, 3]") "]}",
         "input shape is not"},
        {"{\"class_name\": \"Sequential\", \"config\": 7}", "no list of layers"},
        {"[1, 2]", "no class_name"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        s = spec_of(refused[i].json);
        EXPECT(s == NULL && strstr(err_msg(), refused[i].want));
        if (s || !strstr(err_msg(), refused[i].want)) fprintf(stderr, "  case %zu: %s\n", i, err_msg());
        free(s);
    }
}

/* Damaged copies of a file, read as the stages read them (model_file_load): each read ends in 0 or -1
 * with a message. They go through the child process because libhdf5 itself reads out of bounds on
 * some (AddressSanitizer shows heap overflows in its global-heap and datatype code on these very
 * copies, which a sanitized child then reports as its failure). */
static int load(const char *path, nn_model_t *m, float **params) {
    float *rms = NULL;
    int rc = model_file_load(path, m, NULL, params, &rms);
    free(rms);
    return rc;
}

static void damaged(const char *name) {
    fixture_t f = {0};
    REQUIRE(fixture_from(TINY, &f) == 0);
    char path[4200], bad[4300];
    path_in(path, sizeof path, name);
    snprintf(bad, sizeof bad, "%s.bad", path);
    nn_ckpt_info_t info = {.step = 3};
    REQUIRE(keras_export(path, &f.m, &info, f.p, f.r) == 0);
    size_t len;
    unsigned char *blob = (unsigned char *)tl_read_file(path, &len);
    REQUIRE(blob);
    int ok = 0, refused = 0, unexplained = 0;
    for (int k = 1; k < 64; k++) {   /* cut short */
        REQUIRE(tl_write_file(bad, blob, len * (size_t)k / 64) == 0);
        nn_model_t m;
        float *p = NULL;
        int rc = load(bad, &m, &p);
        if (rc == 0) ok++, nn_model_free(&m), free(p);
        else refused++, unexplained += !err_msg()[0];
    }
    EXPECT(ok == 0);
    uint64_t x = 88172645463325252ull;
    unsigned char *copy = malloc(len);
    REQUIRE(copy);
    for (int trial = 0; trial < 150; trial++) {   /* a few bytes changed */
        memcpy(copy, blob, len);
        for (int j = 0; j < 4; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            copy[(x >> 8) % len] = (unsigned char)x;
        }
        REQUIRE(tl_write_file(bad, copy, len) == 0);
        nn_model_t m;
        float *p = NULL;
        int rc = load(bad, &m, &p);
        if (rc == 0) ok++, nn_model_free(&m), free(p);
        else refused++, unexplained += !err_msg()[0];
    }
    fprintf(stderr, "  %s: %d damaged copies refused, %d read\n", name, refused, ok);
    EXPECT(unexplained == 0);
    free(copy);
    free(blob);
    fixture_free(&f);
}

TEST(damaged_h5) { damaged("damaged.h5"); }
TEST(damaged_zip) { damaged("damaged.keras"); }

/* Through the child process: a clear error, and nothing to free. */
TEST(child_reader) {
    char path[4200];
    path_in(path, sizeof path, "garbage.h5");
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char junk[4096];
    memcpy(junk, sig, 8);
    for (size_t i = 8; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 7);
    REQUIRE(tl_write_file(path, junk, sizeof junk) == 0);
    nn_model_t m;
    float *p = NULL, *r = NULL;
    EXPECT(model_file_load(path, &m, NULL, &p, &r) == -1 && p == NULL && r == NULL);
    EXPECT(strstr(err_msg(), "garbage.h5"));
    fprintf(stderr, "  %s\n", err_msg());
}

int main(int argc, char **argv) {
    if (argc > 1) src_dir = argv[1];
    snprintf(scratch, sizeof scratch, "%s", argc > 2 ? argv[2] : "keras_io_tmp");
    if (mkdir(scratch, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s: %s\n", scratch, strerror(errno));
        return 1;
    }
    RUN(round_trips);
    RUN(kinds);
    RUN(configs);
    RUN(damaged_h5);
    RUN(damaged_zip);
    RUN(child_reader);
    return TEST_SUMMARY();
}
