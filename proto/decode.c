/* decode.c: one frame -> proto_msg_t. The frame is scanned (scan.c), unpacked by msgpack-c with str and
 * bin referenced in place, then read strictly by the typed field readers below. */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "common/check.h"
#include "proto/internal.h"

static const char *otype(const msgpack_object *o) {
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "bool";
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return "uint";
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "negative int";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "float";
    case MSGPACK_OBJECT_STR: return "str";
    case MSGPACK_OBJECT_ARRAY: return "array";
    case MSGPACK_OBJECT_MAP: return "map";
    case MSGPACK_OBJECT_BIN: return "bin";
    case MSGPACK_OBJECT_EXT: return "ext";
    }
    return "?";
}

/* A key or name from the wire, printable and short, for an error message. */
static const char *shown(const char *s, uint32_t n, char buf[40]) {
    uint32_t m = n < 32 ? n : 32;
    for (uint32_t i = 0; i < m; i++) buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    strcpy(buf + m, n > m ? "..." : "");
    return buf;
}

int dec_fail(const dpath_t *w, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w->list && w->index >= 0) err_set("%s: %s[%d]: %s", w->kind, w->list, w->index, msg);
    else if (w->list) err_set("%s: %s: %s", w->kind, w->list, msg);
    else err_set("%s: %s", w->kind, msg);
    return -1;
}

int dec_fields(const dpath_t *w, const msgpack_object *map, const char *const keys[], int nkeys,
               const msgpack_object *vals[]) {
    char b[40];
    if (map->type != MSGPACK_OBJECT_MAP) return dec_fail(w, "expected a map, got %s", otype(map));
    for (int i = 0; i < nkeys; i++) vals[i] = NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR)
            return dec_fail(w, "a key is a %s, not a str", otype(&kv->key));
        const char *k = kv->key.via.str.ptr;
        uint32_t kn = kv->key.via.str.size;
        int j = 0;
        while (j < nkeys && !(strlen(keys[j]) == kn && memcmp(keys[j], k, kn) == 0)) j++;
        if (j == nkeys) return dec_fail(w, "unknown key '%s'", shown(k, kn, b));
        if (vals[j]) return dec_fail(w, "key '%s' appears twice", keys[j]);
        vals[j] = &kv->val;
    }
    for (int i = 0; i < nkeys; i++)
        if (!vals[i]) return dec_fail(w, "missing field '%s'", keys[i]);
    return 0;
}

int dec_u64(const dpath_t *w, const char *key, const msgpack_object *o, uint64_t lo, uint64_t hi,
            uint64_t *out) {
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return dec_fail(w, "%s is negative (%lld)", key, (long long)o->via.i64);
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return dec_fail(w, "%s: expected uint, got %s", key, otype(o));
    uint64_t v = o->via.u64;
    if (v < lo)
        return dec_fail(w, "%s is %llu, below the minimum of %llu", key, (unsigned long long)v,
                        (unsigned long long)lo);
    if (v > hi)
        return dec_fail(w, "%s is %llu, over the limit of %llu", key, (unsigned long long)v,
                        (unsigned long long)hi);
    *out = v;
    return 0;
}

int dec_u32(const dpath_t *w, const char *key, const msgpack_object *o, uint32_t lo, uint32_t hi,
            uint32_t *out) {
    uint64_t v;
    if (dec_u64(w, key, o, lo, hi, &v) != 0) return -1;
    *out = (uint32_t)v;
    return 0;
}

int dec_i64(const dpath_t *w, const char *key, const msgpack_object *o, int64_t lo, int64_t hi,
            int64_t *out) {
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 > (uint64_t)(hi < 0 ? 0 : hi))
        return dec_fail(w, "%s is %llu, over the limit of %lld", key, (unsigned long long)o->via.u64,
                        (long long)hi);
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER && o->type != MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return dec_fail(w, "%s: expected int, got %s", key, otype(o));
    int64_t v = o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? o->via.i64 : (int64_t)o->via.u64;
    if (v < lo) return dec_fail(w, "%s is %lld, below the minimum of %lld", key, (long long)v, (long long)lo);
    *out = v;
    return 0;
}

int dec_f64(const dpath_t *w, const char *key, const msgpack_object *o, double *out) {
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)o->via.u64; return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)o->via.i64; return 0;
    default: return dec_fail(w, "%s: expected float, got %s", key, otype(o));
    }
}

int dec_bool(const dpath_t *w, const char *key, const msgpack_object *o, int *out) {
    if (o->type != MSGPACK_OBJECT_BOOLEAN) return dec_fail(w, "%s: expected bool, got %s", key, otype(o));
    *out = o->via.boolean ? 1 : 0;
    return 0;
}

int dec_str(const dpath_t *w, const char *key, const msgpack_object *o, char *dst, size_t cap) {
    if (o->type != MSGPACK_OBJECT_STR) return dec_fail(w, "%s: expected str, got %s", key, otype(o));
    uint32_t n = o->via.str.size;
    if (n >= cap) return dec_fail(w, "%s is %u bytes, over the limit of %zu", key, n, cap - 1);
    if (n && memchr(o->via.str.ptr, '\0', n)) return dec_fail(w, "%s holds a NUL byte", key);
    if (n) memcpy(dst, o->via.str.ptr, n);
    dst[n] = '\0';
    return 0;
}

