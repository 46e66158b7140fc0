/* test_checkpoint.c: safetensors checkpoints: bit-exact round trips with metadata, and refusal of
 * truncated files, non-checkpoints, corrupt headers (JSON that is not strict RFC 8259 included) and
 * checkpoints of another model.
 * Usage: test_checkpoint SOURCE_DIR SCRATCH_DIR
 *        test_checkpoint SOURCE_DIR --write-fixture PATH   (for tests/test_ckpt_load.py) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "common/rng.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "tests/test.h"

static const char *src_dir = ".", *scratch = ".";

static void path_in(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", scratch, name); }

static int load_model(const char *name, nn_model_t *m) {
    char path[4096];
    snprintf(path, sizeof path, "%s/models/%s", src_dir, name);
    int rc = nn_model_load(path, m);
    if (rc) fprintf(stderr, "  %s\n", err_msg());
    return rc;
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) free(buf), buf = NULL;
    fclose(f);
    if (buf) buf[n] = '\0', *len = (size_t)n;
    return buf;
}

/* Rewrites in place and truncates after: ext4 flushes a file on close after an O_TRUNC open
 * (auto_da_alloc), which made thousands of small rewrites cost milliseconds each. */
static int write_all(const char *path, const void *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    int ok = pwrite(fd, data, len, 0) == (ssize_t)len && ftruncate(fd, (off_t)len) == 0;
    return close(fd) == 0 && ok ? 0 : -1;
}

/* Deterministic, exactly representable values: the Python test recomputes them. */
static void fixture_values(size_t n, float *p, float *r) {
    for (size_t i = 0; i < n; i++) {
        p[i] = (float)((int)(i % 2001) - 1000) / 1024.0f;
        r[i] = (float)(i % 997) / 512.0f;
    }
}

static nn_ckpt_info_t sample_info(void) {
    nn_ckpt_info_t info = {.epoch = 3, .step = 300, .seed = 0xFEDCBA9876543210ull, .n_metrics = 4};
    static const char *names[] = {"loss", "accuracy", "val_loss", "val_accuracy \"quoted\""};
    static const double values[] = {0.6931471805599453, 0.5, 1.0 / 3.0, 0.72};
    for (int i = 0; i < 4; i++) {
        snprintf(info.metric_names[i], sizeof info.metric_names[i], "%s", names[i]);
        info.metric_values[i] = values[i];
    }
    return info;
}

/* A model with its Glorot parameters and a made-up RMSprop state. */
typedef struct {
    nn_model_t m;
    float *p, *r;
} fixture_t;

static int fixture_new(const char *spec, fixture_t *f) {
    if (load_model(spec, &f->m)) return -1;
    f->p = malloc(f->m.n_params * sizeof(float));
    f->r = malloc(f->m.n_params * sizeof(float));
    if (!f->p || !f->r) return -1;
    nn_init_params(&f->m, 7, f->p);
    for (size_t i = 0; i < f->m.n_params; i++) f->r[i] = f->p[i] * f->p[i] + (float)i * 1e-12f;
    return 0;
}

static void fixture_free(fixture_t *f) {
    free(f->p);
    free(f->r);
    nn_model_free(&f->m);
}

