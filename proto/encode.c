/* encode.c: proto_msg_t -> one msgpack map in a reusable byte buffer (the wire format of docs/protocol.md).
 * The encoder refuses what the decoder would reject for being inconsistent (a count over an array's
 * size, bytes that disagree with a shape, a string without its NUL), so a bug shows at the sender. */
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "proto/internal.h"

/* Room for at least `need` bytes: the capacity doubles (from 4 KiB) and never shrinks. */
static int pbuf_reserve(proto_buf_t *b, size_t need) {
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need) {
        CHECK(cap <= SIZE_MAX / 2, "pbuf: %zu bytes is too large", need);
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    CHECK(p != NULL, "pbuf: cannot grow to %zu bytes", cap);
    b->data = p;
    b->cap = cap;
    return 0;
}

/* msgpack_packer's write callback. */
static int pbuf_write(void *data, const char *buf, size_t len) {
    proto_buf_t *b = data;
    if (len == 0) return 0;
    if (len > SIZE_MAX - b->len || pbuf_reserve(b, b->len + len) != 0) return -1;
    memcpy(b->data + b->len, buf, len);
    b->len += len;
    return 0;
}

typedef msgpack_packer pk_t;

/* Each returns 0, or non-zero when the buffer could not grow (err_msg() says so). */
static int put_str(pk_t *pk, const char *s, size_t n) {
    return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}
