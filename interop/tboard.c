/* tboard.c: TensorBoard event files: Event messages (protobuf-c, tboard.proto) in CRC-32C framed records. */
#include "interop/tboard.h"

#include <errno.h>
#include <fcntl.h>
#include <isa-l/crc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/check.h"
#include "common/fsutil.h"
#include "tboard.pb-c.h"

#define CRC_MASK_DELTA 0xa282ead8u
#define RECORD_OVERHEAD 16   /* length (8) and two CRCs (4 + 4) */

/* The <n> of the file names, per process as in TensorFlow: two writers opened in the same second by
 * one process (the trainer and an evaluator running as threads of a test) get different names. */
static atomic_uint file_counter;

uint32_t tboard_crc32c(const void *data, size_t len) {
    /* ISA-L's crc32_iscsi neither inverts the initial value nor the result: we do both. */
    uint32_t crc = 0xffffffffu;
    const unsigned char *p = data;
    while (len > 0) {   /* its length is an int */
        int n = len > (1u << 30) ? 1 << 30 : (int)len;
        crc = crc32_iscsi((unsigned char *)p, n, crc);
        p += n;
        len -= (size_t)n;
    }
    return crc ^ 0xffffffffu;
}

uint32_t tboard_masked_crc(const void *data, size_t len) {
    uint32_t crc = tboard_crc32c(data, len);
    return ((crc >> 15) | (crc << 17)) + CRC_MASK_DELTA;
}

static void put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static double wall_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* events.out.tfevents.<seconds>.<host>.<pid>.<counter>.v2, as TensorFlow 2 names its files. */
static int file_name(char *buf, size_t cap, long seconds, unsigned counter) {
    char host[256];
    if (gethostname(host, sizeof host) != 0 || host[0] == '\0') snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    int n = snprintf(buf, cap, "events.out.tfevents.%ld.%s.%ld.%u.v2", seconds, host, (long)getpid(), counter);
    CHECK(n > 0 && (size_t)n < cap, "tensorboard: the event file name is longer than %zu bytes", cap - 1);
    return 0;
}

int tboard_ok(const tboard_t *w) { return w->open && !w->failed; }

/* After a failure the writer writes nothing more (a half-written record may end the file: TensorBoard
 * reads up to it). */
static void fail(tboard_t *w) {
    w->failed = 1;
    w->used = 0;
    if (w->open) close(w->fd);
    w->open = 0;
}

static int usable(const tboard_t *w) {
    CHECK(w->open && !w->failed, "tensorboard: %s: %s", w->path[0] ? w->path : "no event file",
          w->failed ? "not written since an earlier error" : "not open");
    return 0;
}

int tboard_flush(tboard_t *w) {
    TRY(usable(w));
    if (fs_write_all(w->fd, w->buf, w->used) != 0) {
        err_set("tensorboard: writing %s: %s", w->path, strerror(errno));
        fail(w);
        return -1;
    }
    w->used = 0;
    return 0;
}

/* Frame ev as a record at the end of the buffer (written out first when it would not fit). */
static int append_event(tboard_t *w, const Tboard__Event *ev) {
    TRY(usable(w));
    size_t len = tboard__event__get_packed_size(ev);
    CHECK(len + RECORD_OVERHEAD <= sizeof w->buf, "tensorboard: an event of %zu bytes does not fit the buffer",
          len);
    if (w->used + len + RECORD_OVERHEAD > sizeof w->buf) TRY(tboard_flush(w));
    unsigned char *p = w->buf + w->used;
    put_le(p, len, 8);
    put_le(p + 8, tboard_masked_crc(p, 8), 4);
    size_t packed = tboard__event__pack(ev, p + 12);
    ASSERT(packed == len);
    put_le(p + 12 + len, tboard_masked_crc(p + 12, len), 4);
    w->used += len + RECORD_OVERHEAD;
    return 0;
}

