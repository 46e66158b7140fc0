/* test_proto_samples.c: sample messages of every kind and a field-by-field comparison. */
#include "test_proto_samples.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static uint8_t jpeg_a[50], jpeg_c[200], pixels[2 * 4 * 5 * 3], t_u8[5];
static float t_w[2 * 3 * 3], t_s[1];

static const char *names[N_SAMPLES] = {"job", "job_plain", "batch", "credit", "checkpoint", "metrics",
                                       "control_start", "control_end_epoch"};

const char *sample_name(int i) { return i >= 0 && i < N_SAMPLES ? names[i] : "?"; }

void sample_batch(proto_msg_t *m, uint64_t seq, uint32_t n, uint32_t h, uint32_t w, uint32_t c, uint8_t *px) {
    memset(m, 0, sizeof *m);
    m->kind = PROTO_BATCH;
    proto_batch_t *b = &m->batch;
    b->seq = seq, b->epoch = (uint32_t)(seq / 7), b->step = (uint32_t)(seq % 7);
    b->n = n, b->height = h, b->width = w, b->channels = c;
    size_t len = (size_t)n * h * w * c;
    for (size_t i = 0; i < len; i++) px[i] = (uint8_t)(i * 31 + seq);
    b->images = px, b->images_len = len;
    for (uint32_t i = 0; i < n; i++) b->labels[i] = (uint8_t)(i % 2), b->ids[i] = 1000 + 3 * i;
    b->skipped = n > 1 ? 1 : 0;
    b->work_ms = 12.5;
}

static void fill(uint8_t *p, size_t n, unsigned salt) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 7 + salt);
}

static void job(proto_msg_t *m, int augment) {
    m->kind = PROTO_JOB;
    proto_job_t *j = &m->job;
    j->seq = 1234567890123ull, j->epoch = 3, j->step = 17;
    j->split = augment ? PROTO_SPLIT_TRAIN : PROTO_SPLIT_VALIDATION;
    j->height = 150, j->width = 150;
    if (augment)
        j->aug = (aug_params_t){1, 40, 0.2, 0.2, 0.2, 0.8, 1.2, 1, 0, FILL_NEAREST, 0};
    j->n_members = augment ? 3 : 1;
    fill(jpeg_a, sizeof jpeg_a, 1), fill(jpeg_c, sizeof jpeg_c, 2);
    proto_member_t *mm = j->members;
    mm[0] = (proto_member_t){.id = 0, .label = 0, .seed = 0xfedcba9876543210ull, .key = 42, .data = jpeg_a,
                           .len = sizeof jpeg_a};
    strcpy(mm[0].name, "cats/cat.1.jpg");
    if (!augment) return;
    mm[1] = (proto_member_t){.id = 1999, .label = 1, .seed = 1, .key = UINT64_MAX, .data = NULL, .len = 0};
    strcpy(mm[1].name, "dogs/dog.999.jpg");
    mm[2] = (proto_member_t){.id = UINT32_MAX, .label = 255, .seed = 0, .key = 0, .data = jpeg_c,
                           .len = sizeof jpeg_c};
    strcpy(mm[2].name, "");
}

void sample_msg(int i, proto_msg_t *m) {
    memset(m, 0, sizeof *m);
    switch (i) {
    case 0: job(m, 1); break;
    case 1: job(m, 0); break;
    case 2: sample_batch(m, 99, 2, 4, 5, 3, pixels); break;
    case 3: m->kind = PROTO_CREDIT, m->credit.seq = UINT64_MAX; break;
    case 4: {
        m->kind = PROTO_CHECKPOINT;
        proto_checkpoint_t *c = &m->checkpoint;
        c->epoch = 12, c->step = 1200, c->seed = 7;
        strcpy(c->spec, "[model]\nname = model1\n[conv2d]\nfilters = 32\n");
        strcpy(c->path, "runs/demo/ckpt-000012.bin");
        c->n_metrics = 2;
        strcpy(c->metrics[0].name, "loss"), c->metrics[0].value = 0.6931;
        strcpy(c->metrics[1].name, "acc"), c->metrics[1].value = -0.0;
        for (int k = 0; k < 18; k++) t_w[k] = (float)k * 0.25f - 2.0f;
        t_s[0] = 3.5f;
        fill(t_u8, sizeof t_u8, 9);
        c->n_tensors = 3;
        c->tensors[0] = (proto_tensor_t){
            .dtype = PROTO_F32, .ndim = 4, .shape = {2, 3, 3, 1}, .data = (uint8_t *)t_w, .len = sizeof t_w};
        strcpy(c->tensors[0].name, "conv1.w");
        c->tensors[1] = (proto_tensor_t){.dtype = PROTO_U8, .ndim = 1, .shape = {5}, .data = t_u8, .len = 5};
        strcpy(c->tensors[1].name, "mask");
        c->tensors[2] = (proto_tensor_t){.dtype = PROTO_F32, .ndim = 0, .data = (uint8_t *)t_s, .len = 4};
        strcpy(c->tensors[2].name, "scale");
        break;
    }
    case 5:
        m->kind = PROTO_METRICS;
        m->metrics.epoch = 4, m->metrics.step = 400, m->metrics.n_metrics = 3;
        strcpy(m->metrics.metrics[0].name, "loss"), m->metrics.metrics[0].value = 0.5;
        strcpy(m->metrics.metrics[1].name, "acc"), m->metrics.metrics[1].value = 0.75;
        strcpy(m->metrics.metrics[2].name, "ms_per_step"), m->metrics.metrics[2].value = 1e300;
        break;
    case 6:
        m->kind = PROTO_CONTROL;
        m->control = (proto_control_t){
            .op = PROTO_CTRL_START, .seq = 300, .epoch = 3, .epochs = 100, .steps_per_epoch = -1};
        break;
    case 7:
        m->kind = PROTO_CONTROL;
        m->control = (proto_control_t){
            .op = PROTO_CTRL_END_EPOCH, .seq = 400, .epoch = 3, .skipped = 2, .steps_per_epoch = 100};
        break;
    }
}

