/* test_proto.c: proto/ codec: round trips of every kind, and rejection (never a crash) of truncated,
 * mistyped, out-of-range, oversized, malformed and random input. `test_proto --write-seeds DIR DICT`
 * writes the sample encodings as a libFuzzer seed corpus and a dictionary of the wire's keys. */
#include <msgpack.h>
#include <stdlib.h>

#include "common/check.h"
#include "proto/proto.h"
#include "test.h"
#include "test_proto_samples.h"

static proto_msg_t g_in, g_out; /* large: one of each, reused */
static proto_buf_t g_buf;

/* Encode sample i into g_buf. */
static int encode_sample(int i) {
    sample_msg(i, &g_in);
    return proto_encode(&g_in, &g_buf);
}

/* Decode must fail with a message; returns the message (for further checks). */
static const char *rejected(const void *p, size_t n, const proto_limits_t *lim) {
    err_clear();
    if (proto_decode(p, n, lim, &g_out) == 0) return NULL;
    return err_msg();
}

#define EXPECT_REJECTED(p, n, lim, needle)                                                          \
    do {                                                                                            \
        const char *_e = rejected(p, n, lim);                                                       \
        EXPECT(_e != NULL);                                                                         \
        if (_e && (needle) && !strstr(_e, (needle))) {                                              \
            fprintf(stderr, "  error '%s' does not mention '%s'\n", _e, (const char *)(needle));   \
            EXPECT(!"error message names the problem");                                            \
        }                                                                                           \
        EXPECT(g_out.kind == 0);                                                                    \
    } while (0)

/* ---- a msgpack rewriter: decode a valid encoding into a tree, change one thing, pack it again ---- */

typedef enum { MUT_NONE, MUT_NIL, MUT_OTHER, MUT_DELETE, MUT_ADD_KEY, MUT_SET, MUT_GROW } mut_op_t;

#define MAX_SLOTS 4096
typedef struct {
    mut_op_t op;
    int target;                /* slot (NIL, OTHER, DELETE) or map (ADD_KEY) number, pre-order */
    const char *key;           /* SET, GROW: the first map value under this key, pre-order      */
    msgpack_object value;      /* SET: the new value                                            */
    uint32_t grow;             /* GROW: the array's new length (copies of its first element)    */
    int skip;                  /* SET, GROW: pass over this many earlier values under `key`      */
    int slots, maps, done;
    char slot_key[MAX_SLOTS][24]; /* key of a map-value slot, "" for an array element          */
} mut_t;

static msgpack_object mutate(const msgpack_object *o, mut_t *m, msgpack_zone *z);

static msgpack_object str_obj(const char *s) {
    msgpack_object o = {.type = MSGPACK_OBJECT_STR};
    o.via.str.ptr = s, o.via.str.size = (uint32_t)strlen(s);
    return o;
}
static msgpack_object uint_obj(uint64_t v) {
    msgpack_object o = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER};
    o.via.u64 = v;
    return o;
}
static msgpack_object int_obj(int64_t v) {
    if (v >= 0) return uint_obj((uint64_t)v);
    msgpack_object o = {.type = MSGPACK_OBJECT_NEGATIVE_INTEGER};
    o.via.i64 = v;
    return o;
}
static msgpack_object f64_obj(double v) {
    msgpack_object o = {.type = MSGPACK_OBJECT_FLOAT64};
    o.via.f64 = v;
    return o;
}
static msgpack_object bin_obj(const void *p, uint32_t n) {
    msgpack_object o = {.type = MSGPACK_OBJECT_BIN};
    o.via.bin.ptr = p, o.via.bin.size = n;
    return o;
}

static int key_is(const msgpack_object *k, const char *s) {
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(s) &&
           memcmp(k->via.str.ptr, s, k->via.str.size) == 0;
}

static msgpack_object slot(const msgpack_object *v, int id, mut_t *m, msgpack_zone *z) {
    if (id == m->target && (m->op == MUT_NIL || m->op == MUT_OTHER)) {
        m->done = 1;
        if (m->op == MUT_NIL) return (msgpack_object){.type = MSGPACK_OBJECT_NIL};
        return v->type == MSGPACK_OBJECT_STR ? uint_obj(7) : str_obj("x");
    }
    return mutate(v, m, z);
}