/* Create the file under a name no other writer has (O_EXCL; the counter moves on past a taken one). */
static int create_file(tboard_t *w, const char *dir, long seconds) {
    for (int tries = 0;; tries++) {
        char name[512];
        TRY(file_name(name, sizeof name, seconds, atomic_fetch_add(&file_counter, 1)));
        int n = snprintf(w->path, sizeof w->path, "%s/%s", dir, name);
        CHECK(n > 0 && (size_t)n < sizeof w->path, "tensorboard: %s: the folder name is too long", dir);
        w->fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
        w->open = w->fd >= 0;
        if (w->open) return 0;
        CHECK(errno == EEXIST && tries < 1000, "tensorboard: creating %s: %s", w->path, strerror(errno));
    }
}

int tboard_open(tboard_t *w, const char *dir) {
    memset(w, 0, offsetof(tboard_t, buf));
    if (mkdir_p(dir) != 0) {
        err_prepend("tensorboard");
        w->failed = 1;
        return -1;
    }
    /* As TensorFlow's writer: the first event's time is the whole seconds of the file name. */
    long seconds = (long)time(NULL);
    if (create_file(w, dir, seconds) != 0) {
        w->failed = 1;
        return -1;
    }
    Tboard__Event ev = TBOARD__EVENT__INIT;
    ev.wall_time = (double)seconds;
    ev.what_case = TBOARD__EVENT__WHAT_FILE_VERSION;
    ev.file_version = (char *)TBOARD_FILE_VERSION;
    TRY(append_event(w, &ev));
    return tboard_flush(w);
}

int tboard_scalar(tboard_t *w, const char *tag, int64_t step, double value) {
    CHECK(strlen(tag) <= TBOARD_TAG_MAX, "tensorboard: the tag '%.32s...' is longer than %d bytes", tag,
          TBOARD_TAG_MAX);
    /* A float32 scalar in tensor_content, an empty (but present) shape, the scalars plugin with no content
     * and no data class: byte for byte what tf.summary.scalar writes from Keras' callback. */
    float f = (float)value;
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    unsigned char content[4];
    put_le(content, bits, 4);
    Tboard__TensorShapeProto shape = TBOARD__TENSOR_SHAPE_PROTO__INIT;
    Tboard__TensorProto tensor = TBOARD__TENSOR_PROTO__INIT;
    tensor.dtype = TBOARD__DATA_TYPE__DT_FLOAT;
    tensor.tensor_shape = &shape;
    tensor.tensor_content.data = content;
    tensor.tensor_content.len = sizeof content;
    Tboard__SummaryMetadata__PluginData plugin = TBOARD__SUMMARY_METADATA__PLUGIN_DATA__INIT;
    plugin.plugin_name = (char *)TBOARD_PLUGIN_SCALARS;
    Tboard__SummaryMetadata meta = TBOARD__SUMMARY_METADATA__INIT;
    meta.plugin_data = &plugin;
    Tboard__Summary__Value v = TBOARD__SUMMARY__VALUE__INIT;
    v.tag = (char *)tag;
    v.metadata = &meta;
    v.value_case = TBOARD__SUMMARY__VALUE__VALUE_TENSOR;
    v.tensor = &tensor;
    Tboard__Summary__Value *values[] = {&v};
    Tboard__Summary summary = TBOARD__SUMMARY__INIT;
    summary.n_value = 1;
    summary.value = values;
    Tboard__Event ev = TBOARD__EVENT__INIT;
    ev.wall_time = wall_time();
    ev.step = step;
    ev.what_case = TBOARD__EVENT__WHAT_SUMMARY;
    ev.summary = &summary;
    return append_event(w, &ev);
}

int tboard_close(tboard_t *w) {
    if (!w->open) return 0;
    int rc = w->used ? tboard_flush(w) : 0;   /* a failed flush closes the file itself */
    if (w->open && close(w->fd) != 0 && rc == 0) {
        err_set("tensorboard: closing %s: %s", w->path, strerror(errno));
        rc = -1;
    }
    w->open = 0;
    return rc;
}
