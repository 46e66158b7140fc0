/* decode_model.c: the control-plane messages: credit, checkpoint, metrics and control. */
#include <stdio.h>
#include <string.h>

#include "proto/internal.h"

int dec_credit(const msgpack_object *root, proto_credit_t *out) {
    static const char *const keys[] = {"kind", "v", "seq"};
    const dpath_t w = {"credit", NULL, -1};
    const msgpack_object *v[3];
    return dec_fields(&w, root, keys, 3, v) || dec_u64(&w, "seq", v[2], 0, UINT64_MAX, &out->seq)
               ? -1 : 0;
}

/* An array of {name, value} maps into m[0..*n). */
static int dec_metric_list(const dpath_t *top, const msgpack_object *o, proto_metric_t *m, uint32_t *n) {
    static const char *const keys[] = {"name", "value"};
    const msgpack_object *items;
    if (dec_array(top, "metrics", o, 0, PROTO_MAX_METRICS, &items, n) != 0) return -1;
    for (uint32_t i = 0; i < *n; i++) {
        const dpath_t w = {top->kind, "metrics", (int)i};
        const msgpack_object *v[2];
        if (dec_fields(&w, &items[i], keys, 2, v) ||
            dec_str(&w, "name", v[0], m[i].name, sizeof m[i].name) || dec_f64(&w, "value", v[1], &m[i].value))
            return -1;
        if (!m[i].name[0]) return dec_fail(&w, "name is empty");
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(m[j].name, m[i].name) == 0) return dec_fail(&w, "name '%s' appears twice", m[i].name);
    }
    return 0;
}

static int dec_tensor(const msgpack_object *o, int index, const proto_tensor_t *done, proto_tensor_t *t) {
    static const char *const keys[] = {"name", "dtype", "shape", "data"};
    const dpath_t w = {"checkpoint", "tensors", index};
    const msgpack_object *v[4], *dims;
    int dtype;
    if (dec_fields(&w, o, keys, 4, v) || dec_str(&w, "name", v[0], t->name, sizeof t->name) ||
        dec_enum(&w, "dtype", v[1], proto_dtype_names, PROTO_F32 + 1, &dtype) ||
        dec_array(&w, "shape", v[2], 0, PROTO_MAX_DIMS, &dims, &t->ndim) ||
        dec_bin(&w, "data", v[3], SIZE_MAX, &t->data, &t->len))
        return -1;
    if (!t->name[0]) return dec_fail(&w, "name is empty");
    for (int j = 0; j < index; j++)
        if (strcmp(done[j].name, t->name) == 0) return dec_fail(&w, "name '%s' appears twice", t->name);
    t->dtype = (proto_dtype_t)dtype;
    uint64_t need = proto_dtype_size(t->dtype);
    int over = 0;
    for (uint32_t d = 0; d < t->ndim; d++) {
        char key[24];
        snprintf(key, sizeof key, "shape[%u]", d);
        if (dec_u64(&w, key, &dims[d], 1, UINT32_MAX, &t->shape[d]) != 0) return -1;
        over |= __builtin_mul_overflow(need, t->shape[d], &need);
    }
    if (over || need != t->len) {
        char shape[96] = "";
        for (uint32_t d = 0; d < t->ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%llu", d ? "x" : "",
                     (unsigned long long)t->shape[d]);
        return dec_fail(&w, "'%s' data is %zu bytes but %s [%s] needs %s%llu", t->name, t->len,
                        proto_dtype_name(t->dtype), shape, over ? "more than " : "",
                        over ? (unsigned long long)UINT64_MAX : (unsigned long long)need);
    }
    return 0;
}

enum { C_KIND, C_V, C_EPOCH, C_STEP, C_SEED, C_SPEC, C_PATH, C_METRICS, C_TENSORS, C_N };
static const char *const ckpt_keys[C_N] = {"kind", "v",    "epoch",   "step",   "seed",
                                           "spec", "path", "metrics", "tensors"};

int dec_checkpoint(const msgpack_object *root, proto_checkpoint_t *out) {
    const dpath_t w = {"checkpoint", NULL, -1};
    const msgpack_object *v[C_N], *items;
    if (dec_fields(&w, root, ckpt_keys, C_N, v) ||
        dec_u32(&w, "epoch", v[C_EPOCH], 0, UINT32_MAX, &out->epoch) ||
        dec_u64(&w, "step", v[C_STEP], 0, UINT64_MAX, &out->step) ||
        dec_u64(&w, "seed", v[C_SEED], 0, UINT64_MAX, &out->seed) ||
        dec_str(&w, "spec", v[C_SPEC], out->spec, sizeof out->spec) ||
        dec_str(&w, "path", v[C_PATH], out->path, sizeof out->path) ||
        dec_metric_list(&w, v[C_METRICS], out->metrics, &out->n_metrics) ||
        dec_array(&w, "tensors", v[C_TENSORS], 0, PROTO_MAX_TENSORS, &items, &out->n_tensors))
        return -1;
    for (uint32_t i = 0; i < out->n_tensors; i++)
        if (dec_tensor(&items[i], (int)i, out->tensors, &out->tensors[i]) != 0) return -1;
    return 0;
}

int dec_metrics(const msgpack_object *root, proto_metrics_t *out) {
    static const char *const keys[] = {"kind", "v", "epoch", "step", "metrics"};
    const dpath_t w = {"metrics", NULL, -1};
    const msgpack_object *v[5];
    return dec_fields(&w, root, keys, 5, v) || dec_u32(&w, "epoch", v[2], 0, UINT32_MAX, &out->epoch) ||
                   dec_u64(&w, "step", v[3], 0, UINT64_MAX, &out->step) ||
                   dec_metric_list(&w, v[4], out->metrics, &out->n_metrics)
               ? -1 : 0;
}

enum { K_KIND, K_V, K_OP, K_SEQ, K_EPOCH, K_SKIPPED, K_EPOCHS, K_STEPS, K_N };
static const char *const control_keys[K_N] = {"kind",  "v",       "op",     "seq",
                                              "epoch", "skipped", "epochs", "steps_per_epoch"};

int dec_control(const msgpack_object *root, proto_control_t *out) {
    const dpath_t w = {"control", NULL, -1};
    const msgpack_object *v[K_N];
    int op;
    int64_t steps;
    if (dec_fields(&w, root, control_keys, K_N, v) ||
        dec_enum(&w, "op", v[K_OP], proto_op_names, PROTO_CTRL_SHUTDOWN + 1, &op) ||
        dec_u64(&w, "seq", v[K_SEQ], 0, UINT64_MAX, &out->seq) ||
        dec_u32(&w, "epoch", v[K_EPOCH], 0, UINT32_MAX, &out->epoch) ||
        dec_u32(&w, "skipped", v[K_SKIPPED], 0, UINT32_MAX, &out->skipped) ||
        dec_u32(&w, "epochs", v[K_EPOCHS], 0, UINT32_MAX, &out->epochs) ||
        dec_i64(&w, "steps_per_epoch", v[K_STEPS], -1, INT32_MAX, &steps))
        return -1;
    out->op = (proto_ctrl_t)op;
    out->steps_per_epoch = (int32_t)steps;
    return 0;
}
