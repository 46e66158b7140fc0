/* names.c: wire names of the enums, default limits, lookups in decoded messages, the byte buffer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "proto/internal.h"
#include "proto/proto.h"

const char *const proto_kind_names[PROTO_CONTROL + 1] = {
    [PROTO_JOB] = "job",           [PROTO_BATCH] = "batch",     [PROTO_CREDIT] = "credit",
    [PROTO_CHECKPOINT] = "checkpoint", [PROTO_METRICS] = "metrics", [PROTO_CONTROL] = "control",
};
const char *const proto_split_names[PROTO_SPLIT_TEST + 1] = {"train", "validation", "test"};
const char *const proto_dtype_names[PROTO_F32 + 1] = {[PROTO_U8] = "u8", [PROTO_F32] = "f32"};
const char *const proto_op_names[PROTO_CTRL_SHUTDOWN + 1] = {
    [PROTO_CTRL_START] = "start", [PROTO_CTRL_END_EPOCH] = "end_epoch", [PROTO_CTRL_END_RUN] = "end_run",
    [PROTO_CTRL_SHUTDOWN] = "shutdown",
};

static const char *name_of(const char *const names[], unsigned n, unsigned v) {
    return v < n && names[v] ? names[v] : "?";
}

const char *proto_kind_name(proto_kind_t k) { return name_of(proto_kind_names, PROTO_CONTROL + 1, k); }
const char *proto_split_name(proto_split_t s) { return name_of(proto_split_names, PROTO_SPLIT_TEST + 1, s); }
const char *proto_ctrl_name(proto_ctrl_t op) { return name_of(proto_op_names, PROTO_CTRL_SHUTDOWN + 1, op); }
const char *proto_dtype_name(proto_dtype_t t) { return name_of(proto_dtype_names, PROTO_F32 + 1, t); }

size_t proto_dtype_size(proto_dtype_t t) {
    switch (t) {
    case PROTO_U8: return 1;
    case PROTO_F32: return 4;
    }
    return 0;
}

int proto_split_parse(const char *s, proto_split_t *out) {
    for (int i = 0; i <= PROTO_SPLIT_TEST; i++)
        if (strcmp(s, proto_split_names[i]) == 0) {
            *out = (proto_split_t)i;
            return 0;
        }
    return -1;
}

void proto_limits_default(proto_limits_t *lim) {
    lim->max_message = (size_t)256 << 20;
    lim->max_members = PROTO_MAX_MEMBERS;
    lim->max_image_bytes = (size_t)64 << 20;
    lim->max_side = 4096;
}

const proto_tensor_t *proto_tensor_find(const proto_checkpoint_t *c, const char *name) {
    for (uint32_t i = 0; i < c->n_tensors && i < PROTO_MAX_TENSORS; i++)
        if (strcmp(c->tensors[i].name, name) == 0) return &c->tensors[i];
    return NULL;
}

double proto_metric_get(const proto_metric_t *m, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(m[i].name, name) == 0) return m[i].value;
    return NAN;
}

void proto_buf_free(proto_buf_t *b) {
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