int dec_enum(const dpath_t *w, const char *key, const msgpack_object *o, const char *const names[],
             int n, int *out) {
    char b[40];
    if (o->type != MSGPACK_OBJECT_STR) return dec_fail(w, "%s: expected str, got %s", key, otype(o));
    const char *s = o->via.str.ptr;
    uint32_t sn = o->via.str.size;
    for (int i = 0; i < n; i++)
        if (names[i] && strlen(names[i]) == sn && memcmp(names[i], s, sn) == 0) {
            *out = i;
            return 0;
        }
    return dec_fail(w, "%s: unknown value '%s'", key, shown(s, sn, b));
}

int dec_bin(const dpath_t *w, const char *key, const msgpack_object *o, size_t max, const uint8_t **p,
            size_t *len) {
    if (o->type != MSGPACK_OBJECT_BIN) return dec_fail(w, "%s: expected bin, got %s", key, otype(o));
    if (o->via.bin.size > max)
        return dec_fail(w, "%s is %u bytes, over the limit of %zu", key, o->via.bin.size, max);
    *len = o->via.bin.size;
    *p = *len ? (const uint8_t *)o->via.bin.ptr : NULL;
    return 0;
}

int dec_array(const dpath_t *w, const char *key, const msgpack_object *o, uint32_t lo, uint32_t hi,
              const msgpack_object **items, uint32_t *n) {
    if (o->type != MSGPACK_OBJECT_ARRAY) return dec_fail(w, "%s: expected array, got %s", key, otype(o));
    uint32_t m = o->via.array.size;
    if (m < lo) return dec_fail(w, "%s has %u entries, fewer than %u", key, m, lo);
    if (m > hi) return dec_fail(w, "%s has %u entries, over the limit of %u", key, m, hi);
    *items = o->via.array.ptr;
    *n = m;
    return 0;
}

/* The value of key k in map m, or NULL. */
static const msgpack_object *lookup(const msgpack_object *m, const char *k) {
    size_t kn = strlen(k);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *key = &m->via.map.ptr[i].key;
        if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == kn &&
            memcmp(key->via.str.ptr, k, kn) == 0)
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

static int dec_root(const msgpack_object *root, const proto_limits_t *lim, proto_msg_t *out) {
    dpath_t w = {"message", NULL, -1};
    if (root->type != MSGPACK_OBJECT_MAP) return dec_fail(&w, "not a map (got %s)", otype(root));
    const msgpack_object *k = lookup(root, "kind"), *v = lookup(root, "v");
    if (!k) return dec_fail(&w, "missing field 'kind'");
    int kind, rc = -1;
    if (dec_enum(&w, "kind", k, proto_kind_names, PROTO_CONTROL + 1, &kind) != 0) return -1;
    w.kind = proto_kind_names[kind];
    if (!v) return dec_fail(&w, "missing field 'v'");
    uint64_t ver;
    if (dec_u64(&w, "v", v, 0, UINT64_MAX, &ver) != 0) return -1;
    if (ver != PROTO_VERSION)
        return dec_fail(&w, "protocol version %llu, this build speaks %d", (unsigned long long)ver,
                        PROTO_VERSION);
    switch ((proto_kind_t)kind) {
    case PROTO_JOB: rc = dec_job(root, lim, &out->job); break;
    case PROTO_BATCH: rc = dec_batch(root, lim, &out->batch); break;
    case PROTO_CREDIT: rc = dec_credit(root, &out->credit); break;
    case PROTO_CHECKPOINT: rc = dec_checkpoint(root, &out->checkpoint); break;
    case PROTO_METRICS: rc = dec_metrics(root, &out->metrics); break;
    case PROTO_CONTROL: rc = dec_control(root, &out->control); break;
    }
    if (rc != 0) return -1;
    out->kind = (proto_kind_t)kind;
    return 0;
}

int proto_decode(const void *buf, size_t len, const proto_limits_t *lim, proto_msg_t *out) {
    proto_limits_t def;
    if (!lim) proto_limits_default(&def), lim = &def;
    CHECK(out != NULL);
    out->kind = 0;
    CHECK(buf != NULL || len == 0);
    if (len == 0) return err_set("empty frame"), -1;
    if (len > lim->max_message)
        return err_set("message is %zu bytes, over the limit of %zu", len, lim->max_message), -1;
    size_t end;
    if (proto_scan(buf, len, PROTO_MAX_OBJECTS, &end) != 0) return -1;
    if (end != len) return err_set("%zu trailing bytes after the message", len - end), -1;

    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&up, buf, len, &off);
    int rc = -1;
    if (r != MSGPACK_UNPACK_SUCCESS || off != len)
        err_set("malformed msgpack (msgpack_unpack_next: %d at offset %zu)", (int)r, off);
    else
        rc = dec_root(&up.data, lim, out);
    msgpack_unpacked_destroy(&up);
    if (rc != 0) out->kind = 0;
    return rc;
}