#define SAME(field)                                                                      \
    do {                                                                                 \
        if ((a->field) != (b->field)) {                                                  \
            fprintf(stderr, "  %s differs\n", #field);                                   \
            return 0;                                                                    \
        }                                                                                \
    } while (0)
#define SAME_STR(field)                                                                  \
    do {                                                                                 \
        if (strcmp(a->field, b->field) != 0) {                                           \
            fprintf(stderr, "  %s differs: '%s' vs '%s'\n", #field, a->field, b->field); \
            return 0;                                                                    \
        }                                                                                \
    } while (0)
#define SAME_BYTES(p, n)                                                                 \
    do {                                                                                 \
        SAME(n);                                                                         \
        if (a->n && memcmp(a->p, b->p, a->n) != 0) {                                     \
            fprintf(stderr, "  %s differs\n", #p);                                       \
            return 0;                                                                    \
        }                                                                                \
    } while (0)
/* Doubles: bit-identical (so -0.0 and 0.0 differ, and NaN equals NaN). */
#define SAME_F64(field)                                                                  \
    do {                                                                                 \
        if (memcmp(&a->field, &b->field, sizeof(double)) != 0) {                         \
            fprintf(stderr, "  %s differs: %g vs %g\n", #field, a->field, b->field);     \
            return 0;                                                                    \
        }                                                                                \
    } while (0)

static int metrics_equal(const proto_metric_t *a, const proto_metric_t *b) {
    SAME_STR(name);
    SAME_F64(value);
    return 1;
}

static int aug_equal(const aug_params_t *a, const aug_params_t *b) {
    SAME(enabled); SAME(horizontal_flip); SAME(vertical_flip); SAME(fill_mode);
    SAME_F64(rotation_range); SAME_F64(width_shift_range); SAME_F64(height_shift_range);
    SAME_F64(shear_range); SAME_F64(zoom_lo); SAME_F64(zoom_hi); SAME_F64(cval);
    return 1;
}

static int job_equal(const proto_job_t *a, const proto_job_t *b) {
    SAME(seq); SAME(epoch); SAME(step); SAME(split); SAME(height); SAME(width); SAME(n_members);
    if (!aug_equal(&a->aug, &b->aug)) return 0;
    for (uint32_t i = 0; i < a->n_members; i++) {
        SAME(members[i].id); SAME(members[i].label); SAME(members[i].seed); SAME(members[i].key);
        SAME_STR(members[i].name);
        SAME_BYTES(members[i].data, members[i].len);
    }
    return 1;
}

static int batch_equal(const proto_batch_t *a, const proto_batch_t *b) {
    SAME(seq); SAME(epoch); SAME(step); SAME(n); SAME(height); SAME(width); SAME(channels); SAME(skipped);
    SAME_F64(work_ms);
    SAME_BYTES(images, images_len);
    for (uint32_t i = 0; i < a->n; i++) {
        SAME(labels[i]);
        SAME(ids[i]);
    }
    return 1;
}

static int checkpoint_equal(const proto_checkpoint_t *a, const proto_checkpoint_t *b) {
    SAME(epoch); SAME(step); SAME(seed); SAME(n_metrics); SAME(n_tensors);
    SAME_STR(spec); SAME_STR(path);
    for (uint32_t i = 0; i < a->n_metrics; i++)
        if (!metrics_equal(&a->metrics[i], &b->metrics[i])) return 0;
    for (uint32_t i = 0; i < a->n_tensors; i++) {
        SAME_STR(tensors[i].name);
        SAME(tensors[i].dtype); SAME(tensors[i].ndim);
        for (uint32_t d = 0; d < a->tensors[i].ndim; d++) SAME(tensors[i].shape[d]);
        SAME_BYTES(tensors[i].data, tensors[i].len);
    }
    return 1;
}

int msg_equal(const proto_msg_t *a, const proto_msg_t *b) {
    SAME(kind);
    switch (a->kind) {
    case PROTO_JOB: return job_equal(&a->job, &b->job);
    case PROTO_BATCH: return batch_equal(&a->batch, &b->batch);
    case PROTO_CREDIT: SAME(credit.seq); return 1;
    case PROTO_CHECKPOINT: return checkpoint_equal(&a->checkpoint, &b->checkpoint);
    case PROTO_METRICS:
        SAME(metrics.epoch); SAME(metrics.step); SAME(metrics.n_metrics);
        for (uint32_t i = 0; i < a->metrics.n_metrics; i++)
            if (!metrics_equal(&a->metrics.metrics[i], &b->metrics.metrics[i])) return 0;
        return 1;
    case PROTO_CONTROL:
        SAME(control.op); SAME(control.seq); SAME(control.epoch); SAME(control.skipped);
        SAME(control.epochs); SAME(control.steps_per_epoch);
        return 1;
    }
    fprintf(stderr, "  unknown kind %d\n", (int)a->kind);
    return 0;
}