static msgpack_object mutate(const msgpack_object *o, mut_t *m, msgpack_zone *z) {
    msgpack_object r = *o;
    if (o->type == MSGPACK_OBJECT_MAP) {
        int map_id = m->maps++;
        uint32_t n = o->via.map.size, j = 0;
        msgpack_object_kv *kv = msgpack_zone_malloc(z, (n + 1) * sizeof *kv);
        for (uint32_t i = 0; i < n; i++) {
            const msgpack_object_kv *src = &o->via.map.ptr[i];
            int id = m->slots++;
            if (id < MAX_SLOTS)
                snprintf(m->slot_key[id], sizeof m->slot_key[id], "%.*s", (int)src->key.via.str.size,
                         src->key.via.str.ptr);
            if (id == m->target && m->op == MUT_DELETE) {
                m->done = 1;
                continue;
            }
            kv[j].key = src->key;
            int hit = (m->op == MUT_SET || m->op == MUT_GROW) && !m->done && key_is(&src->key, m->key);
            if (hit && m->skip-- == 0) {
                m->done = 1;
                kv[j].val = m->value;
                if (m->op == MUT_GROW) {
                    msgpack_object *a = msgpack_zone_malloc(z, m->grow * sizeof *a);
                    for (uint32_t k = 0; k < m->grow; k++) a[k] = src->val.via.array.ptr[0];
                    kv[j].val = src->val;
                    kv[j].val.via.array.ptr = a, kv[j].val.via.array.size = m->grow;
                }
            } else
                kv[j].val = slot(&src->val, id, m, z);
            j++;
        }
        if (m->op == MUT_ADD_KEY && map_id == m->target) {
            kv[j].key = str_obj("zz_extra"), kv[j].val = uint_obj(1), j++;
            m->done = 1;
        }
        r.via.map.ptr = kv, r.via.map.size = j;
    } else if (o->type == MSGPACK_OBJECT_ARRAY) {
        uint32_t n = o->via.array.size;
        msgpack_object *a = msgpack_zone_malloc(z, (n + 1) * sizeof *a);
        for (uint32_t i = 0; i < n; i++) {
            int id = m->slots++;
            if (id < MAX_SLOTS) m->slot_key[id][0] = '\0';
            a[i] = slot(&o->via.array.ptr[i], id, m, z);
        }
        r.via.array.ptr = a;
    }
    return r;
}

static msgpack_sbuffer g_sb;

/* Apply m to the encoding in g_buf; the result is in g_sb. Returns whether the change applied. */
static int rewrite(mut_t *m) {
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int ok = msgpack_unpack_next(&up, (const char *)g_buf.data, g_buf.len, &off) == MSGPACK_UNPACK_SUCCESS;
    msgpack_zone *z = msgpack_zone_new(4096);
    m->slots = m->maps = m->done = 0;
    if (ok && z) {
        msgpack_object o = mutate(&up.data, m, z);
        msgpack_sbuffer_clear(&g_sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &g_sb, msgpack_sbuffer_write);
        ok = msgpack_pack_object(&pk, o) == 0;
    }
    msgpack_zone_free(z);
    msgpack_unpacked_destroy(&up);
    return ok && (m->op == MUT_NONE || m->done);
}

/* Sample i with the (skip+1)-th value under `key` set to v; expect rejection mentioning needle. */
static void expect_nth_rejected(int i, const char *key, int skip, msgpack_object v, const proto_limits_t *lim,
                                const char *needle) {
    static mut_t m;
    REQUIRE(encode_sample(i) == 0);
    m = (mut_t){.op = MUT_SET, .target = -1, .key = key, .value = v, .skip = skip};
    REQUIRE(rewrite(&m));
    EXPECT_REJECTED(g_sb.data, g_sb.size, lim, needle);
}

static void expect_set_rejected(int i, const char *key, msgpack_object v, const proto_limits_t *lim,
                                const char *needle) {
    expect_nth_rejected(i, key, 0, v, lim, needle);
}

/* ---- tests ---- */

TEST(round_trip_every_kind) {
    for (int i = 0; i < N_SAMPLES; i++) {
        REQUIRE(encode_sample(i) == 0);
        err_clear();
        int rc = proto_decode(g_buf.data, g_buf.len, NULL, &g_out);
        if (rc != 0) fprintf(stderr, "  %s: %s\n", sample_name(i), err_msg());
        REQUIRE(rc == 0);
        if (!msg_equal(&g_in, &g_out)) fprintf(stderr, "  in sample %s\n", sample_name(i));
        EXPECT(msg_equal(&g_in, &g_out));
    }
}

