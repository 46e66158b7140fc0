/* test_tboard.c: TensorBoard event files (interop/tboard.c): the CRC-32C and its mask, the record
 * framing and the Event messages against a record TensorFlow wrote, files read back and decoded with
 * the protobuf-c code generated from tboard.proto, and the errors a writer gives. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/check.h"
#include "interop/tboard.h"
#include "tboard.pb-c.h"
#include "test.h"
#include "testlib.h"

/* A record of an event file written by Keras 3.15's TensorBoard callback (TensorFlow 2.21's writer): the
 * validation run's epoch_loss at step 1, value 0x3f4639a2 (float32). Its wall_time is bytes 13-20. */
static const unsigned char keras_record[] = {
    0x34, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5e, 0x33, 0x17, 0x5c, 0x09, 0x85, 0xea, 0x9c, 0x72,
    0x63, 0xc4, 0xda, 0x41, 0x10, 0x01, 0x2a, 0x27, 0x0a, 0x25, 0x0a, 0x0a, 0x65, 0x70, 0x6f, 0x63, 0x68,
    0x5f, 0x6c, 0x6f, 0x73, 0x73, 0x42, 0x0a, 0x08, 0x01, 0x12, 0x00, 0x22, 0x04, 0xa2, 0x39, 0x46, 0x3f,
    0x4a, 0x0b, 0x0a, 0x09, 0x0a, 0x07, 0x73, 0x63, 0x61, 0x6c, 0x61, 0x72, 0x73, 0xeb, 0x61, 0x0c, 0x90};
#define KERAS_VALUE_BITS 0x3f4639a2u

static uint64_t get_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static float float_of_bits(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Bit by bit, from the definition (reflected polynomial 0x82f63b78), to hold ISA-L's tables against. */
static uint32_t crc32c_bitwise(const unsigned char *p, size_t len) {
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
    }
    return crc ^ 0xffffffffu;
}

TEST(crc32c_check_value) {
    EXPECT(tboard_crc32c("123456789", 9) == 0xE3069283u);   /* the standard check value of CRC-32C */
    EXPECT(tboard_crc32c("", 0) == 0);
    unsigned char buf[1031];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 131 + 7);
    for (size_t len = 0; len <= sizeof buf; len += len < 70 ? 1 : 97)   /* ISA-L's paths for short and long */
        EXPECT(tboard_crc32c(buf, len) == crc32c_bitwise(buf, len));
}

TEST(masked_crc_of_a_keras_record) {
    size_t len = (size_t)get_le(keras_record, 8);
    REQUIRE(len + 16 == sizeof keras_record);
    EXPECT(tboard_masked_crc(keras_record, 8) == get_le(keras_record + 8, 4));
    EXPECT(tboard_masked_crc(keras_record + 12, len) == get_le(keras_record + 12 + len, 4));
    /* the mask by hand: rotate right by 15, add the constant */
    uint32_t crc = tboard_crc32c(keras_record, 8);
    EXPECT(tboard_masked_crc(keras_record, 8) == ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
}

typedef struct {
    unsigned char *data;
    size_t size;
    size_t off;
} reader_t;

/* The next record's message, after checking its length and both CRCs: 1, 0 at the end, -1 broken. */
static int next_record(reader_t *r, const unsigned char **msg, size_t *len) {
    if (r->off == r->size) return 0;
    if (r->size - r->off < 16) return -1;
    const unsigned char *p = r->data + r->off;
    uint64_t n = get_le(p, 8);
    if (n > r->size - r->off - 16) return -1;
    if (get_le(p + 8, 4) != tboard_masked_crc(p, 8)) return -1;
    if (get_le(p + 12 + n, 4) != tboard_masked_crc(p + 12, (size_t)n)) return -1;
    *msg = p + 12;
    *len = (size_t)n;
    r->off += 16 + (size_t)n;
    return 1;
}

/* How many files of dir are event files (events.out.tfevents.*); the path of one of them in out. */
static int find_event_files(const char *dir, char *out, size_t cap) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, "events.out.tfevents.", 20) == 0) {
            snprintf(out, cap, "%s/%s", dir, e->d_name);
            n++;
        }
    closedir(d);
    return n;
}