static int key(pk_t *pk, const char *k) { return put_str(pk, k, strlen(k)); }
static int kv_u64(pk_t *pk, const char *k, uint64_t v) { return key(pk, k) || msgpack_pack_uint64(pk, v); }
static int kv_i64(pk_t *pk, const char *k, int64_t v) { return key(pk, k) || msgpack_pack_int64(pk, v); }
static int kv_f64(pk_t *pk, const char *k, double v) { return key(pk, k) || msgpack_pack_double(pk, v); }
static int kv_name(pk_t *pk, const char *k, const char *v) { return key(pk, k) || put_str(pk, v, strlen(v)); }
static int kv_bool(pk_t *pk, const char *k, int v) {
    return key(pk, k) || (v ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
}
static int kv_bin(pk_t *pk, const char *k, const uint8_t *p, size_t n) {
    return key(pk, k) || msgpack_pack_bin(pk, n) || (n && msgpack_pack_bin_body(pk, p, n));
}

/* A string held in a fixed array: it must end inside the array. */
static int kv_fixed(pk_t *pk, const char *k, const char *s, size_t cap, const char *what) {
    size_t n = strnlen(s, cap);
    CHECK(n < cap, "%s: %s is not NUL-terminated within %zu bytes", what, k, cap);
    return key(pk, k) || put_str(pk, s, n);
}

static int head(pk_t *pk, proto_kind_t kind, uint32_t nfields) {
    return msgpack_pack_map(pk, nfields + 2) || kv_name(pk, "kind", proto_kind_name(kind)) ||
           kv_u64(pk, "v", PROTO_VERSION);
}

static int enc_aug(pk_t *pk, const aug_params_t *a) {
    return key(pk, "aug") || msgpack_pack_map(pk, 11) || kv_bool(pk, "enabled", a->enabled) ||
           kv_f64(pk, "rotation_range", a->rotation_range) ||
           kv_f64(pk, "width_shift_range", a->width_shift_range) ||
           kv_f64(pk, "height_shift_range", a->height_shift_range) ||
           kv_f64(pk, "shear_range", a->shear_range) || kv_f64(pk, "zoom_lo", a->zoom_lo) ||
           kv_f64(pk, "zoom_hi", a->zoom_hi) || kv_bool(pk, "horizontal_flip", a->horizontal_flip) ||
           kv_bool(pk, "vertical_flip", a->vertical_flip) ||
           kv_name(pk, "fill_mode", fill_mode_name(a->fill_mode)) || kv_f64(pk, "cval", a->cval);
}

static int enc_job(pk_t *pk, const proto_job_t *j) {
    CHECK(j->n_members <= PROTO_MAX_MEMBERS, "job: %u members, over %d", j->n_members, PROTO_MAX_MEMBERS);
    CHECK((unsigned)j->split <= PROTO_SPLIT_TEST, "job: unknown split %d", (int)j->split);
    CHECK((unsigned)j->aug.fill_mode <= FILL_WRAP, "job: unknown fill mode %d", (int)j->aug.fill_mode);
    if (head(pk, PROTO_JOB, 8) || kv_u64(pk, "seq", j->seq) || kv_u64(pk, "epoch", j->epoch) ||
        kv_u64(pk, "step", j->step) || kv_name(pk, "split", proto_split_name(j->split)) ||
        kv_u64(pk, "height", j->height) || kv_u64(pk, "width", j->width) || enc_aug(pk, &j->aug) ||
        key(pk, "members") || msgpack_pack_array(pk, j->n_members))
        return -1;
    for (uint32_t i = 0; i < j->n_members; i++) {
        const proto_member_t *m = &j->members[i];
        CHECK(m->data || m->len == 0, "job: members[%u] has %zu bytes but no data", i, m->len);
        if (msgpack_pack_map(pk, 6) || kv_u64(pk, "id", m->id) || kv_u64(pk, "label", m->label) ||
            kv_u64(pk, "seed", m->seed) || kv_u64(pk, "key", m->key) ||
            kv_fixed(pk, "name", m->name, sizeof m->name, "job member") ||
            kv_bin(pk, "data", m->data, m->len))
            return -1;
    }
    return 0;
}

static int enc_batch(pk_t *pk, const proto_batch_t *b) {
    CHECK(b->n <= PROTO_MAX_MEMBERS, "batch: n is %u, over %d", b->n, PROTO_MAX_MEMBERS);
    uint64_t need = (uint64_t)b->n * b->height * b->width * b->channels;
    CHECK(b->images_len == need && (b->images || need == 0),
          "batch: images is %zu bytes but shape %ux%ux%ux%u needs %llu", b->images_len, b->n, b->height,
          b->width, b->channels, (unsigned long long)need);
    if (head(pk, PROTO_BATCH, 12) || kv_u64(pk, "seq", b->seq) || kv_u64(pk, "epoch", b->epoch) ||
        kv_u64(pk, "step", b->step) || kv_u64(pk, "n", b->n) || kv_u64(pk, "height", b->height) ||
        kv_u64(pk, "width", b->width) || kv_u64(pk, "channels", b->channels) ||
        kv_bin(pk, "images", b->images, b->images_len) || kv_bin(pk, "labels", b->labels, b->n) ||
        key(pk, "ids") || msgpack_pack_array(pk, b->n))
        return -1;
    for (uint32_t i = 0; i < b->n; i++)
        if (msgpack_pack_uint32(pk, b->ids[i])) return -1;
    return kv_u64(pk, "skipped", b->skipped) || kv_f64(pk, "work_ms", b->work_ms);
}

static int enc_metric_list(pk_t *pk, const proto_metric_t *m, uint32_t n) {
    CHECK(n <= PROTO_MAX_METRICS, "%u metrics, over %d", n, PROTO_MAX_METRICS);
    if (key(pk, "metrics") || msgpack_pack_array(pk, n)) return -1;
    for (uint32_t i = 0; i < n; i++)
        if (msgpack_pack_map(pk, 2) || kv_fixed(pk, "name", m[i].name, sizeof m[i].name, "metric") ||
            kv_f64(pk, "value", m[i].value))
            return -1;
    return 0;
}

static int enc_tensor(pk_t *pk, const proto_tensor_t *t) {
    CHECK(t->ndim <= PROTO_MAX_DIMS, "tensor: %u dimensions, over %d", t->ndim, PROTO_MAX_DIMS);
    CHECK(proto_dtype_size(t->dtype) > 0, "tensor: unknown dtype %d", (int)t->dtype);
    uint64_t need = proto_dtype_size(t->dtype);
    int over = 0;
    for (uint32_t d = 0; d < t->ndim; d++) over |= __builtin_mul_overflow(need, t->shape[d], &need);
    CHECK(!over && need == t->len && (t->data || need == 0),
          "tensor '%.64s': %zu bytes do not match its shape", t->name, t->len);
    if (msgpack_pack_map(pk, 4) || kv_fixed(pk, "name", t->name, sizeof t->name, "tensor") ||
        kv_name(pk, "dtype", proto_dtype_name(t->dtype)) || key(pk, "shape") || msgpack_pack_array(pk, t->ndim))
        return -1;
    for (uint32_t d = 0; d < t->ndim; d++)
        if (msgpack_pack_uint64(pk, t->shape[d])) return -1;
    return kv_bin(pk, "data", t->data, t->len);
}

static int enc_checkpoint(pk_t *pk, const proto_checkpoint_t *c) {
    CHECK(c->n_tensors <= PROTO_MAX_TENSORS, "checkpoint: %u tensors, over %d", c->n_tensors,
          PROTO_MAX_TENSORS);
    if (head(pk, PROTO_CHECKPOINT, 7) || kv_u64(pk, "epoch", c->epoch) || kv_u64(pk, "step", c->step) ||
        kv_u64(pk, "seed", c->seed) || kv_fixed(pk, "spec", c->spec, sizeof c->spec, "checkpoint") ||
        kv_fixed(pk, "path", c->path, sizeof c->path, "checkpoint") ||
        enc_metric_list(pk, c->metrics, c->n_metrics) || key(pk, "tensors") ||
        msgpack_pack_array(pk, c->n_tensors))
        return -1;
    for (uint32_t i = 0; i < c->n_tensors; i++)
        if (enc_tensor(pk, &c->tensors[i])) return -1;
    return 0;
}

static int enc_control(pk_t *pk, const proto_control_t *c) {
    CHECK(c->op >= PROTO_CTRL_START && c->op <= PROTO_CTRL_SHUTDOWN, "control: unknown op %d", (int)c->op);
    return head(pk, PROTO_CONTROL, 6) || kv_name(pk, "op", proto_ctrl_name(c->op)) || kv_u64(pk, "seq", c->seq) ||
           kv_u64(pk, "epoch", c->epoch) || kv_u64(pk, "skipped", c->skipped) ||
           kv_u64(pk, "epochs", c->epochs) || kv_i64(pk, "steps_per_epoch", c->steps_per_epoch);
}

/* Bytes the message will take, near enough to reserve them in one step. */
static size_t estimate(const proto_msg_t *m) {
    size_t n = 1024;
    if (m->kind == PROTO_JOB)
        for (uint32_t i = 0; i < m->job.n_members && i < PROTO_MAX_MEMBERS; i++)
            n += 96 + strnlen(m->job.members[i].name, PROTO_PATH_MAX) + m->job.members[i].len;
    else if (m->kind == PROTO_BATCH)
        n += m->batch.images_len + 6 * (size_t)PROTO_MAX_MEMBERS;
    else if (m->kind == PROTO_CHECKPOINT) {
        n += strnlen(m->checkpoint.spec, PROTO_SPEC_MAX) + PROTO_PATH_MAX + 96 * PROTO_MAX_METRICS;
        for (uint32_t i = 0; i < m->checkpoint.n_tensors && i < PROTO_MAX_TENSORS; i++)
            n += 160 + m->checkpoint.tensors[i].len;
    }
    return n;
}

int proto_encode(const proto_msg_t *m, proto_buf_t *out) {
    CHECK(m != NULL && out != NULL);
    out->len = 0;
    TRY(pbuf_reserve(out, estimate(m)));
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, pbuf_write);
    int rc;
    switch (m->kind) {
    case PROTO_JOB: rc = enc_job(&pk, &m->job); break;
    case PROTO_BATCH: rc = enc_batch(&pk, &m->batch); break;
    case PROTO_CREDIT: rc = head(&pk, PROTO_CREDIT, 1) || kv_u64(&pk, "seq", m->credit.seq); break;
    case PROTO_CHECKPOINT: rc = enc_checkpoint(&pk, &m->checkpoint); break;
    case PROTO_METRICS:
        rc = head(&pk, PROTO_METRICS, 3) || kv_u64(&pk, "epoch", m->metrics.epoch) ||
             kv_u64(&pk, "step", m->metrics.step) ||
             enc_metric_list(&pk, m->metrics.metrics, m->metrics.n_metrics);
        break;
    case PROTO_CONTROL: rc = enc_control(&pk, &m->control); break;
    default: err_set("proto_encode: unknown message kind %d", (int)m->kind); return -1;
    }
    if (rc != 0) {
        err_prepend("proto_encode(%s)", proto_kind_name(m->kind));
        out->len = 0;
        return -1;
    }
    return 0;
}