TEST(decoding_is_zero_copy) {
    const uint8_t *lo, *hi;
    REQUIRE(encode_sample(2) == 0);
    REQUIRE(proto_decode(g_buf.data, g_buf.len, NULL, &g_out) == 0);
    lo = g_buf.data, hi = g_buf.data + g_buf.len;
    EXPECT(g_out.batch.images >= lo && g_out.batch.images + g_out.batch.images_len <= hi);
    REQUIRE(encode_sample(0) == 0);
    REQUIRE(proto_decode(g_buf.data, g_buf.len, NULL, &g_out) == 0);
    lo = g_buf.data, hi = g_buf.data + g_buf.len;
    EXPECT(g_out.job.members[0].data >= lo && g_out.job.members[0].data + g_out.job.members[0].len <= hi);
    EXPECT(g_out.job.members[1].data == NULL && g_out.job.members[1].len == 0);
    REQUIRE(encode_sample(4) == 0);
    REQUIRE(proto_decode(g_buf.data, g_buf.len, NULL, &g_out) == 0);
    lo = g_buf.data, hi = g_buf.data + g_buf.len;
    const proto_tensor_t *t = proto_tensor_find(&g_out.checkpoint, "conv1.w");
    REQUIRE(t != NULL);
    EXPECT(t->data >= lo && t->data + t->len <= hi && t->len == 72);
    EXPECT(proto_tensor_find(&g_out.checkpoint, "nope") == NULL);
    EXPECT(proto_metric_get(g_out.checkpoint.metrics, g_out.checkpoint.n_metrics, "loss") == 0.6931);
    EXPECT(isnan(proto_metric_get(g_out.checkpoint.metrics, g_out.checkpoint.n_metrics, "nope")));
}

TEST(buffer_grows_and_is_reused) {
    static uint8_t px[32 * 150 * 150 * 3];
    proto_buf_t b = {0};
    sample_batch(&g_in, 1, 32, 150, 150, 3, px);
    REQUIRE(proto_encode(&g_in, &b) == 0);
    size_t cap = b.cap, big = b.len;
    uint8_t *data = b.data;
    EXPECT(big > sizeof px && cap >= big);
    REQUIRE(encode_sample(3) == 0);
    sample_msg(3, &g_in);
    REQUIRE(proto_encode(&g_in, &b) == 0);
    EXPECT(b.len < 64 && b.cap == cap && b.data == data); /* never shrinks, len reset */
    sample_batch(&g_in, 2, 32, 150, 150, 3, px);
    REQUIRE(proto_encode(&g_in, &b) == 0);
    EXPECT(b.len == big && b.cap == cap && b.data == data);
    proto_buf_free(&b);
    EXPECT(b.data == NULL && b.cap == 0);
    proto_buf_free(&b);
}

TEST(truncated_at_every_offset) {
    size_t tried = 0;
    for (int i = 0; i < N_SAMPLES; i++) {
        REQUIRE(encode_sample(i) == 0);
        /* a copy of exactly cut bytes, so reading past it is caught by the sanitizers */
        for (size_t cut = 0; cut < g_buf.len; cut++, tried++) {
            uint8_t *p = malloc(cut ? cut : 1);
            REQUIRE(p != NULL);
            memcpy(p, g_buf.data, cut);
            EXPECT(rejected(p, cut, NULL) != NULL);
            free(p);
        }
    }
    fprintf(stderr, "  %zu truncations rejected\n", tried);
}

TEST(trailing_bytes) {
    REQUIRE(encode_sample(3) == 0);
    size_t n = g_buf.len;
    uint8_t two[128];
    REQUIRE(2 * n <= sizeof two);
    memcpy(two, g_buf.data, n), memcpy(two + n, g_buf.data, n);
    EXPECT_REJECTED(two, 2 * n, NULL, "trailing");
    two[n] = 0xc0;
    EXPECT_REJECTED(two, n + 1, NULL, "1 trailing bytes");
    EXPECT(proto_decode(two, n, NULL, &g_out) == 0);
}

/* Every map value and array element, replaced by nil and by a value of another type; every key
 * deleted; an unknown key added to every map. All must be rejected. */
TEST(every_field_mistyped_missing_or_extra) {
    static mut_t m;
    int n_tried = 0;
    for (int i = 0; i < N_SAMPLES; i++) {
        REQUIRE(encode_sample(i) == 0);
        m = (mut_t){.op = MUT_NONE, .target = -1};
        REQUIRE(rewrite(&m));
        REQUIRE(g_sb.size == g_buf.len && memcmp(g_sb.data, g_buf.data, g_buf.len) == 0); /* identity */
        int slots = m.slots, maps = m.maps;
        REQUIRE(slots <= MAX_SLOTS);
        static char keys[MAX_SLOTS][24]; /* the identity walk's numbering; later walks renumber */
        memcpy(keys, m.slot_key, sizeof keys);
        for (int s = 0; s < slots; s++) {
            mut_op_t ops[] = {MUT_NIL, MUT_OTHER, MUT_DELETE};
            for (int k = 0; k < 3; k++) {
                const char *key = keys[s];
                if (ops[k] == MUT_DELETE && !key[0]) continue; /* array elements have no key */
                m = (mut_t){.op = ops[k], .target = s};
                REQUIRE(rewrite(&m));
                const char *e = rejected(g_sb.data, g_sb.size, NULL);
                if (!e)
                    fprintf(stderr, "  %s: op %d on slot %d ('%s') was accepted\n", sample_name(i), ops[k], s,
                            key);
                EXPECT(e != NULL);
                if (e && ops[k] == MUT_DELETE) {
                    char want[64];
                    snprintf(want, sizeof want, "missing field '%.23s'", key);
                    if (!strstr(e, want)) fprintf(stderr, "  '%s' lacks \"%s\"\n", e, want);
                    EXPECT(strstr(e, want) != NULL);
                }
                if (e && key[0] && ops[k] != MUT_DELETE && !strstr(e, key)) {
                    fprintf(stderr, "  '%s' does not name '%s'\n", e, key);
                    EXPECT(!"the error names the field");
                }
                n_tried++;
            }
        }
        for (int mp = 0; mp < maps; mp++) {
            m = (mut_t){.op = MUT_ADD_KEY, .target = mp};
            REQUIRE(rewrite(&m));
            const char *e = rejected(g_sb.data, g_sb.size, NULL);
            EXPECT(e && strstr(e, "unknown key 'zz_extra'"));
            n_tried++;
        }
    }
    fprintf(stderr, "  %d mutations rejected\n", n_tried);
}