TEST(round_trip) {
    fixture_t f;
    REQUIRE(fixture_new("model1.ini", &f) == 0);
    nn_ckpt_info_t info = sample_info(), got;
    char path[4096], tmp[4200];
    path_in(path, sizeof path, "round.safetensors");
    REQUIRE(nn_ckpt_save(path, &f.m, &info, f.p, f.r) == 0);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    EXPECT(access(tmp, F_OK) != 0);   /* the temporary file was renamed away */
    REQUIRE(nn_ckpt_save(path, &f.m, &info, f.p, f.r) == 0);   /* over an existing file */

    nn_model_t m;
    float *p = NULL, *r = NULL;
    if (nn_ckpt_load(path, &m, &got, &p, &r)) fprintf(stderr, "  %s\n", err_msg());
    REQUIRE(p && r);
    EXPECT(m.n_params == f.m.n_params);
    EXPECT(memcmp(p, f.p, m.n_params * sizeof *p) == 0);
    EXPECT(memcmp(r, f.r, m.n_params * sizeof *r) == 0);
    EXPECT(got.epoch == 3 && got.step == 300 && got.seed == 0xFEDCBA9876543210ull);
    EXPECT(got.n_metrics == 4);
    for (int i = 0; i < got.n_metrics && i < 4; i++) {
        EXPECT(strcmp(got.metric_names[i], info.metric_names[i]) == 0);
        EXPECT(got.metric_values[i] == info.metric_values[i]);   /* %.17g round-trips exactly */
    }
    EXPECT(strcmp(m.spec_text, f.m.spec_text) == 0);
    EXPECT(nn_model_same(&m, &f.m) == 0);
    EXPECT(m.train.epochs == 30 && m.optim.learning_rate == 1e-4);

    size_t len;
    char *bytes = read_all(path, &len);
    REQUIRE(bytes);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | (unsigned char)bytes[i];
    EXPECT((8 + hlen) % 8 == 0);
    EXPECT(len == 8 + hlen + 2 * m.n_params * sizeof(float));
    EXPECT(memcmp(bytes + 8 + hlen, f.p, 16) == 0);   /* the data is the parameter buffer as it is */
    /* the header as docs/model-spec.md shows it: compact JSON, members in the order written, spaces after */
    static const char head[] = "{\"__metadata__\":{\"format\":\"pawpipe-checkpoint-1\",\"model\":\"model1\",\"epoch\":\"3\","
                               "\"step\":\"300\",\"seed\":\"18364758544493064720\",\"metric.loss\":\"0.69314718055994529\","
                               "\"metric.accuracy\":\"0.5\",\"metric.val_loss\":\"0.33333333333333331\","
                               "\"metric.val_accuracy \\\"quoted\\\"\":\"0.71999999999999997\",\"spec\":\"; ";
    static const char first[] = "\"},\"conv2d_1.kernel\":{\"dtype\":\"F32\",\"shape\":[3,3,3,32],\"data_offsets\":[0,3456]},"
                                "\"conv2d_1.bias\":{\"dtype\":\"F32\",\"shape\":[32],\"data_offsets\":[3456,3584]},";
    const char *h = bytes + 8, *tail = h + hlen;
    EXPECT(hlen > sizeof head && memcmp(h, head, sizeof head - 1) == 0);
    EXPECT(memmem(h, hlen, first, sizeof first - 1) != NULL);
    while (tail > h && tail[-1] == ' ') tail--;
    EXPECT(tail > h && tail[-1] == '}' && h + hlen - tail < 8);
    fprintf(stderr, "  %zu bytes, header %llu bytes\n", len, (unsigned long long)hlen);
    free(bytes);
    free(p);
    free(r);
    nn_model_free(&m);
    fixture_free(&f);
}

TEST(without_rms) {
    fixture_t f;
    REQUIRE(fixture_new("model2.ini", &f) == 0);
    nn_ckpt_info_t info = {.epoch = 1};
    char path[4096];
    path_in(path, sizeof path, "norms.safetensors");
    REQUIRE(nn_ckpt_save(path, &f.m, &info, f.p, NULL) == 0);
    nn_model_t m;
    float *p = NULL, *r = NULL;
    REQUIRE(nn_ckpt_load(path, &m, NULL, &p, &r) == 0);
    EXPECT(memcmp(p, f.p, m.n_params * sizeof *p) == 0);
    int zero = 1;
    for (size_t i = 0; i < m.n_params; i++) zero &= r[i] == 0.0f;
    EXPECT(zero);
    EXPECT(m.aug.enabled == 1 && m.layers[9].type == NN_DROPOUT);
    free(p);
    free(r);
    nn_model_free(&m);
    path_in(path, sizeof path, "round.safetensors");   /* rms present but not asked for */
    REQUIRE(nn_ckpt_load(path, &m, NULL, &p, NULL) == 0);
    free(p);
    nn_model_free(&m);
    fixture_free(&f);
}

/* Spec text and metric names with characters JSON must escape, and UTF-8. */
TEST(escaping) {
    fixture_t f;
    REQUIRE(fixture_new("model1.ini", &f) == 0);
    size_t n = strlen(f.m.spec_text);
    const char *extra = "; \"quotes\" \\back\\slashes\\ \ttab, caf\xC3\xA9, \xF0\x9F\x90\xB1 \x7F \\u0041\r\n";
    char *text = malloc(n + strlen(extra) + 1);
    REQUIRE(text);
    sprintf(text, "%s%s", extra, f.m.spec_text);
    nn_model_t odd;
    REQUIRE(nn_model_parse(text, "odd.ini", &odd) == 0);
    nn_ckpt_info_t info = {.n_metrics = 1, .metric_values = {-0.0}};
    snprintf(info.metric_names[0], sizeof info.metric_names[0], "a\\b\"c\x01");
    char path[4096];
    path_in(path, sizeof path, "odd.safetensors");
    REQUIRE(nn_ckpt_save(path, &odd, &info, f.p, f.r) == 0);
    nn_model_t m;
    nn_ckpt_info_t got;
    float *p, *r;
    REQUIRE(nn_ckpt_load(path, &m, &got, &p, &r) == 0);
    EXPECT(strcmp(m.spec_text, text) == 0);
    EXPECT(got.n_metrics == 1 && strcmp(got.metric_names[0], info.metric_names[0]) == 0);
    free(p);
    free(r);
    free(text);
    nn_model_free(&m);
    nn_model_free(&odd);
    fixture_free(&f);
}

