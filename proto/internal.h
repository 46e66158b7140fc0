/* internal.h: what the codec's files share and the rest of the project does not need: wire names,
 * the structure scan that guards msgpack-c, and the typed field readers of the decoder. */
#ifndef PAWPIPE_PROTO_INTERNAL_H
#define PAWPIPE_PROTO_INTERNAL_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/* msgpack objects one frame may hold. The largest message (a job of 256 members) needs about 3400;
 * the bound keeps msgpack-c's zone for one decode under ~200 KiB whatever the input claims. */
#define PROTO_MAX_OBJECTS 8192

/* Wire names, indexed by the enum value; NULL where the value is unused. */
extern const char *const proto_kind_names[PROTO_CONTROL + 1];
extern const char *const proto_split_names[PROTO_SPLIT_TEST + 1];
extern const char *const proto_dtype_names[PROTO_F32 + 1];
extern const char *const proto_op_names[PROTO_CTRL_SHUTDOWN + 1];

/* Walk the one msgpack object at p[0..len) without building it. Checks that every length and
 * element count fits in the bytes left and that the object holds at most max_objects objects,
 * which msgpack_unpack_next does not check before allocating. *end: the byte after the object.
 * 0, or -1 with err_msg() (truncated, invalid byte, too many objects). */
int proto_scan(const uint8_t *p, size_t len, uint32_t max_objects, size_t *end);

/* Where a decoder is, for error messages: "kind: list[index]: ..." (list NULL, index < 0: unused). */
typedef struct {
    const char *kind;
    const char *list;
    int index;
} dpath_t;

int dec_fail(const dpath_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Split a map into the values of exactly `keys` (all required, none other, none twice): vals[i]
 * is the value of keys[i]. */
int dec_fields(const dpath_t *w, const msgpack_object *map, const char *const keys[], int nkeys,
               const msgpack_object *vals[]);

/* Typed readers: each checks the msgpack type and range and names `key` in its error. */
int dec_u64(const dpath_t *w, const char *key, const msgpack_object *o, uint64_t lo, uint64_t hi,
            uint64_t *out);
int dec_u32(const dpath_t *w, const char *key, const msgpack_object *o, uint32_t lo, uint32_t hi,
            uint32_t *out);
int dec_i64(const dpath_t *w, const char *key, const msgpack_object *o, int64_t lo, int64_t hi,
            int64_t *out);
int dec_f64(const dpath_t *w, const char *key, const msgpack_object *o, double *out); /* int or float */
int dec_bool(const dpath_t *w, const char *key, const msgpack_object *o, int *out);
int dec_str(const dpath_t *w, const char *key, const msgpack_object *o, char *dst, size_t cap);
int dec_enum(const dpath_t *w, const char *key, const msgpack_object *o, const char *const names[],
             int n, int *out);
int dec_bin(const dpath_t *w, const char *key, const msgpack_object *o, size_t max, const uint8_t **p,
            size_t *len);
int dec_array(const dpath_t *w, const char *key, const msgpack_object *o, uint32_t lo, uint32_t hi,
              const msgpack_object **items, uint32_t *n);

/* The per-kind decoders (decode_data.c, decode_model.c); root is a map whose kind and v are checked. */
int dec_job(const msgpack_object *root, const proto_limits_t *lim, proto_job_t *out);
int dec_batch(const msgpack_object *root, const proto_limits_t *lim, proto_batch_t *out);
int dec_credit(const msgpack_object *root, proto_credit_t *out);
int dec_checkpoint(const msgpack_object *root, proto_checkpoint_t *out);
int dec_metrics(const msgpack_object *root, proto_metrics_t *out);
int dec_control(const msgpack_object *root, proto_control_t *out);

#endif