TEST(version_kind_and_shape_of_the_message) {
    expect_set_rejected(3, "v", uint_obj(2), NULL, "protocol version 2");
    expect_set_rejected(3, "v", uint_obj(0), NULL, "protocol version 0");
    expect_set_rejected(3, "kind", str_obj("bogus"), NULL, "unknown value 'bogus'");
    expect_set_rejected(3, "kind", str_obj("Credit"), NULL, "unknown value");
    expect_set_rejected(0, "kind", str_obj("batch"), NULL, "batch: "); /* a job's fields under another kind */

    static const uint8_t not_maps[][3] = {{0x91, 0x01}, {0x07}, {0xa1, 'x'}, {0xc0}, {0x80}};
    const size_t lens[] = {2, 1, 2, 1, 1};
    for (int i = 0; i < 4; i++) EXPECT_REJECTED(not_maps[i], lens[i], NULL, "not a map");
    EXPECT_REJECTED(not_maps[4], lens[4], NULL, "missing field 'kind'");
    EXPECT_REJECTED("", 0, NULL, "empty frame");

    /* a key that is not a string; a key twice */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "kind", 4), msgpack_pack_str_with_body(&pk, "credit", 6);
    msgpack_pack_str_with_body(&pk, "v", 1), msgpack_pack_uint8(&pk, PROTO_VERSION);
    msgpack_pack_uint8(&pk, 1), msgpack_pack_uint8(&pk, 1);
    EXPECT_REJECTED(sb.data, sb.size, NULL, "a key is a uint");
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 4);
    msgpack_pack_str_with_body(&pk, "kind", 4), msgpack_pack_str_with_body(&pk, "credit", 6);
    msgpack_pack_str_with_body(&pk, "v", 1), msgpack_pack_uint8(&pk, PROTO_VERSION);
    msgpack_pack_str_with_body(&pk, "seq", 3), msgpack_pack_uint8(&pk, 1);
    msgpack_pack_str_with_body(&pk, "seq", 3), msgpack_pack_uint8(&pk, 2);
    EXPECT_REJECTED(sb.data, sb.size, NULL, "key 'seq' appears twice");
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "kind", 4), msgpack_pack_str_with_body(&pk, "credit", 6);
    msgpack_pack_str_with_body(&pk, "seq", 3), msgpack_pack_uint8(&pk, 1);
    EXPECT_REJECTED(sb.data, sb.size, NULL, "credit: missing field 'v'");
    msgpack_sbuffer_destroy(&sb);
}