/* model1's layers on a 48x48 input: the same tensor names, 300k parameters instead of 3.45M, so the
 * damaged copies below cost little I/O. Written once to SCRATCH/small.safetensors. */
static int small_model(nn_model_t *m) {
    nn_model_t m1;
    if (load_model("model1.ini", &m1)) return -1;
    char *text = strdup(m1.spec_text), *at = text ? strstr(text, "input = 150, 150, 3") : NULL;
    int rc = -1;
    if (at) {
        memcpy(at, "input =  48,  48, 3", 19);
        rc = nn_model_parse(text, "small.ini", m);
        if (rc) fprintf(stderr, "  %s\n", err_msg());
    }
    free(text);
    nn_model_free(&m1);
    return rc;
}

static int small_checkpoint(char *path, size_t cap) {
    static int written;   /* once per run */
    path_in(path, cap, "small.safetensors");
    if (written) return 0;
    nn_model_t m;
    if (small_model(&m)) return -1;
    float *p = malloc(m.n_params * sizeof *p), *r = malloc(m.n_params * sizeof *r);
    nn_ckpt_info_t info = sample_info();
    int rc = -1;
    if (p && r) {
        nn_init_params(&m, 5, p);
        for (size_t i = 0; i < m.n_params; i++) r[i] = p[i] * p[i];
        rc = nn_ckpt_save(path, &m, &info, p, r);
        written = rc == 0;
    }
    free(p);
    free(r);
    nn_model_free(&m);
    return rc;
}

/* Load must fail with a message containing want. */
static void expect_refused(const char *path, const char *want) {
    nn_model_t m;
    nn_ckpt_info_t info;
    float *p = (float *)1, *r = (float *)1;
    int rc = nn_ckpt_load(path, &m, &info, &p, &r);
    int ok = rc == -1 && strstr(err_msg(), want) && strstr(err_msg(), path) && !p && !r && !m.spec_text;
    fprintf(stderr, "  %s: %s\n", ok ? "ok" : "WRONG", rc ? err_msg() : "accepted");
    EXPECT(ok);
    if (rc == 0) free(p), free(r), nn_model_free(&m);
}

TEST(truncated) {
    char path[4096], cut[4096];
    REQUIRE(small_checkpoint(path, sizeof path) == 0);
    path_in(cut, sizeof cut, "cut.safetensors");
    size_t len;
    char *bytes = read_all(path, &len);
    REQUIRE(bytes);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | (unsigned char)bytes[i];
    size_t lengths[] = {0, 1, 7, 8, 9, 8 + hlen / 2, 8 + hlen - 1, 8 + hlen, 8 + hlen + 4, len / 2, len - 4, len - 1};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        REQUIRE(write_all(cut, bytes, lengths[i]) == 0);
        fprintf(stderr, "  %zu of %zu bytes\n", lengths[i], len);
        expect_refused(cut, "truncated");
    }
    free(bytes);
}

/* Copy src to dst replacing the first `find` in the JSON header by `repl` (the header length is fixed
 * up); returns -1 if find is not in the header. */
static int edit_header(const char *src, const char *dst, const char *find, const char *repl) {
    size_t len;
    char *b = read_all(src, &len);
    if (!b) return -1;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | (unsigned char)b[i];
    char *h = strndup(b + 8, hlen);
    char *at = h ? strstr(h, find) : NULL;
    int rc = -1;
    if (at) {
        size_t nh = hlen - strlen(find) + strlen(repl), out_len = 8 + nh + (len - 8 - hlen);
        char *out = malloc(out_len);
        for (int i = 0; i < 8; i++) out[i] = (char)((uint64_t)nh >> (8 * i));
        size_t pre = (size_t)(at - h);
        memcpy(out + 8, h, pre);
        memcpy(out + 8 + pre, repl, strlen(repl));
        memcpy(out + 8 + pre + strlen(repl), at + strlen(find), hlen - pre - strlen(find));
        memcpy(out + 8 + nh, b + 8 + hlen, len - 8 - hlen);
        rc = write_all(dst, out, out_len);
        free(out);
    }
    free(h);
    free(b);
    return rc;
}

static void expect_edit_refused(const char *find, const char *repl, const char *want) {
    char src[4096], dst[4096];
    path_in(src, sizeof src, "small.safetensors");
    path_in(dst, sizeof dst, "edited.safetensors");
    int rc = edit_header(src, dst, find, repl);
    if (rc) fprintf(stderr, "  '%s' is not in the header\n", find);
    EXPECT(rc == 0);
    if (rc == 0) expect_refused(dst, want);
}