/* A scalar event of ours is byte for byte the event TensorFlow wrote, but for the time. */
TEST(scalar_event_equals_tensorflows) {
    char dir[256], path[600];
    REQUIRE(tl_tmpdir(dir, sizeof dir, "tboard") == 0);
    tboard_t w;
    REQUIRE(tboard_open(&w, dir) == 0);
    REQUIRE(tboard_scalar(&w, "epoch_loss", 1, float_of_bits(KERAS_VALUE_BITS)) == 0);
    REQUIRE(tboard_close(&w) == 0);
    REQUIRE(find_event_files(dir, path, sizeof path) == 1);
    size_t size = 0;
    unsigned char *data = (unsigned char *)tl_read_file(path, &size);
    REQUIRE(data != NULL);
    reader_t r = {data, size, 0};
    const unsigned char *msg = NULL;
    size_t len = 0;
    EXPECT(next_record(&r, &msg, &len) == 1);   /* the file version */
    EXPECT(next_record(&r, &msg, &len) == 1);
    EXPECT(next_record(&r, &msg, &len) == 0);
    if (len + 16 == sizeof keras_record && msg[0] == 0x09) {
        unsigned char rec[sizeof keras_record];
        memcpy(rec, msg - 12, sizeof rec);
        memcpy(rec + 13, keras_record + 13, 8);   /* TensorFlow's wall_time, and the CRC that covers it */
        memcpy(rec + 12 + len, keras_record + 12 + len, 4);
        EXPECT(memcmp(rec, keras_record, sizeof rec) == 0);
        EXPECT(tboard_masked_crc(rec + 12, len) == get_le(keras_record + 12 + len, 4));
    } else {
        fprintf(stderr, "  our epoch_loss event is %zu bytes, TensorFlow's %zu\n", len, sizeof keras_record - 16);
        EXPECT(0);
    }
    free(data);
    tl_tmpdir_done(dir);
}

TEST(write_read_back_decode) {
    char base[256], dir[400], path[600];
    REQUIRE(tl_tmpdir(base, sizeof base, "tboard") == 0);
    snprintf(dir, sizeof dir, "%s/run/tensorboard/train", base);   /* parents created */
    time_t t0 = time(NULL);
    tboard_t w;
    REQUIRE(tboard_open(&w, dir) == 0);
    EXPECT(tboard_ok(&w));
    /* more than the buffer holds between flushes, so it is written out on the way too */
    enum { N = 100 };
    for (int i = 0; i < N; i++) {
        REQUIRE(tboard_scalar(&w, i % 2 ? "epoch_accuracy" : "batch_loss", i % 2 ? i / 2 : 123456789012LL + i,
                              0.25 + i) == 0);
        if (i == 10) REQUIRE(tboard_flush(&w) == 0);
    }
    REQUIRE(tboard_close(&w) == 0);
    EXPECT(!tboard_ok(&w));
    EXPECT(tboard_close(&w) == 0);   /* twice is fine */

    REQUIRE(find_event_files(dir, path, sizeof path) == 1);
    const char *name = strrchr(path, '/') + 1;
    long secs = 0;
    char host[256];
    unsigned counter = 0;
    EXPECT(sscanf(name, "events.out.tfevents.%ld.", &secs) == 1);
    EXPECT(secs >= t0 && secs <= time(NULL));
    /* events.out.tfevents.<seconds>.<host>.<pid>.<counter>.v2, as TensorFlow 2 names them */
    REQUIRE(gethostname(host, sizeof host) == 0);
    char prefix[400];
    snprintf(prefix, sizeof prefix, "events.out.tfevents.%ld.%s.%ld.", secs, host, (long)getpid());
    EXPECT(strncmp(name, prefix, strlen(prefix)) == 0);
    EXPECT(sscanf(name + strlen(prefix), "%u", &counter) == 1);
    EXPECT(strcmp(name + strlen(name) - 3, ".v2") == 0);

    size_t size = 0;
    unsigned char *data = (unsigned char *)tl_read_file(path, &size);
    REQUIRE(data != NULL);
    reader_t r = {data, size, 0};
    const unsigned char *msg;
    size_t len;
    REQUIRE(next_record(&r, &msg, &len) == 1);
    Tboard__Event *ev = tboard__event__unpack(NULL, len, msg);
    REQUIRE(ev != NULL);
    EXPECT(ev->what_case == TBOARD__EVENT__WHAT_FILE_VERSION);
    EXPECT(ev->what_case == TBOARD__EVENT__WHAT_FILE_VERSION && strcmp(ev->file_version, "brain.Event:2") == 0);
    EXPECT(ev->wall_time == (double)secs);   /* TensorFlow's first event: the file name's seconds */
    EXPECT(ev->step == 0);
    tboard__event__free_unpacked(ev, NULL);

    int n = 0, rc;
    double prev_time = 0;
    while ((rc = next_record(&r, &msg, &len)) == 1) {
        ev = tboard__event__unpack(NULL, len, msg);
        REQUIRE(ev != NULL);
        int i = n++;
        EXPECT(ev->step == (i % 2 ? i / 2 : 123456789012LL + i));
        EXPECT(ev->wall_time >= prev_time && ev->wall_time >= (double)t0 && ev->wall_time < (double)time(NULL) + 1);
        prev_time = ev->wall_time;
        REQUIRE(ev->what_case == TBOARD__EVENT__WHAT_SUMMARY && ev->summary->n_value == 1);
        const Tboard__Summary__Value *v = ev->summary->value[0];
        EXPECT(strcmp(v->tag, i % 2 ? "epoch_accuracy" : "batch_loss") == 0);
        REQUIRE(v->value_case == TBOARD__SUMMARY__VALUE__VALUE_TENSOR);
        const Tboard__TensorProto *t = v->tensor;
        EXPECT(t->dtype == TBOARD__DATA_TYPE__DT_FLOAT);
        EXPECT(t->tensor_shape != NULL && t->tensor_shape->n_dim == 0 && !t->tensor_shape->unknown_rank);
        REQUIRE(t->tensor_content.len == 4);
        EXPECT(float_of_bits((uint32_t)get_le(t->tensor_content.data, 4)) == (float)(0.25 + i));
        EXPECT(t->n_float_val == 0);
        REQUIRE(v->metadata != NULL && v->metadata->plugin_data != NULL);
        EXPECT(strcmp(v->metadata->plugin_data->plugin_name, "scalars") == 0);
        EXPECT(v->metadata->plugin_data->content.len == 0);
        EXPECT(v->metadata->data_class == TBOARD__DATA_CLASS__DATA_CLASS_UNKNOWN);   /* as Keras writes it */
        tboard__event__free_unpacked(ev, NULL);
    }
    EXPECT(rc == 0);
    EXPECT(n == N);

    /* a second writer in the same folder: a new file next to the first (a resumed run) */
    tboard_t w2;
    REQUIRE(tboard_open(&w2, dir) == 0);
    EXPECT(strcmp(w2.path, path) != 0);
    EXPECT(tboard_close(&w2) == 0);
    free(data);
    tl_tmpdir_done(base);
}