TEST(numbers_out_of_range) {
    const proto_limits_t *d = NULL;
    expect_set_rejected(3, "seq", int_obj(-1), d, "seq is negative");
    expect_set_rejected(0, "epoch", uint_obj(1ull << 32), d, "epoch is 4294967296, over the limit");
    expect_set_rejected(0, "height", uint_obj(0), d, "height is 0, below the minimum of 1");
    expect_set_rejected(0, "width", uint_obj(4097), d, "width is 4097, over the limit of 4096");
    expect_set_rejected(0, "label", uint_obj(256), d, "job: members[0]: label is 256");
    expect_set_rejected(0, "id", int_obj(-5), d, "job: members[0]: id is negative");
    expect_set_rejected(0, "rotation_range", f64_obj(-1), d, "job: aug: rotation_range is negative");
    expect_set_rejected(0, "zoom_lo", f64_obj(0), d, "zoom range");
    expect_set_rejected(0, "zoom_hi", f64_obj(0.5), d, "zoom range");
    expect_set_rejected(0, "cval", f64_obj(300), d, "cval 300");
    expect_set_rejected(0, "shear_range", f64_obj(INFINITY), d, "shear_range is not finite");
    expect_set_rejected(0, "fill_mode", str_obj("mirror"), d, "fill_mode: unknown value 'mirror'");
    expect_set_rejected(0, "split", str_obj("holdout"), d, "split: unknown value 'holdout'");
    expect_set_rejected(2, "channels", uint_obj(5), d, "channels is 5, over the limit of 4");
    expect_set_rejected(2, "skipped", uint_obj(3), d, "skipped is 3, over the limit of 2");
    expect_set_rejected(2, "work_ms", f64_obj(-1), d, "work_ms");
    expect_set_rejected(2, "work_ms", f64_obj(NAN), d, "work_ms");
    expect_set_rejected(6, "steps_per_epoch", int_obj(-2), d,
                        "steps_per_epoch is -2, below the minimum of -1");
    expect_set_rejected(6, "steps_per_epoch", uint_obj(1ull << 31), d, "over the limit of 2147483647");
    expect_set_rejected(6, "op", str_obj("pause"), d, "op: unknown value 'pause'");
    expect_set_rejected(4, "dtype", str_obj("f64"), d, "dtype: unknown value 'f64'");
    /* accepted: an int where a float is expected, the ends of the ranges */
    static mut_t m;
    REQUIRE(encode_sample(0) == 0);
    m = (mut_t){.op = MUT_SET, .target = -1, .key = "rotation_range", .value = uint_obj(40)};
    REQUIRE(rewrite(&m));
    EXPECT(proto_decode(g_sb.data, g_sb.size, NULL, &g_out) == 0 && g_out.job.aug.rotation_range == 40.0);
    REQUIRE(encode_sample(6) == 0);
    m = (mut_t){.op = MUT_SET, .target = -1, .key = "steps_per_epoch", .value = uint_obj(INT32_MAX)};
    REQUIRE(rewrite(&m));
    EXPECT(proto_decode(g_sb.data, g_sb.size, NULL, &g_out) == 0 &&
           g_out.control.steps_per_epoch == INT32_MAX);
}

TEST(byte_counts_that_disagree_with_shapes) {
    static uint8_t bytes[135000];
    expect_set_rejected(2, "height", uint_obj(5), NULL, "images is 120 bytes but shape 2x5x5x3 needs 150");
    expect_set_rejected(2, "labels", bin_obj(bytes, 3), NULL, "labels is 3 bytes but n is 2");
    /* the example of proto.h, exactly */
    static mut_t m;
    sample_batch(&g_in, 5, 2, 150, 150, 3, bytes);
    REQUIRE(proto_encode(&g_in, &g_buf) == 0);
    m = (mut_t){.op = MUT_SET, .target = -1, .key = "images", .value = bin_obj(bytes, 1000)};
    REQUIRE(rewrite(&m));
    const char *e = rejected(g_sb.data, g_sb.size, NULL);
    REQUIRE(e != NULL);
    EXPECT(strcmp(e, "batch: images is 1000 bytes but shape 2x150x150x3 needs 135000") == 0);
    /* ids: one short */
    REQUIRE(encode_sample(2) == 0);
    m = (mut_t){.op = MUT_GROW, .target = -1, .key = "ids", .grow = 1};
    REQUIRE(rewrite(&m));
    EXPECT_REJECTED(g_sb.data, g_sb.size, NULL, "ids has 1 entries but n is 2");
    /* tensors */
    expect_set_rejected(4, "data", bin_obj(bytes, 71), NULL,
                        "'conv1.w' data is 71 bytes but f32 [2x3x3x1] needs 72");
    REQUIRE(encode_sample(4) == 0);
    msgpack_object huge[4] = {uint_obj(UINT32_MAX), uint_obj(UINT32_MAX), uint_obj(UINT32_MAX), uint_obj(2)};
    msgpack_object shape = {.type = MSGPACK_OBJECT_ARRAY};
    shape.via.array.ptr = huge, shape.via.array.size = 4;
    expect_set_rejected(4, "shape", shape, NULL, "needs more than");
    huge[0] = uint_obj(0);
    expect_set_rejected(4, "shape", shape, NULL, "shape[0] is 0, below the minimum of 1");
    shape.via.array.size = 5;
    msgpack_object five[5] = {uint_obj(1), uint_obj(1), uint_obj(1), uint_obj(1), uint_obj(18)};
    shape.via.array.ptr = five;
    expect_set_rejected(4, "shape", shape, NULL, "shape has 5 entries, over the limit of 4");
    /* the checkpoint's names: metrics[0], metrics[1], tensors[0], tensors[1], ... */
    expect_nth_rejected(4, "name", 2, str_obj("mask"), NULL, "tensors[1]: name 'mask' appears twice");
    expect_nth_rejected(4, "name", 2, str_obj(""), NULL, "tensors[0]: name is empty");
    expect_nth_rejected(4, "name", 1, str_obj("loss"), NULL, "metrics[1]: name 'loss' appears twice");
    expect_nth_rejected(4, "name", 0, str_obj(""), NULL, "metrics[0]: name is empty");
}