TEST(corrupt_headers) {
    nn_model_t m1;
    char src[4096], dst[4096];
    REQUIRE(small_checkpoint(src, sizeof src) == 0);
    REQUIRE(small_model(&m1) == 0);
    nn_param_view_t v[NN_MAX_PARAM_VIEWS];
    int nv = nn_param_views(&m1, v, NN_MAX_PARAM_VIEWS);
    REQUIRE(nv == 12);
    size_t nb = m1.n_params * 4;
    char entry[256], repl[256];
    /* dense_2.bias, the last view, and its rms twin, with their offsets as written */
    snprintf(entry, sizeof entry, ",\"dense_2.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%zu,%zu]}",
             v[11].offset * 4, v[11].offset * 4 + 4);
    expect_edit_refused(entry, "", "missing tensor 'dense_2.bias'");
    snprintf(entry, sizeof entry,
             ",\"dense_2.bias.rms\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%zu,%zu]}",
             nb + v[11].offset * 4, nb + v[11].offset * 4 + 4);
    expect_edit_refused(entry, "", "missing tensor 'dense_2.bias.rms'");
    snprintf(repl, sizeof repl, ",\"dense_2.bias.rms\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%zu,%zu]}",
             2 * nb, 2 * nb + 4);
    expect_edit_refused(entry, repl, "data_offsets out of range): tensor 'dense_2.bias.rms' ends at byte");
    snprintf(repl, sizeof repl, ",\"dense_2.bias.rms\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}");
    expect_edit_refused(entry, repl, "overlap");
    snprintf(repl, sizeof repl, ",\"dense_2.bias.rms\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}");
    expect_edit_refused(entry, repl, "begin <= end");
    snprintf(repl, sizeof repl, ",\"dense_2.bias.rms\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}");
    expect_edit_refused(entry, repl, "hold 8 bytes, its shape needs 4");
    snprintf(repl, sizeof repl, ",\"dense_2.bias.rms\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%zu,%zu],"
             "\"extra\":1}", nb + v[11].offset * 4, nb + v[11].offset * 4 + 4);
    expect_edit_refused(entry, repl, "needs exactly dtype, shape and data_offsets");
    expect_edit_refused("\"dtype\":\"F32\"", "\"dtype\":\"F16\"", "dtype F16, expected \"F32\"");
    expect_edit_refused("\"shape\":[3,3,3,32]", "\"shape\":[3,3,3,16]",
                        "tensor 'conv2d_1.kernel': shape [3, 3, 3, 16], but the spec inside says [3, 3, 3, 32]");
    expect_edit_refused("\"shape\":[3,3,3,32]", "\"shape\":[3,3,-3,32]", "shape is not a list");
    expect_edit_refused("\"dense_2.bias\"", "\"dense_2.biaz\"", "unexpected tensor 'dense_2.biaz'");
    expect_edit_refused("\"dense_2.bias.rms\"", "\"dense_2.bias\"", "duplicate object key near '\"dense_2.bias\"'");
    /* valid JSON of the wrong types */
    expect_edit_refused("\"dtype\":\"F32\"", "\"dtype\":32", "dtype (not a string), expected \"F32\"");
    expect_edit_refused("\"dtype\":\"F32\"", "\"dtype\":null", "dtype (not a string)");
    expect_edit_refused("\"shape\":[3,3,3,32]", "\"shape\":\"3,3,3,32\"", "shape is not a list");
    expect_edit_refused("\"shape\":[3,3,3,32]", "\"shape\":{\"0\":3}", "shape is not a list");
    expect_edit_refused("\"shape\":[3,3,3,32]", "\"shape\":[3,3,3,32.0]", "shape is not a list");
    expect_edit_refused("\"shape\":[3,3,3,32]", "\"shape\":[3,3,3,3.2e1]", "shape is not a list");
    expect_edit_refused("\"shape\":[3,3,3,32]", "\"shape\":[3,3,3,\"32\"]", "shape is not a list");
    expect_edit_refused("\"shape\":[3,3,3,32]", "\"shape\":[3,3,3,[32]]", "shape is not a list");
    expect_edit_refused("\"shape\":[3,3,3,32]", "\"shape\":[3,3,3,true]", "shape is not a list");
    expect_edit_refused("\"shape\":[3,3,3,32]", "\"shape\":[3,3,3,4611686018427387904]", "shape is not a list");
    expect_edit_refused("\"shape\":[3,3,3,32]", "\"shape\":[1,1,1,1,1,3,3,3,32]", "at most 8 sizes");
    expect_edit_refused("\"shape\":[3,3,3,32]", "\"shape\":[1,1,1,1,3,3,3,32]",
                        "shape [1, 1, 1, 1, 3, 3, 3, 32], but the spec inside says [3, 3, 3, 32]");
    expect_edit_refused("\"data_offsets\":[0,", "\"data_offsets\":[0.0,", "must be [begin, end]");
    expect_edit_refused("\"data_offsets\":[0,", "\"data_offsets\":[-0.5,", "must be [begin, end]");
    expect_edit_refused("\"data_offsets\":[0,", "\"data_offsets\":[\"0\",", "must be [begin, end]");
    expect_edit_refused("\"data_offsets\":[0,", "\"data_offsets\":[-8,", "must be [begin, end]");
    expect_edit_refused("\"data_offsets\":[0,", "\"data_offsets\":[0,0,", "must be [begin, end]");
    expect_edit_refused("\"data_offsets\":[0,", "\"data_offsets\":[9223372036854775807,", "must be [begin, end]");
    expect_edit_refused("\"data_offsets\":[0,", "\"data_offsets\":{\"b\":0,\"e\":", "not valid JSON");
    snprintf(entry, sizeof entry, "\"data_offsets\":[%zu,%zu]}", v[11].offset * 4, v[11].offset * 4 + 4);
    expect_edit_refused(entry, "\"data_offsets\":[9223372036854775802,9223372036854775806]}",
                        "data_offsets out of range): tensor 'dense_2.bias' ends at byte 9223372036854775806");
    expect_edit_refused(entry, "\"data_offsets\":[]}", "must be [begin, end]");
    expect_edit_refused(entry, "\"data_offsets\":null}", "must be [begin, end]");
    expect_edit_refused("\"dense_2.bias\":{", "\"dense_2.bias\":[{", "not valid JSON");
    snprintf(entry, sizeof entry, ",\"dense_2.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%zu,%zu]}",
             v[11].offset * 4, v[11].offset * 4 + 4);
    expect_edit_refused(entry, ",\"dense_2.bias\":[\"F32\",[1],[0,4]]", "needs exactly dtype, shape and data_offsets");
    expect_edit_refused(entry, ",\"dense_2.bias\":\"F32\"", "needs exactly dtype, shape and data_offsets");
    expect_edit_refused(entry, ",\"dense_2.bias\":{}", "needs exactly dtype, shape and data_offsets");
    expect_edit_refused("\"epoch\":\"3\"", "\"epoch\":3", "__metadata__ 'epoch' is not a string");
    expect_edit_refused("\"epoch\":\"3\"", "\"epoch\":[\"3\"]", "__metadata__ 'epoch' is not a string");
    expect_edit_refused("\"epoch\":\"3\"", "\"epoch\":\"4294967296\"", "metadata 'epoch' = '4294967296' is not a count");
    expect_edit_refused("\"step\":\"300\"", "\"step\":\"18446744073709551616\"", "is not a count");
    expect_edit_refused("\"step\":\"300\"", "\"step\":\"-1\"", "is not a count");
    expect_edit_refused("\"metric.loss\":\"", "\"metric.loss\":\"x", "metadata 'metric.loss' = 'x0.69");
    expect_edit_refused("\"dtype\":\"F32\"", "\"dtype\":\"F32\",", "not valid JSON");
    expect_edit_refused("\"epoch\":\"3\"", "\"epoch\":\"three\"", "metadata 'epoch' = 'three' is not a count");
    expect_edit_refused("\"format\":\"pawpipe-checkpoint-1\"", "\"format\":\"pawpipe-checkpoint-2\"",
                        "not a pawpipe checkpoint (format tag 'pawpipe-checkpoint-2'");
    expect_edit_refused("\"__metadata__\"", "\"__metadata_x\"", "not a pawpipe checkpoint");
    /* a spec inside that the tensors disagree with, and one that does not parse */
    expect_edit_refused("filters = 32", "filters = 16",
                        "tensor 'conv2d_1.kernel': shape [3, 3, 3, 32], but the spec inside says [3, 3, 3, 16]");
    expect_edit_refused("type = conv2d", "type = conv3d", "edited.safetensors[spec]:29: ");
    expect_edit_refused("type = conv2d", "type = conv3d", "unknown layer type 'conv3d'");
    /* bytes after the last tensor */
    path_in(dst, sizeof dst, "longer.safetensors");
    size_t len;
    char *b = read_all(src, &len);
    REQUIRE(b);
    char *b2 = realloc(b, len + 4);
    REQUIRE(b2);
    memset(b2 + len, 0, 4);
    REQUIRE(write_all(dst, b2, len + 4) == 0);
    expect_refused(dst, "4 bytes of data are not part of any tensor");
    free(b2);
    nn_model_free(&m1);
}