TEST(errors_are_clear) {
    char base[256], dir[400];
    REQUIRE(tl_tmpdir(base, sizeof base, "tboard") == 0);
    /* a folder that cannot be created: a plain file is in the way */
    snprintf(dir, sizeof dir, "%s/file", base);
    REQUIRE(tl_write_text(dir, "x") == 0);
    snprintf(dir, sizeof dir, "%s/file/tensorboard/train", base);
    tboard_t w;
    EXPECT(tboard_open(&w, dir) == -1);
    fprintf(stderr, "  (expected) %s\n", err_msg());
    EXPECT(strncmp(err_msg(), "tensorboard: ", 13) == 0);
    EXPECT(strstr(err_msg(), "/file/tensorboard") != NULL && strstr(err_msg(), "Not a directory") != NULL);
    EXPECT(!tboard_ok(&w));
    EXPECT(tboard_scalar(&w, "epoch_loss", 0, 1.0) == -1);   /* no crash, says why */
    EXPECT(strstr(err_msg(), "tensorboard") != NULL);
    EXPECT(tboard_flush(&w) == -1);
    EXPECT(tboard_close(&w) == 0);

    /* a tag longer than TBOARD_TAG_MAX */
    snprintf(dir, sizeof dir, "%s/ok", base);
    REQUIRE(tboard_open(&w, dir) == 0);
    char tag[TBOARD_TAG_MAX + 2];
    memset(tag, 'a', sizeof tag - 1);
    tag[sizeof tag - 1] = '\0';
    EXPECT(tboard_scalar(&w, tag, 0, 1.0) == -1);
    EXPECT(strstr(err_msg(), "longer than") != NULL);
    EXPECT(tboard_ok(&w));   /* a bad tag is the caller's mistake, not the file's */

    /* a full disk: the event file's descriptor made to point at /dev/full */
    int full = open("/dev/full", O_WRONLY);
    if (full >= 0) {
        REQUIRE(dup2(full, w.fd) == w.fd);
        close(full);
        EXPECT(tboard_scalar(&w, "epoch_loss", 0, 1.0) == 0);   /* gathered, not written yet */
        EXPECT(tboard_flush(&w) == -1);
        fprintf(stderr, "  (expected) %s\n", err_msg());
        char want[TBOARD_PATH_MAX + 64];
        snprintf(want, sizeof want, "tensorboard: writing %s: %s", w.path, strerror(ENOSPC));
        EXPECT(strcmp(err_msg(), want) == 0);
        EXPECT(!tboard_ok(&w));
        EXPECT(tboard_scalar(&w, "epoch_loss", 1, 1.0) == -1);   /* stays failed */
        EXPECT(strstr(err_msg(), "not written since an earlier error") != NULL);
    } else {
        fprintf(stderr, "  no /dev/full here: the full-disk case is not tried\n");
    }
    EXPECT(tboard_close(&w) == 0);
    tl_tmpdir_done(base);
}

int main(void) {
    RUN(crc32c_check_value);
    RUN(masked_crc_of_a_keras_record);
    RUN(scalar_event_equals_tensorflows);
    RUN(write_read_back_decode);
    RUN(errors_are_clear);
    return TEST_SUMMARY();
}