TEST(counts_over_the_limits) {
    static mut_t m;
    proto_limits_t lim;
    proto_limits_default(&lim);
    lim.max_members = 2;
    REQUIRE(encode_sample(0) == 0);
    EXPECT_REJECTED(g_buf.data, g_buf.len, &lim, "members has 3 entries, over the limit of 2");
    REQUIRE(encode_sample(2) == 0);
    lim.max_members = 1;
    EXPECT_REJECTED(g_buf.data, g_buf.len, &lim, "n is 2, over the limit of 1");
    proto_limits_default(&lim);
    lim.max_members = 100000; /* still capped by PROTO_MAX_MEMBERS */
    struct {
        int sample;
        const char *key;
        uint32_t n;
        const char *needle;
    } cases[] = {
        {0, "members", PROTO_MAX_MEMBERS + 1, "members has 257 entries, over the limit of 256"},
        {0, "members", 0, "members has 0 entries, fewer than 1"},
        {4, "tensors", PROTO_MAX_TENSORS + 1, "tensors has 65 entries, over the limit of 64"},
        {4, "metrics", PROTO_MAX_METRICS + 1, "metrics has 17 entries, over the limit of 16"},
        {5, "metrics", PROTO_MAX_METRICS + 1, "metrics has 17 entries, over the limit of 16"},
        {2, "ids", PROTO_MAX_MEMBERS + 1, "ids has 257 entries, over the limit of 256"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        REQUIRE(encode_sample(cases[i].sample) == 0);
        m = (mut_t){.op = MUT_GROW, .target = -1, .key = cases[i].key, .grow = cases[i].n};
        REQUIRE(rewrite(&m));
        EXPECT_REJECTED(g_sb.data, g_sb.size, &lim, cases[i].needle);
    }
    /* 256 members is fine */
    REQUIRE(encode_sample(0) == 0);
    m = (mut_t){.op = MUT_GROW, .target = -1, .key = "members", .grow = PROTO_MAX_MEMBERS};
    REQUIRE(rewrite(&m));
    EXPECT(proto_decode(g_sb.data, g_sb.size, &lim, &g_out) == 0 && g_out.job.n_members == PROTO_MAX_MEMBERS);

    /* strings and bytes over their limits */
    static char s[PROTO_SPEC_MAX + 1];
    memset(s, 'a', sizeof s - 1);
    s[PROTO_SPEC_MAX] = '\0';
    expect_set_rejected(4, "spec", str_obj(s), NULL, "spec is 16384 bytes, over the limit of 16383");
    s[PROTO_PATH_MAX] = '\0';
    expect_set_rejected(4, "path", str_obj(s), NULL, "path is 512 bytes, over the limit of 511");
    expect_set_rejected(0, "name", str_obj(s), NULL, "job: members[0]: name is 512 bytes");
    s[PROTO_NAME_MAX] = '\0';
    expect_set_rejected(5, "name", str_obj(s), NULL,
                        "metrics: metrics[0]: name is 64 bytes, over the limit of 63");
    s[PROTO_NAME_MAX - 1] = '\0';
    REQUIRE(encode_sample(5) == 0);
    m = (mut_t){.op = MUT_SET, .target = -1, .key = "name", .value = str_obj(s)};
    REQUIRE(rewrite(&m));
    EXPECT(proto_decode(g_sb.data, g_sb.size, NULL, &g_out) == 0 &&
           strlen(g_out.metrics.metrics[0].name) == 63);
    msgpack_object nul = str_obj("ab");
    nul.via.str.ptr = "a\0b";
    nul.via.str.size = 3;
    expect_set_rejected(0, "name", nul, NULL, "name holds a NUL byte");
    proto_limits_default(&lim);
    lim.max_image_bytes = 49;
    REQUIRE(encode_sample(0) == 0);
    EXPECT_REJECTED(g_buf.data, g_buf.len, &lim, "job: members[0]: data is 50 bytes, over the limit of 49");
}

TEST(message_over_max_message) {
    proto_limits_t lim;
    proto_limits_default(&lim);
    REQUIRE(encode_sample(0) == 0);
    lim.max_message = g_buf.len - 1;
    EXPECT_REJECTED(g_buf.data, g_buf.len, &lim, "over the limit");
    lim.max_message = g_buf.len;
    EXPECT(proto_decode(g_buf.data, g_buf.len, &lim, &g_out) == 0);
}

TEST(hostile_headers_allocate_nothing_big) {
    /* an array, a map, a str and a bin each claiming ~4 G entries or bytes */
    static const uint8_t h[][5] = {{0xdd, 0xff, 0xff, 0xff, 0xff}, {0xdf, 0xff, 0xff, 0xff, 0xff},
                                   {0xdb, 0xff, 0xff, 0xff, 0xff}, {0xc6, 0xff, 0xff, 0xff, 0xff},
                                   {0xc9, 0xff, 0xff, 0xff, 0xff}};
    for (int i = 0; i < 5; i++) EXPECT_REJECTED(h[i], 5, NULL, "truncated");
    /* a map of 10000 nil pairs: well formed, but more objects than any message needs */
    static uint8_t big[3 + 2 * 10000];
    big[0] = 0xde, big[1] = 10000 >> 8, big[2] = 10000 & 0xff;
    memset(big + 3, 0xc0, sizeof big - 3);
    EXPECT_REJECTED(big, sizeof big, NULL, "more than 8192 msgpack objects");
    /* nesting deeper than msgpack-c's stack */
    static uint8_t deep[200];
    memset(deep, 0x91, sizeof deep);
    deep[sizeof deep - 1] = 0x01;
    EXPECT_REJECTED(deep, sizeof deep, NULL, "malformed msgpack");
    static const uint8_t c1[] = {0x81, 0xc1, 0x01};
    EXPECT_REJECTED(c1, sizeof c1, NULL, "invalid msgpack byte 0xc1");
}

static uint64_t xs(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* Random bytes, and every sample with single bytes changed: never a crash; what is accepted must be
 * consistent (counts within limits, payloads inside the frame). */
TEST(garbage_and_mutated_bytes) {
    uint64_t st = 0x9e3779b97f4a7c15ull;
    static uint8_t buf[512];
    int accepted = 0;
    for (int it = 0; it < 20000; it++) {
        size_t n = xs(&st) % sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)xs(&st);
        if (n && it % 2) buf[0] = 0x80 | (buf[0] & 0x0f); /* half of them start as a map */
        uint8_t *p = malloc(n ? n : 1);
        REQUIRE(p != NULL);
        memcpy(p, buf, n);
        if (proto_decode(p, n, NULL, &g_out) == 0) accepted++;
        free(p);
    }
    EXPECT(accepted == 0);
    long mutants = 0, ok = 0;
    static const uint8_t vals[] = {0x00, 0xff, 0xc0, 0xc1, 0x7f, 0x80, 0xdf, 0xdd, 0xcf, 0xd3};
    for (int i = 0; i < N_SAMPLES; i++) {
        REQUIRE(encode_sample(i) == 0);
        uint8_t *p = malloc(g_buf.len);
        REQUIRE(p != NULL);
        for (size_t at = 0; at < g_buf.len; at++)
            for (size_t v = 0; v < sizeof vals + 1; v++) {
                memcpy(p, g_buf.data, g_buf.len);
                p[at] = v < sizeof vals ? vals[v] : (uint8_t)(p[at] ^ (1u << (at % 8)));
                mutants++;
                if (proto_decode(p, g_buf.len, NULL, &g_out) != 0) continue;
                ok++;
                if (g_out.kind == PROTO_JOB) {
                    EXPECT(g_out.job.n_members >= 1 && g_out.job.n_members <= PROTO_MAX_MEMBERS);
                    for (uint32_t k = 0; k < g_out.job.n_members; k++)
                        EXPECT(!g_out.job.members[k].len || (g_out.job.members[k].data >= p &&
                               g_out.job.members[k].data + g_out.job.members[k].len <= p + g_buf.len));
                }
                if (g_out.kind == PROTO_BATCH)
                    EXPECT(g_out.batch.images >= p &&
                           g_out.batch.images + g_out.batch.images_len <= p + g_buf.len);
            }
        free(p);
    }
    fprintf(stderr, "  %d/20000 random frames accepted; %ld/%ld one-byte mutants accepted\n", accepted, ok,
            mutants);
}

TEST(encoder_refuses_inconsistent_messages) {
    sample_msg(0, &g_in);
    g_in.job.n_members = PROTO_MAX_MEMBERS + 1;
    EXPECT(proto_encode(&g_in, &g_buf) != 0 && g_buf.len == 0);
    sample_msg(0, &g_in);
    memset(g_in.job.members[0].name, 'x', PROTO_PATH_MAX); /* no NUL */
    EXPECT(proto_encode(&g_in, &g_buf) != 0 && strstr(err_msg(), "not NUL-terminated"));
    sample_msg(2, &g_in);
    g_in.batch.images_len--;
    EXPECT(proto_encode(&g_in, &g_buf) != 0 && strstr(err_msg(), "needs 120"));
    sample_msg(4, &g_in);
    g_in.checkpoint.tensors[0].ndim = 5;
    EXPECT(proto_encode(&g_in, &g_buf) != 0);
    sample_msg(4, &g_in);
    g_in.checkpoint.tensors[1].shape[0] = 6;
    EXPECT(proto_encode(&g_in, &g_buf) != 0 && strstr(err_msg(), "'mask'"));
    sample_msg(6, &g_in);
    g_in.control.op = 0;
    EXPECT(proto_encode(&g_in, &g_buf) != 0 && strstr(err_msg(), "unknown op"));
    g_in.kind = 0;
    EXPECT(proto_encode(&g_in, &g_buf) != 0 && strstr(err_msg(), "unknown message kind"));
}

TEST(names) {
    EXPECT(strcmp(proto_kind_name(PROTO_BATCH), "batch") == 0 && strcmp(proto_kind_name(0), "?") == 0);
    EXPECT(strcmp(proto_kind_name(99), "?") == 0 && strcmp(proto_ctrl_name(PROTO_CTRL_END_RUN), "end_run") == 0);
    EXPECT(strcmp(proto_dtype_name(PROTO_F32), "f32") == 0 && proto_dtype_size(PROTO_U8) == 1 && proto_dtype_size(0) == 0);
    proto_split_t s;
    EXPECT(proto_split_parse("validation", &s) == 0 && s == PROTO_SPLIT_VALIDATION);
    EXPECT(strcmp(proto_split_name(s), "validation") == 0);
    EXPECT(proto_split_parse("val", &s) != 0);
}

/* A full-size batch (32x150x150x3, 2 MB of pixels) survives the round trip byte for byte; the
 * decoded images point into the encoding. (Not timed: the codec's cost is measured in bench/,
 * bench/dataplane.md.) */
TEST(full_size_batch_round_trip) {
    static uint8_t px[32 * 150 * 150 * 3];
    sample_batch(&g_in, 5, 32, 150, 150, 3, px);
    REQUIRE(proto_encode(&g_in, &g_buf) == 0);
    EXPECT(g_buf.len > sizeof px);
    REQUIRE(proto_decode(g_buf.data, g_buf.len, NULL, &g_out) == 0);
    EXPECT(msg_equal(&g_in, &g_out));
    EXPECT(g_out.batch.images_len == sizeof px && memcmp(g_out.batch.images, px, sizeof px) == 0);
    EXPECT(g_out.batch.images >= g_buf.data && g_out.batch.images + g_out.batch.images_len <= g_buf.data + g_buf.len);
}

/* --write-seeds DIR DICT: the libFuzzer corpus and dictionary. */
static int write_seeds(const char *dir, const char *dict) {
    char path[4096];
    for (int i = 0; i < N_SAMPLES; i++) {
        if (encode_sample(i) != 0) return fprintf(stderr, "encode %s: %s\n", sample_name(i), err_msg()), 1;
        snprintf(path, sizeof path, "%s/seed_%s.msgpack", dir, sample_name(i));
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(g_buf.data, 1, g_buf.len, f) != g_buf.len || fclose(f) != 0)
            return fprintf(stderr, "cannot write %s\n", path), 1;
    }
    static const char *words[] = {
        "kind", "v", "job", "batch", "credit", "checkpoint", "metrics", "control", "seq", "epoch", "step",
        "split", "train", "validation", "test", "height", "width", "aug", "members", "enabled",
        "rotation_range", "width_shift_range", "height_shift_range", "shear_range", "zoom_lo", "zoom_hi",
        "horizontal_flip", "vertical_flip", "fill_mode", "nearest", "constant", "reflect", "wrap", "cval",
        "id", "label", "key", "name", "data", "n", "channels", "images", "labels", "ids", "skipped",
        "work_ms", "spec", "path", "tensors", "dtype", "u8", "f32", "shape", "value", "op", "start",
        "end_epoch", "end_run", "shutdown", "epochs", "steps_per_epoch", "seed"};
    FILE *f = fopen(dict, "w");
    if (!f) return fprintf(stderr, "cannot write %s\n", dict), 1;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t n = strlen(words[i]);
        /* as msgpack fixstr: the length byte, then the text */
        fprintf(f, "w%zu=\"\\x%02zx%s\"\n", i, 0xa0 | n, words[i]);
    }
    return fclose(f) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--write-seeds") == 0) return write_seeds(argv[2], argv[3]);
    msgpack_sbuffer_init(&g_sb);
    RUN(round_trip_every_kind);
    RUN(decoding_is_zero_copy);
    RUN(buffer_grows_and_is_reused);
    RUN(truncated_at_every_offset);
    RUN(trailing_bytes);
    RUN(every_field_mistyped_missing_or_extra);
    RUN(version_kind_and_shape_of_the_message);
    RUN(numbers_out_of_range);
    RUN(byte_counts_that_disagree_with_shapes);
    RUN(counts_over_the_limits);
    RUN(message_over_max_message);
    RUN(hostile_headers_allocate_nothing_big);
    RUN(garbage_and_mutated_bytes);
    RUN(encoder_refuses_inconsistent_messages);
    RUN(names);
    RUN(full_size_batch_round_trip);
    msgpack_sbuffer_destroy(&g_sb);
    proto_buf_free(&g_buf);
    return TEST_SUMMARY();
}