TEST(not_a_checkpoint) {
    char spec[4096], path[4096];
    snprintf(spec, sizeof spec, "%s/models/model1.ini", src_dir);
    expect_refused(spec, "not a safetensors checkpoint");
    expect_refused("no/such/file.safetensors", "cannot open");
    path_in(path, sizeof path, "junk.bin");
    /* safetensors files that are not pawpipe checkpoints, or not even that */
    static const struct {
        const char *header;
        size_t data;
        const char *want;
    } st[] = {
        {"[1, 2, 3]", 0, "does not start with '{'"},
        {"{oops}", 0, "not valid JSON"},
        {"{}", 0, "not a pawpipe checkpoint"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "not a pawpipe checkpoint"},
        {"{\"__metadata__\":{\"format\":\"pawpipe-checkpoint-1\"}}", 0, "metadata has no 'spec'"},
        {"{\"__metadata__\":{\"format\":\"pawpipe-checkpoint-1\",\"spec\":7}}", 0, "is not a string"},
    };
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
        size_t hl = strlen(st[i].header), n = 8 + hl + st[i].data;
        char buf[256] = {0};
        REQUIRE(n <= sizeof buf);
        for (int k = 0; k < 8; k++) buf[k] = (char)((uint64_t)hl >> (8 * k));
        memcpy(buf + 8, st[i].header, hl);
        REQUIRE(write_all(path, buf, n) == 0);
        expect_refused(path, st[i].want);
    }
    REQUIRE(write_all(path, "\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10) == 0);
    expect_refused(path, "header length 9223372036854775807 is implausible");
    REQUIRE(write_all(path, "\x01\0\0\0\0\0\0\0{", 9) == 0);
    expect_refused(path, "implausible");
}

TEST(another_model) {
    fixture_t f1, f2;
    REQUIRE(fixture_new("model1.ini", &f1) == 0);
    REQUIRE(fixture_new("model2.ini", &f2) == 0);
    nn_ckpt_info_t info = {0};
    char path[4096];
    path_in(path, sizeof path, "model2.safetensors");
    REQUIRE(nn_ckpt_save(path, &f2.m, &info, f2.p, f2.r) == 0);
    nn_model_t m;
    float *p, *r;
    REQUIRE(nn_ckpt_load(path, &m, NULL, &p, &r) == 0);
    EXPECT(nn_model_same(&f2.m, &m) == 0);
    EXPECT(nn_model_same(&f1.m, &m) == -1);   /* what --resume does with a checkpoint of another model */
    fprintf(stderr, "  %s\n", err_msg());
    EXPECT(strstr(err_msg(), "models differ at layer 10"));
    nn_model_t renamed = f2.m;   /* a shallow copy, not freed: Keras names the first layer "conv2d" */
    snprintf(renamed.layers[0].name, sizeof renamed.layers[0].name, "conv2d");
    EXPECT(nn_model_same(&renamed, &m) == 0);
    for (int i = 0; i < renamed.n_layers; i++)   /* another dropout rate: other training, the same weights */
        if (renamed.layers[i].type == NN_DROPOUT) renamed.layers[i].rate = 0.5;
    EXPECT(nn_model_same(&renamed, &m) == -1);
    EXPECT(nn_model_same_weights(&renamed, &m) == 0);
    free(p);
    free(r);
    nn_model_free(&m);
    fixture_free(&f1);
    fixture_free(&f2);
}

/* A file of the 8-byte length, header[0..hlen) and `data` zero bytes. */
static int write_header(const char *path, const char *header, size_t hlen, size_t data) {
    char *buf = calloc(1, 8 + hlen + data);
    if (!buf) return -1;
    for (int k = 0; k < 8; k++) buf[k] = (char)((uint64_t)hlen >> (8 * k));
    memcpy(buf + 8, header, hlen);
    int rc = write_all(path, buf, 8 + hlen + data);
    free(buf);
    return rc;
}

/* "{"a":" + n x '[' + n x ']' + "}" (or with "{"a":" in place of each '[' when objects). */
static char *nested(int n, int objects) {
    const char *open = objects ? "{\"a\":" : "[", *close = objects ? "}" : "]";
    char *s = malloc(8 + (size_t)n * (strlen(open) + 1) + 2), *o = s;
    if (!s) return NULL;
    o += sprintf(o, "{\"a\":");
    for (int i = 0; i < n; i++) o += sprintf(o, "%s", open);
    if (objects) o += sprintf(o, "1");
    for (int i = 0; i < n; i++) o += sprintf(o, "%s", close);
    sprintf(o, "}");
    return s;
}

/* Headers that are not strict JSON (RFC 8259, read by jansson with JSON_REJECT_DUPLICATES): each is
 * refused as "the header is not valid JSON: REASON (byte N)", never a crash or a partial load. */
TEST(bad_json) {
    static const struct {
        const char *header, *want;   /* want: part of jansson's reason ("" where any will do) */
    } bad[] = {
        /* truncated */
        {"{\"__metadata__\":{\"format\":\"pawpipe-checkpoint-1\"", "expected near end of file"},
        {"{\"__metadata__\":{\"format\":\"pawpi", "premature end of input"},
        {"{\"a\":[1, 2", "expected near end of file"},
        {"{\"a\":\"\\u00", "invalid escape"},
        /* not JSON: trailing commas, comments, quotes, constants, number forms, bad escapes */
        {"{\"a\":1,}", ""}, {"{\"a\":[1,]}", ""}, {"{\"a\":[,1]}", ""}, {"{1:2}", ""}, {"{\"a\" 1}", ""},
        {"{\"a\":1 \"b\":2}", ""}, {"{} {}", "end of file expected"}, {"{}x", "end of file expected"},
        {"{\"a\":1} // c", ""}, {"{/* c */}", ""}, {"{'a':1}", ""}, {"{\"a\":NaN}", ""}, {"{\"a\":Infinity}", ""},
        {"{\"a\":tru}", ""}, {"{\"a\":nul}", ""}, {"{\"a\":01}", ""}, {"{\"a\":1.}", ""}, {"{\"a\":.5}", ""},
        {"{\"a\":+1}", ""}, {"{\"a\":-}", ""}, {"{\"a\":1e}", ""}, {"{\"a\":0x10}", ""}, {"{\"a\":\"\\x\"}", ""},
        {"{\"a\":\"\\u12\"}", ""}, {"{\"a\":\"\\ud800\"}", ""}, {"{\"a\":\"\\udc00\"}", ""},
        {"{\"a\":\"\\ud800\\u0041\"}", ""},
        /* strings: raw control characters, NUL, not UTF-8 (overlong, surrogate, past U+10FFFF, cut short) */
        {"{\"a\":\"a\tb\"}", "control character"}, {"{\"a\":\"a\nb\"}", "unexpected newline"},
        {"{\"a\":\"\\u0000\"}", "\\u0000"}, {"{\"a\\u0000b\":1}", "NUL byte"},
        {"{\"a\":\"\xC0\x80\"}", "unable to decode byte"}, {"{\"a\":\"\xED\xA0\x80\"}", "unable to decode byte"},
        {"{\"a\":\"\xF5\x80\x80\x80\"}", "unable to decode byte"}, {"{\"a\":\"\xE2\x82\"}", "unable to decode byte"},
        {"{\"\xFF\":1}", "unable to decode byte"},
        /* repeated keys, at the top, in __metadata__, in a tensor */
        {"{\"a\":1,\"a\":2}", "duplicate object key"},
        {"{\"__metadata__\":{\"spec\":\"a\",\"spec\":\"b\"}}", "duplicate object key"},
        {"{\"t\":{\"dtype\":\"F32\",\"dtype\":\"F32\"}}", "duplicate object key"},
        /* numbers past what a double or a 64-bit integer holds */
        {"{\"a\":1e999}", "real number overflow"}, {"{\"a\":-1E400}", "real number overflow"},
        {"{\"a\":9223372036854775808}", "too big integer"},
        {"{\"a\":[0,18446744073709551616]}", "too big integer"},
        {"{\"a\":-9223372036854775809}", "too big negative integer"},
        {"{\"a\":100000000000000000000000000000000000000000000000000000000000000000}", "too big integer"},
    };
    char path[4096];
    path_in(path, sizeof path, "bad-json.safetensors");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REQUIRE(write_header(path, bad[i].header, strlen(bad[i].header), 0) == 0);
        expect_refused(path, "the header is not valid JSON: ");
        EXPECT(strstr(err_msg(), bad[i].want) && strstr(err_msg(), " (byte "));
    }
    /* NUL bytes: inside a string, and as padding */
    REQUIRE(write_header(path, "{\"a\":\"x\0y\"}", 11, 0) == 0);
    expect_refused(path, "not valid JSON");
    REQUIRE(write_header(path, "{}\0\0\0\0\0\0", 8, 0) == 0);
    expect_refused(path, "not valid JSON");
    /* nesting: jansson stops past 2048 levels (arrays or objects, no deep recursion); 2000 levels
     * parse, and are refused for what they are */
    for (int objects = 0; objects <= 1; objects++) {
        char *deep = nested(100000, objects);
        REQUIRE(deep);
        REQUIRE(write_header(path, deep, strlen(deep), 0) == 0);
        expect_refused(path, "maximum parsing depth reached");
        free(deep);
    }
    char *deep = nested(2000, 0), *meta = deep ? malloc(strlen(deep) + 64) : NULL;
    REQUIRE(meta);
    sprintf(meta, "{\"__metadata__\":%s}", deep);
    REQUIRE(write_header(path, meta, strlen(meta), 0) == 0);
    expect_refused(path, "__metadata__ 'a' is not a string");
    free(meta);
    free(deep);
}

