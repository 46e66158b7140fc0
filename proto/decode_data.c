/* decode_data.c: the data-plane messages, job (loader -> augmenter) and batch (augmenter -> trainer). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "proto/internal.h"

static uint32_t members_limit(const proto_limits_t *lim) {
    return lim->max_members < PROTO_MAX_MEMBERS ? lim->max_members : PROTO_MAX_MEMBERS;
}

enum { A_ENABLED, A_ROT, A_WSHIFT, A_HSHIFT, A_SHEAR, A_ZLO, A_ZHI, A_HFLIP, A_VFLIP, A_FILL, A_CVAL, A_N };
static const char *const aug_keys[A_N] = {
    "enabled", "rotation_range", "width_shift_range", "height_shift_range", "shear_range", "zoom_lo",
    "zoom_hi", "horizontal_flip", "vertical_flip", "fill_mode", "cval",
};

static int dec_aug(const msgpack_object *o, aug_params_t *a) {
    const dpath_t w = {"job", "aug", -1};
    const msgpack_object *v[A_N];
    if (dec_fields(&w, o, aug_keys, A_N, v) != 0) return -1;
    double *reals[] = {&a->rotation_range, &a->width_shift_range, &a->height_shift_range, &a->shear_range,
                       &a->zoom_lo, &a->zoom_hi};
    const char *fills[FILL_WRAP + 1];
    for (int i = 0; i <= FILL_WRAP; i++) fills[i] = fill_mode_name((fill_mode_t)i);
    int fill;
    if (dec_bool(&w, "enabled", v[A_ENABLED], &a->enabled) ||
        dec_bool(&w, "horizontal_flip", v[A_HFLIP], &a->horizontal_flip) ||
        dec_bool(&w, "vertical_flip", v[A_VFLIP], &a->vertical_flip) ||
        dec_f64(&w, "cval", v[A_CVAL], &a->cval) ||
        dec_enum(&w, "fill_mode", v[A_FILL], fills, FILL_WRAP + 1, &fill))
        return -1;
    a->fill_mode = (fill_mode_t)fill;
    for (int i = 0; i < 6; i++) {
        if (dec_f64(&w, aug_keys[A_ROT + i], v[A_ROT + i], reals[i]) != 0) return -1;
        if (!isfinite(*reals[i])) return dec_fail(&w, "%s is not finite", aug_keys[A_ROT + i]);
        if (*reals[i] < 0) return dec_fail(&w, "%s is negative (%g)", aug_keys[A_ROT + i], *reals[i]);
    }
    if (!(a->cval >= 0 && a->cval <= 255)) return dec_fail(&w, "cval %g is outside [0, 255]", a->cval);
    if (a->enabled && !(a->zoom_lo > 0 && a->zoom_lo <= a->zoom_hi))
        return dec_fail(&w, "zoom range [%g, %g] is empty or not positive", a->zoom_lo, a->zoom_hi);
    return 0;
}

enum { M_ID, M_LABEL, M_SEED, M_KEY, M_NAME, M_DATA, M_N };
static const char *const member_keys[M_N] = {"id", "label", "seed", "key", "name", "data"};

static int dec_member(const msgpack_object *o, int index, const proto_limits_t *lim, proto_member_t *m) {
    const dpath_t w = {"job", "members", index};
    const msgpack_object *v[M_N];
    uint32_t label;
    if (dec_fields(&w, o, member_keys, M_N, v) || dec_u32(&w, "id", v[M_ID], 0, UINT32_MAX, &m->id) ||
        dec_u32(&w, "label", v[M_LABEL], 0, UINT8_MAX, &label) ||
        dec_u64(&w, "seed", v[M_SEED], 0, UINT64_MAX, &m->seed) ||
        dec_u64(&w, "key", v[M_KEY], 0, UINT64_MAX, &m->key) ||
        dec_str(&w, "name", v[M_NAME], m->name, sizeof m->name) ||
        dec_bin(&w, "data", v[M_DATA], lim->max_image_bytes, &m->data, &m->len))
        return -1;
    m->label = (uint8_t)label;
    return 0;
}

enum { J_KIND, J_V, J_SEQ, J_EPOCH, J_STEP, J_SPLIT, J_HEIGHT, J_WIDTH, J_AUG, J_MEMBERS, J_N };
static const char *const job_keys[J_N] = {"kind",   "v",     "seq", "epoch",  "step",   "split",
                                          "height", "width", "aug", "members"};

int dec_job(const msgpack_object *root, const proto_limits_t *lim, proto_job_t *out) {
    const dpath_t w = {"job", NULL, -1};
    const msgpack_object *v[J_N], *items;
    int split;
    if (dec_fields(&w, root, job_keys, J_N, v) || dec_u64(&w, "seq", v[J_SEQ], 0, UINT64_MAX, &out->seq) ||
        dec_u32(&w, "epoch", v[J_EPOCH], 0, UINT32_MAX, &out->epoch) ||
        dec_u32(&w, "step", v[J_STEP], 0, UINT32_MAX, &out->step) ||
        dec_enum(&w, "split", v[J_SPLIT], proto_split_names, PROTO_SPLIT_TEST + 1, &split) ||
        dec_u32(&w, "height", v[J_HEIGHT], 1, lim->max_side, &out->height) ||
        dec_u32(&w, "width", v[J_WIDTH], 1, lim->max_side, &out->width) || dec_aug(v[J_AUG], &out->aug) ||
        dec_array(&w, "members", v[J_MEMBERS], 1, members_limit(lim), &items, &out->n_members))
        return -1;
    out->split = (proto_split_t)split;
    for (uint32_t i = 0; i < out->n_members; i++)
        if (dec_member(&items[i], (int)i, lim, &out->members[i]) != 0) return -1;
    return 0;
}

enum { B_KIND, B_V, B_SEQ, B_EPOCH, B_STEP, B_NUM, B_HEIGHT, B_WIDTH, B_CHANNELS, B_IMAGES, B_LABELS,
       B_IDS, B_SKIPPED, B_WORK, B_N };
static const char *const batch_keys[B_N] = {"kind",     "v",      "seq",    "epoch", "step",
                                            "n",        "height", "width",  "channels", "images",
                                            "labels",   "ids",    "skipped", "work_ms"};

int dec_batch(const msgpack_object *root, const proto_limits_t *lim, proto_batch_t *out) {
    const dpath_t w = {"batch", NULL, -1};
    const msgpack_object *v[B_N], *ids;
    const uint8_t *labels;
    size_t labels_len;
    uint32_t n_ids;
    if (dec_fields(&w, root, batch_keys, B_N, v) || dec_u64(&w, "seq", v[B_SEQ], 0, UINT64_MAX, &out->seq) ||
        dec_u32(&w, "epoch", v[B_EPOCH], 0, UINT32_MAX, &out->epoch) ||
        dec_u32(&w, "step", v[B_STEP], 0, UINT32_MAX, &out->step) ||
        dec_u32(&w, "n", v[B_NUM], 1, members_limit(lim), &out->n) ||
        dec_u32(&w, "height", v[B_HEIGHT], 1, lim->max_side, &out->height) ||
        dec_u32(&w, "width", v[B_WIDTH], 1, lim->max_side, &out->width) ||
        dec_u32(&w, "channels", v[B_CHANNELS], 1, 4, &out->channels) ||
        dec_bin(&w, "images", v[B_IMAGES], SIZE_MAX, &out->images, &out->images_len) ||
        dec_bin(&w, "labels", v[B_LABELS], PROTO_MAX_MEMBERS, &labels, &labels_len) ||
        dec_array(&w, "ids", v[B_IDS], 0, PROTO_MAX_MEMBERS, &ids, &n_ids) ||
        dec_u32(&w, "skipped", v[B_SKIPPED], 0, out->n, &out->skipped) ||
        dec_f64(&w, "work_ms", v[B_WORK], &out->work_ms))
        return -1;
    uint64_t need = (uint64_t)out->n * out->height * out->width * out->channels; /* < 2^42 */
    if (out->images_len != need)
        return dec_fail(&w, "images is %zu bytes but shape %ux%ux%ux%u needs %llu", out->images_len, out->n,
                        out->height, out->width, out->channels, (unsigned long long)need);
    if (labels_len != out->n) return dec_fail(&w, "labels is %zu bytes but n is %u", labels_len, out->n);
    if (n_ids != out->n) return dec_fail(&w, "ids has %u entries but n is %u", n_ids, out->n);
    if (!(out->work_ms >= 0 && isfinite(out->work_ms)))
        return dec_fail(&w, "work_ms is %g, not a finite time", out->work_ms);
    memcpy(out->labels, labels, labels_len);
    for (uint32_t i = 0; i < n_ids; i++) {
        char key[24];
        if (ids[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER && ids[i].via.u64 <= UINT32_MAX) {
            out->ids[i] = (uint32_t)ids[i].via.u64;
            continue;
        }
        snprintf(key, sizeof key, "ids[%u]", i);
        return dec_u32(&w, key, &ids[i], 0, UINT32_MAX, &out->ids[i]); /* fails, naming why */
    }
    return 0;
}