/* The writer refuses what it could not write as JSON, or could not read back. */
TEST(unwritable) {
    fixture_t f;
    REQUIRE(fixture_new("model2.ini", &f) == 0);
    char path[4096];
    path_in(path, sizeof path, "unwritable.safetensors");
    nn_ckpt_info_t info = {.n_metrics = 2, .metric_names = {"loss", "loss"}};
    EXPECT(nn_ckpt_save(path, &f.m, &info, f.p, f.r) == -1 && strstr(err_msg(), "metric 1: the name 'loss' is taken"));
    fprintf(stderr, "  %s\n", err_msg());
    info = (nn_ckpt_info_t){.n_metrics = 1, .metric_names = {"caf\xC3"}};
    EXPECT(nn_ckpt_save(path, &f.m, &info, f.p, f.r) == -1 && strstr(err_msg(), "metric 0: the name is not valid UTF-8"));
    fprintf(stderr, "  %s\n", err_msg());
    EXPECT(strncmp(err_msg(), path, strlen(path)) == 0 && access(path, F_OK) != 0);
    fixture_free(&f);
}

/* Thousands of randomly damaged copies of a small checkpoint: each is refused with a message or
 * loads consistently; never a crash (run under PAWPIPE_ASAN to catch memory errors). */
TEST(mutations) {
    static const char spec[] = "[model]\ninput = 6, 6, 1\n[optimizer]\ntype = rmsprop\n[loss]\n"
                               "type = binary_crossentropy\n[c]\ntype = conv2d\nfilters = 2\nkernel_size = 3\n"
                               "[f]\ntype = flatten\n[d]\ntype = dense\nunits = 1\nactivation = sigmoid\n";
    nn_model_t tiny;
    REQUIRE(nn_model_parse(spec, "tiny", &tiny) == 0);
    float p[64], r[64];
    REQUIRE(tiny.n_params <= 64);
    nn_init_params(&tiny, 3, p);
    memcpy(r, p, sizeof r);
    nn_ckpt_info_t info = {.epoch = 1, .n_metrics = 1, .metric_names = {"loss"}};
    char path[4096], bad[4096];
    path_in(path, sizeof path, "tiny.safetensors");
    path_in(bad, sizeof bad, "tiny-bad.safetensors");
    REQUIRE(nn_ckpt_save(path, &tiny, &info, p, r) == 0);
    size_t len;
    char *orig = read_all(path, &len), *buf = malloc(len);
    REQUIRE(orig && buf);
    rng_t g;
    rng_init(&g, 20240601, 0);
    static const char pokes[] = "{}[]\",:0123456789-.eE \\u\x01\x80\xff";
    int accepted = 0, refused = 0, silent = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, orig, len);
        size_t n = len;
        for (int k = 1 + (int)(rng_u32(&g) % 3); k > 0; k--) {
            size_t at = rng_u32(&g) % (len - 4 * tiny.n_params * 2);   /* the length word and the header */
            buf[at] = rng_u32(&g) % 2 ? pokes[rng_u32(&g) % (sizeof pokes - 1)] : (char)rng_u32(&g);
        }
        if (it % 7 == 0) n = rng_u32(&g) % len;
        REQUIRE(write_all(bad, buf, n) == 0);
        nn_model_t m;
        float *lp, *lr;
        err_clear();
        if (nn_ckpt_load(bad, &m, NULL, &lp, &lr) == 0) {
            accepted++;   /* e.g. a changed digit in a metric, or a changed comment in the spec */
            EXPECT(m.n_params == tiny.n_params);
            free(lp), free(lr), nn_model_free(&m);
        } else {
            refused++;
            silent += strstr(err_msg(), bad) == NULL;
        }
    }
    fprintf(stderr, "  3000 damaged copies: %d refused, %d accepted\n", refused, accepted);
    EXPECT(refused > 2000 && silent == 0);
    free(orig);
    free(buf);
    nn_model_free(&tiny);
}

/* The checkpoint tests/test_ckpt_load.py reads: model1, values from fixture_values, known metadata. */
static int write_fixture(const char *path) {
    nn_model_t m;
    if (load_model("model1.ini", &m)) return 1;
    float *p = malloc(m.n_params * sizeof *p), *r = malloc(m.n_params * sizeof *r);
    if (!p || !r) return 1;
    fixture_values(m.n_params, p, r);
    nn_ckpt_info_t info = {.epoch = 7, .step = 700, .seed = 12345, .n_metrics = 2};
    snprintf(info.metric_names[0], sizeof info.metric_names[0], "loss");
    snprintf(info.metric_names[1], sizeof info.metric_names[1], "accuracy");
    info.metric_values[0] = 0.25, info.metric_values[1] = 0.875;
    int rc = nn_ckpt_save(path, &m, &info, p, r);
    if (rc) fprintf(stderr, "%s\n", err_msg());
    free(p);
    free(r);
    nn_model_free(&m);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc > 1) src_dir = argv[1];
    if (argc > 3 && strcmp(argv[2], "--write-fixture") == 0) return write_fixture(argv[3]);
    if (argc > 2) scratch = argv[2];
    if (mkdir(scratch, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s: %s\n", scratch, strerror(errno));
        return 1;
    }
    RUN(bad_json);
    RUN(unwritable);
    RUN(round_trip);
    RUN(without_rms);
    RUN(escaping);
    RUN(truncated);
    RUN(corrupt_headers);
    RUN(not_a_checkpoint);
    RUN(another_model);
    RUN(mutations);
    return TEST_SUMMARY();
}
