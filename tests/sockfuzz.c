/* sockfuzz.c: bad traffic for every socket a stage binds, with the exact count of what the stages must
 * reject and refuse (tests/sockfuzz.sh runs it in the middle of a real run and checks the stages' counts).
 *
 * To the PULL sockets (the loader's credits, the trainer's batches), through a PUSH socket: random bytes,
 * empty frames, truncated, extended and bit-flipped valid messages, valid messages with a field of the
 * wrong type (or missing, doubled, unknown, renamed), deep nesting, lengths that announce far more than
 * the frame holds, frames of a few MB and multi-part messages. Every candidate is decoded first
 * (proto_decode with proto_limits_default) and sent only when the decoder refuses it, so that nothing
 * can act on the run: each one is a rejected message, a multi-part message one as a whole. To the
 * batches only, also messages that decode but that the trainer rejects whatever the state of its stream:
 * batches of another shape, batches and END_EPOCH / END_RUN markers 2^40 beyond any window, and the
 * kinds that never travel there (credit, job, checkpoint, metrics).
 *
 * To every bound socket (PUSH and PUB too): raw TCP connections that are not ZeroMQ 3.x (nothing at
 * all, random bytes, HTTP, TLS, greetings cut short or with a bad signature, version or mechanism, ZMTP
 * 1.0/2.0, a NULL greeting followed by junk) and ZeroMQ sockets of every type that cannot talk to the
 * bound one: each is one refused connection. A raw connection is closed by us for writing and then
 * waited on until the stage closes it, so that when this program ends, every refusal has happened. To
 * PUB sockets also SUB and XSUB peers (admitted) that send junk subscriptions.
 *
 * Output: what was sent per socket and class, then the expectations the test compares with the stages'
 * summary lines:
 *   expect loader rejected N refused M
 *   expect trainer rejected N refused M
 * Exit 0, or 1 when something could not be sent or a stage did not close a refused connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/timeutil.h"
#include "proto/proto.h"
#include "test_proto_samples.h"

#define WAIT_MS 5000   /* for a stage to close a refused connection */

static uint64_t rng_state;

static uint64_t rnd(void) {   /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint32_t below(uint32_t n) { return n ? (uint32_t)(rnd() % n) : 0; }

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sockfuzz: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* ---- byte buffers ----------------------------------------------------------------------------- */

typedef struct {
    uint8_t *d;
    size_t len, cap;
} buf_t;

static void put(buf_t *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        b->d = realloc(b->d, cap);
        if (!b->d) die("out of memory");
        b->cap = cap;
    }
    if (n) memcpy(b->d + b->len, p, n);
    b->len += n;
}
static void put1(buf_t *b, uint8_t c) { put(b, &c, 1); }
static void put_random(buf_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) put1(b, (uint8_t)rnd());
}
static void put_be(buf_t *b, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; i--) put1(b, (uint8_t)(v >> (8 * i)));
}
static void put_str(buf_t *b, const char *s) {   /* msgpack fixstr */
    size_t n = strlen(s);
    put1(b, (uint8_t)(0xa0 | n));
    put(b, s, n);
}

/* ---- valid messages, the raw material --------------------------------------------------------- */

typedef struct {
    uint32_t h, w, c, batch;   /* the trainer's batch shape */
} shape_t;

static shape_t shape = {32, 32, 3, 6};
static uint8_t *pixels;        /* room for any batch made here */
#define PIXELS_MAX (260u * 64 * 64 * 4)

static void encode(const proto_msg_t *m, buf_t *out) {
    static proto_buf_t pb;
    if (proto_encode(m, &pb) != 0) die("proto_encode failed");
    out->len = 0;
    put(out, pb.data, pb.len);
}

static void control(proto_msg_t *m, proto_ctrl_t op, uint64_t seq) {
    memset(m, 0, sizeof *m);
    m->kind = PROTO_CONTROL;
    m->control = (proto_control_t){.op = op, .seq = seq, .epoch = (uint32_t)below(10), .epochs = 3, .steps_per_epoch = -1};
}

/* A valid message of any kind (only to be broken: never sent as it is). */
static void valid_any(buf_t *out) {
    proto_msg_t *m = calloc(1, sizeof *m);
    if (!m) die("out of memory");
    int k = (int)below(N_SAMPLES + 4);
    if (k < N_SAMPLES) sample_msg(k, m);
    else if (k == N_SAMPLES) sample_batch(m, below(100), 1 + below(shape.batch), shape.h, shape.w, shape.c, pixels);
    else if (k == N_SAMPLES + 1) m->kind = PROTO_CREDIT, m->credit.seq = below(1000);
    else control(m, k == N_SAMPLES + 2 ? PROTO_CTRL_END_RUN : PROTO_CTRL_SHUTDOWN, below(1000));
    encode(m, out);
    free(m);
}

static int decodes(const buf_t *b) {
    static proto_msg_t *m;
    if (!m && !(m = malloc(sizeof *m))) die("out of memory");
    proto_limits_t lim;
    proto_limits_default(&lim);
    return proto_decode(b->d, b->len, &lim, m) == 0;
}

/* ---- msgpack-level mutation of a valid message ------------------------------------------------- */

static void *arena[4096];
static int n_arena;
static void *amalloc(size_t n) {
    if (n_arena == (int)(sizeof arena / sizeof arena[0])) die("arena full");
    void *p = calloc(1, n ? n : 1);
    if (!p) die("out of memory");
    return arena[n_arena++] = p;
}
static void arena_free(void) {
    while (n_arena) free(arena[--n_arena]);
}

static msgpack_object random_object(int not_type, int depth) {
    msgpack_object o;
    memset(&o, 0, sizeof o);
    for (;;) {
        int t = (int)below(10);
        if (t == not_type) continue;
        switch (t) {
        case 0: o.type = MSGPACK_OBJECT_NIL; break;
        case 1: o.type = MSGPACK_OBJECT_BOOLEAN, o.via.boolean = below(2); break;
        case 2: {
            static const uint64_t v[] = {0, 1, 255, 65536, 1ull << 32, UINT64_MAX};
            o.type = MSGPACK_OBJECT_POSITIVE_INTEGER, o.via.u64 = v[below(6)];
            break;
        }
        case 3: o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER, o.via.i64 = below(2) ? -1 : INT64_MIN; break;
        case 4: {
            static const double v[] = {-1.5, 1e300, 0.5};
            o.type = MSGPACK_OBJECT_FLOAT64, o.via.f64 = below(4) == 0 ? (below(2) ? __builtin_nan("") : __builtin_inf())
                                                                         : v[below(3)];
            break;
        }
        case 5: case 6: {
            uint32_t n = below(80);
            char *s = amalloc(n);
            for (uint32_t i = 0; i < n; i++) s[i] = (char)(below(4) ? 'a' + (int)below(26) : (int)rnd());
            if (t == 5) o.type = MSGPACK_OBJECT_STR, o.via.str.ptr = s, o.via.str.size = n;
            else o.type = MSGPACK_OBJECT_BIN, o.via.bin.ptr = s, o.via.bin.size = n;
            break;
        }
        case 7: {
            uint32_t n = depth > 3 ? 0 : below(4);
            msgpack_object *a = amalloc(n * sizeof *a);
            for (uint32_t i = 0; i < n; i++) a[i] = random_object(-1, depth + 1);
            o.type = MSGPACK_OBJECT_ARRAY, o.via.array.ptr = a, o.via.array.size = n;
            break;
        }
        case 8: {
            uint32_t n = depth > 3 ? 0 : below(3);
            msgpack_object_kv *kv = amalloc(n * sizeof *kv);
            for (uint32_t i = 0; i < n; i++) kv[i].key = random_object(-1, depth + 1), kv[i].val = random_object(-1, depth + 1);
            o.type = MSGPACK_OBJECT_MAP, o.via.map.ptr = kv, o.via.map.size = n;
            break;
        }
        default: {
            char *s = amalloc(4);
            o.type = MSGPACK_OBJECT_EXT, o.via.ext.type = (int8_t)below(128), o.via.ext.ptr = s, o.via.ext.size = 4;
            break;
        }
        }
        return o;
    }
}

static int type_class(const msgpack_object *o) {   /* random_object's numbering */
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return 0;
    case MSGPACK_OBJECT_BOOLEAN: return 1;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return 2;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return 3;
    case MSGPACK_OBJECT_FLOAT32: case MSGPACK_OBJECT_FLOAT64: return 4;
    case MSGPACK_OBJECT_STR: return 5;
    case MSGPACK_OBJECT_BIN: return 6;
    case MSGPACK_OBJECT_ARRAY: return 7;
    case MSGPACK_OBJECT_MAP: return 8;
    default: return 9;
    }
}

#define MAX_NODES 8192
static msgpack_object *nodes[MAX_NODES], *maps[MAX_NODES];
static int n_nodes, n_maps;

static void collect(msgpack_object *o) {
    if (n_nodes < MAX_NODES) nodes[n_nodes++] = o;
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size; i++) collect(&o->via.array.ptr[i]);
    } else if (o->type == MSGPACK_OBJECT_MAP) {
        if (n_maps < MAX_NODES) maps[n_maps++] = o;
        for (uint32_t i = 0; i < o->via.map.size; i++) collect(&o->via.map.ptr[i].val);
    }
}

static void map_resize(msgpack_object *m, uint32_t n) {   /* a copy of the entries with room for n */
    msgpack_object_kv *kv = amalloc(n * sizeof *kv);
    uint32_t keep = m->via.map.size < n ? m->via.map.size : n;
    if (keep) memcpy(kv, m->via.map.ptr, keep * sizeof *kv);
    m->via.map.ptr = kv;
    m->via.map.size = n;
}

/* One change to a valid message's tree: a value of the wrong type, another value of the same type,
 * an entry removed, doubled, added or renamed. */
static void mutate_fields(buf_t *out) {
    buf_t v = {0};
    valid_any(&v);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    if (msgpack_unpack_next(&up, (const char *)v.d, v.len, &off) != MSGPACK_UNPACK_SUCCESS) die("cannot unpack a valid message");
    n_nodes = n_maps = 0;
    collect(&up.data);
    msgpack_object *o = nodes[below((uint32_t)n_nodes)];
    msgpack_object *m = maps[below((uint32_t)n_maps)];
    int op = (int)below(6);
    if (op == 0) {
        *o = random_object(type_class(o), 0);
    } else if (op == 1) {   /* same type, another value */
        if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) o->via.u64 = below(2) ? rnd() : rnd() >> below(64);
        else if (o->type == MSGPACK_OBJECT_STR || o->type == MSGPACK_OBJECT_BIN) {
            uint32_t n = below(2) ? below(20) : o->via.str.size + 1 + below(100);
            char *s = amalloc(n);
            for (uint32_t i = 0; i < n; i++) s[i] = (char)('a' + below(26));
            o->via.str.ptr = s, o->via.str.size = n;
        } else if (o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size) {
            o->via.array.size = below(o->via.array.size);   /* shorter */
        } else *o = random_object(type_class(o), 0);
    } else if (op == 2 && m->via.map.size) {   /* an entry removed */
        uint32_t i = below(m->via.map.size), n = m->via.map.size;
        msgpack_object_kv last = m->via.map.ptr[n - 1];
        map_resize(m, n - 1);
        if (i < n - 1) m->via.map.ptr[i] = last;
    } else if (op == 3 && m->via.map.size) {   /* an entry twice */
        uint32_t i = below(m->via.map.size), n = m->via.map.size;
        map_resize(m, n + 1);
        m->via.map.ptr[n] = m->via.map.ptr[i];
    } else if (op == 4) {   /* an unknown key */
        uint32_t n = m->via.map.size;
        map_resize(m, n + 1);
        m->via.map.ptr[n].key.type = MSGPACK_OBJECT_STR;
        m->via.map.ptr[n].key.via.str.ptr = below(2) ? "bogus" : "kind2";
        m->via.map.ptr[n].key.via.str.size = 5;
        m->via.map.ptr[n].val = random_object(-1, 0);
    } else if (m->via.map.size) {   /* a key renamed, or not a str */
        msgpack_object *k = &m->via.map.ptr[below(m->via.map.size)].key;
        if (below(2)) *k = random_object(5, 0);
        else {
            char *s = amalloc(8);
            memcpy(s, "seqq\0xyz", 8);
            k->type = MSGPACK_OBJECT_STR, k->via.str.ptr = s, k->via.str.size = 1 + below(8);
        }
    } else {
        *o = random_object(type_class(o), 0);
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_object(&pk, up.data);
    out->len = 0;
    put(out, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked_destroy(&up);
    arena_free();
    free(v.d);
}

/* ---- the message classes ---------------------------------------------------------------------- */

enum {
    M_RANDOM, M_EMPTY, M_TRUNC, M_EXTEND, M_FLIP, M_FIELDS, M_NEST, M_HUGE_LEN, M_BIG, M_MULTI,
    /* batches only: decode fine, rejected by the trainer's stream */
    S_SHAPE, S_FAR, S_KIND, S_MARKER, N_CLASSES
};
static const char *class_name[N_CLASSES] = {"random",   "empty",  "truncated", "extended", "bit-flipped", "fields",
                                            "nesting",  "huge-length", "big",  "multi-part", "wrong-shape",
                                            "far-seq",  "wrong-kind", "far-marker"};
/* weights out of 100 for the invalid classes (M_BIG and M_MULTI are handled apart) */
static const int weight[M_BIG] = {16, 4, 18, 10, 18, 22, 6, 6};

static void make_invalid(int cls, buf_t *out) {
    out->len = 0;
    switch (cls) {
    case M_RANDOM: {
        size_t n = below(4) == 0 ? 1 + below(8) : 1 + below(4096);
        put_random(out, n);
        break;
    }
    case M_EMPTY: break;
    case M_TRUNC: {
        valid_any(out);
        out->len = below((uint32_t)out->len);
        break;
    }
    case M_EXTEND: {
        valid_any(out);
        if (below(3) == 0) {   /* two messages in one frame */
            buf_t b = {0};
            valid_any(&b);
            put(out, b.d, b.len);
            free(b.d);
        } else put_random(out, 1 + below(64));
        break;
    }
    case M_FLIP: {
        valid_any(out);
        int k = 1 + (int)below(8);
        for (int i = 0; i < k; i++) {
            size_t at = below((uint32_t)out->len);
            if (below(2)) out->d[at] ^= (uint8_t)(1u << below(8));
            else out->d[at] = (uint8_t)rnd();
        }
        break;
    }
    case M_FIELDS: mutate_fields(out); break;
    case M_NEST: {
        static const uint32_t depths[] = {33, 40, 100, 1000, 20000};
        uint32_t d = depths[below(5)];
        int inside = below(2);   /* as the value of a field of a message, or alone */
        if (inside) {
            put1(out, 0x83);
            put_str(out, "kind"), put_str(out, "credit");
            put_str(out, "v"), put1(out, 1);
            put_str(out, "seq");
        }
        int use_map = below(2);
        for (uint32_t i = 0; i < d; i++) {
            if (use_map) put1(out, 0x81), put_str(out, "k");
            else put1(out, 0x91);
        }
        put1(out, 0xc0);
        break;
    }
    case M_HUGE_LEN: {   /* a length or count far beyond the frame */
        static const uint8_t heads[] = {0xdd, 0xdf, 0xc6, 0xdb, 0xdc, 0xde, 0xc5, 0xc9};
        uint8_t h = heads[below(8)];
        int inside = below(2);
        if (inside) {
            put1(out, 0x83);
            put_str(out, "kind"), put_str(out, "batch");
            put_str(out, "v"), put1(out, 1);
            put_str(out, "images");
        }
        put1(out, h);
        int w = (h == 0xdc || h == 0xde || h == 0xc5) ? 2 : 4;
        put_be(out, w == 2 ? 0xffff - below(100) : 0xffffffffu - below(1000), w);
        if (h == 0xc9) put1(out, 1);   /* ext32 type */
        put_random(out, below(64));
        break;
    }
    case M_BIG: {   /* a few MB: random, or a valid message and MBs of junk after it */
        size_t n = (1 + below(4)) << 20;
        if (below(2)) valid_any(out);
        put_random(out, n);
        break;
    }
    default: die("class %d", cls);
    }
}

/* One invalid message of class cls (re-drawn until the decoder refuses it). */
static int invalid(int cls, buf_t *out, uint64_t *decoded_fine) {
    for (int tries = 0; tries < 1000; tries++) {
        make_invalid(cls, out);
        if (!decodes(out)) return 0;
        (*decoded_fine)++;
    }
    return -1;
}

/* A message that decodes and that the trainer's stream rejects whatever its state (trainer/stream.c:
 * the shape is checked first; a seq 2^40 on is beyond any window; other kinds are rejected). */
static void semantic(int cls, buf_t *out) {
    proto_msg_t *m = calloc(1, sizeof *m);
    if (!m) die("out of memory");
    uint64_t far = (1ull << 40) + below(1000000);
    if (cls == S_SHAPE) {
        uint32_t n = 1 + below(shape.batch), h = shape.h, w = shape.w, c = shape.c;
        switch (below(4)) {
        case 0: do h = 1 + below(64); while (h == shape.h); break;
        case 1: do w = 1 + below(64); while (w == shape.w); break;
        case 2: do c = 1 + below(4); while (c == shape.c); break;
        default: n = shape.batch + 1 + below(3); break;
        }
        /* a small seq: the one the trainer is waiting for, maybe; the shape must be enough */
        sample_batch(m, below(1000), n, h, w, c, pixels);
    } else if (cls == S_FAR) {
        sample_batch(m, far, 1 + below(shape.batch), shape.h, shape.w, shape.c, pixels);
    } else if (cls == S_KIND) {
        static const int kinds[] = {0, 1, 3, 4, 5};   /* job, job, credit, checkpoint, metrics */
        sample_msg(kinds[below(5)], m);
    } else {
        control(m, below(2) ? PROTO_CTRL_END_EPOCH : PROTO_CTRL_END_RUN, far);
    }
    encode(m, out);
    free(m);
    if (!decodes(out)) die("a %s message does not decode", class_name[cls]);
}

/* ---- sending messages -------------------------------------------------------------------------- */

typedef struct {
    const char *name, *endpoint;
    int batches;               /* the trainer's batch socket: semantic classes too */
    void *push;
    uint64_t sent[N_CLASSES], decoded_fine[N_CLASSES], total, bytes;
} target_t;

static void send_frame(target_t *t, const buf_t *b, int more) {
    if (zmq_send(t->push, b->d ? b->d : (const uint8_t *)"", b->len, more ? ZMQ_SNDMORE : 0) < 0)
        die("%s: zmq_send of %zu bytes: %s (is the stage reading?)", t->name, b->len, zmq_strerror(zmq_errno()));
    t->bytes += b->len;
}

static void send_one(target_t *t, int cls) {
    buf_t b = {0};
    if (cls == M_MULTI) {
        /* 2-4 frames; the first may be a message that would be valid alone (a credit or a batch far beyond
         * any window: harmless even if taken), the others anything */
        int parts = 2 + (int)below(3);
        for (int i = 0; i < parts; i++) {
            if (i == 0 && below(2)) {
                proto_msg_t *m = calloc(1, sizeof *m);
                if (t->batches) sample_batch(m, (1ull << 40) + below(1000), 1, shape.h, shape.w, shape.c, pixels);
                else m->kind = PROTO_CREDIT, m->credit.seq = (1ull << 62) + below(1000);
                encode(m, &b);
                free(m);
            } else if (below(3) == 0) {
                b.len = 0;   /* empty */
            } else if (invalid((int)below(M_BIG), &b, &t->decoded_fine[M_MULTI]) != 0) {
                die("no invalid part");
            }
            send_frame(t, &b, i + 1 < parts);
        }
    } else if (cls >= S_SHAPE) {
        semantic(cls, &b);
        send_frame(t, &b, 0);
    } else {
        if (invalid(cls, &b, &t->decoded_fine[cls]) != 0) die("%s: no invalid %s message in 1000 tries", t->name, class_name[cls]);
        send_frame(t, &b, 0);
    }
    free(b.d);
    t->sent[cls]++;
    t->total++;
}

static int draw_class(const target_t *t) {
    uint32_t r = below(100);
    if (r < 10) return M_MULTI;
    if (t->batches && r < 25) return S_SHAPE + (int)below(4);
    int x = (int)below(100);
    for (int c = 0; c < M_BIG; c++) {
        if (x < weight[c]) return c;
        x -= weight[c];
    }
    return M_RANDOM;
}

static void send_messages(target_t *ts, int nt, int per_target, int big) {
    void *ctx = zmq_ctx_new();
    for (int i = 0; i < nt; i++) {
        target_t *t = &ts[i];
        t->push = zmq_socket(ctx, ZMQ_PUSH);
        int timeout = 20000, linger = 20000;
        zmq_setsockopt(t->push, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
        zmq_setsockopt(t->push, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_connect(t->push, t->endpoint) != 0) die("%s: connect %s: %s", t->name, t->endpoint, zmq_strerror(zmq_errno()));
    }
    for (int k = 0; k < per_target; k++)
        for (int i = 0; i < nt; i++) send_one(&ts[i], k < big ? M_BIG : draw_class(&ts[i]));
    for (int i = 0; i < nt; i++) zmq_close(ts[i].push);
    zmq_ctx_term(ctx);   /* returns once everything went out (or the linger ran out) */
    for (int i = 0; i < nt; i++) {
        target_t *t = &ts[i];
        printf("sockfuzz: %s (%s): %" PRIu64 " messages, %.1f MB, every one to be rejected:", t->name, t->endpoint,
               t->total, (double)t->bytes / 1e6);
        for (int c = 0; c < N_CLASSES; c++)
            if (t->sent[c]) printf(" %s %" PRIu64, class_name[c], t->sent[c]);
        uint64_t fine = 0;
        for (int c = 0; c < N_CLASSES; c++) fine += t->decoded_fine[c];
        printf(" (%" PRIu64 " candidates decoded fine and were not sent)\n", fine);
    }
}

/* ---- connections ------------------------------------------------------------------------------ */

static int tcp_port(const char *ep) {
    const char *c = strrchr(ep, ':');
    if (strncmp(ep, "tcp://127.", 10) != 0 || !c) die("%s: only tcp://127.x.x.x:PORT endpoints", ep);
    return atoi(c + 1);
}

/* The raw connections. What libzmq 4.3.4 reports for each on a bound socket with a ZAP domain set (as
 * proto/net.c sets it) and the NULL mechanism, seen with a monitor of every event, one I/O thread:
 *   HANDSHAKE_FAILED_NO_DETAIL (EPIPE / ECONNRESET) then DISCONNECTED: nothing, hold (nothing sent, then
 *       closed), 0xff-short, v3-partial (the peer goes before the greeting is complete), a whole NULL
 *       greeting and nothing after it;
 *   HANDSHAKE_FAILED_PROTOCOL then DISCONNECTED: v3-bad-mechanism (mechanism mismatch), null+junk
 *       (unexpected or malformed command; sometimes NO_DETAIL, when the stage reads the end first);
 *   DISCONNECTED alone: junk, http, tls (the first byte is not 0xff: ZMTP 1.0, refused because of the ZAP
 *       domain, a protocol error that libzmq does not report), 0xff-unversioned, zmtp1.0, zmtp2.0 (same),
 *       and every ZeroMQ socket of the wrong type (its READY fails the socket-type check, not reported;
 *       when the peer's own check closes the connection first, NO_DETAIL instead);
 *   0xff-junk: any of these, by its random bytes 9-11.
 * Without the ZAP domain, the first-byte-not-0xff cases become NO_DETAIL when the peer closes. net.c
 * counts a connection that goes without completing its handshake as refused, whether or not a
 * HANDSHAKE_FAILED event came, so that each connection made here is exactly one refusal, whatever the
 * timing; and each is waited on until the stage has let it go (raw_connection, wrong_type_connection),
 * so none is still under way when the counts are compared. */
enum {
    R_NOTHING, R_HOLD, R_JUNK, R_HTTP, R_TLS, R_FF_SHORT, R_FF_UNVERSIONED, R_V3_BAD_MECH, R_V3_PARTIAL, R_ZMTP1,
    R_ZMTP2, R_NULL_JUNK, R_FF_JUNK, N_RAW
};
static const char *raw_name[N_RAW] = {"nothing", "hold", "junk", "http", "tls", "0xff-short", "0xff-unversioned",
                                      "v3-bad-mechanism", "v3-partial", "zmtp1.0", "zmtp2.0", "null+junk", "0xff-junk"};

static void greeting(buf_t *b, uint8_t major, const char *mech) {   /* ZMTP 3 greeting, 64 bytes */
    put1(b, 0xff);
    put_be(b, 0, 8);
    put1(b, 0x7f);
    put1(b, major);
    put1(b, below(2));
    char m[20] = {0};
    memcpy(m, mech, strlen(mech) < 20 ? strlen(mech) : 20);
    put(b, m, 20);
    put1(b, 0);
    put_be(b, 0, 31);
}

static void raw_bytes(int cls, buf_t *b) {
    b->len = 0;
    switch (cls) {
    case R_NOTHING: case R_HOLD: break;
    case R_JUNK:
        put_random(b, 1 + below(2000));
        if (b->d[0] == 0xff) b->d[0] = 0xfe;
        break;
    case R_HTTP: {
        const char *s = "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: sockfuzz\r\n\r\n";
        put(b, s, strlen(s));
        break;
    }
    case R_TLS:   /* the start of a TLS ClientHello */
        put(b, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
        put_random(b, 200 + below(300));
        break;
    case R_FF_SHORT: put1(b, 0xff), put_random(b, below(9)); break;
    case R_FF_UNVERSIONED:   /* 0xff then bit 0 of the 10th byte clear: ZMTP 1.0 to libzmq */
        put1(b, 0xff), put_random(b, 8), put1(b, (uint8_t)(rnd() & 0xfe)), put_random(b, below(100));
        break;
    case R_V3_BAD_MECH: greeting(b, 3, below(2) ? "JUNK" : "CURVEZ"); break;
    case R_V3_PARTIAL: greeting(b, 3, "NULL"), b->len = 12 + below(52); break;
    case R_ZMTP1: greeting(b, 0, "NULL"); break;
    case R_ZMTP2: greeting(b, 1, "NULL"); break;
    case R_NULL_JUNK: greeting(b, 3, "NULL"), put_random(b, 1 + below(500)); break;
    case R_FF_JUNK: put1(b, 0xff), put_random(b, 64 + below(2000)); break;
    }
}

/* Connect, send, close for writing, and wait for the stage to close its end. 1 when it did. */
static int raw_connection(int port, const buf_t *b, int hold_ms) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) die("socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) die("connect to port %d: %s", port, strerror(errno));
    size_t off = 0;
    while (off < b->len) {   /* the stage may close before it has read everything: stop then */
        ssize_t n = send(s, b->d + off, b->len - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += (size_t)n;
    }
    if (hold_ms) sleep_ms(hold_ms);
    shutdown(s, SHUT_WR);
    int closed = 0;
    int64_t end = now_ms() + WAIT_MS;
    char sink[4096];
    while (!closed && now_ms() < end) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, (int)(end - now_ms())) <= 0) continue;
        ssize_t n = recv(s, sink, sizeof sink, 0);
        if (n <= 0) closed = 1;   /* EOF or reset: the stage let go */
    }
    close(s);
    return closed;
}

/* A ZeroMQ socket of type `type` that connects once (no reconnection), waits for its connection to be
 * dropped, and closes. 1 when it was dropped. */
static int wrong_type_connection(void *ctx, int type, const char *ep, int id) {
    void *s = zmq_socket(ctx, type);
    int never = -1, zero = 0;
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &never, sizeof never);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    char mep[64];
    snprintf(mep, sizeof mep, "inproc://sockfuzz-mon-%d", id);
    zmq_socket_monitor(s, mep, ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CLOSED);
    void *mon = zmq_socket(ctx, ZMQ_PAIR);
    zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(mon, mep);
    if (zmq_connect(s, ep) != 0) die("connect %s: %s", ep, zmq_strerror(zmq_errno()));
    int dropped = 0;
    int64_t end = now_ms() + WAIT_MS;
    while (!dropped && now_ms() < end) {
        zmq_pollitem_t it = {mon, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, (long)(end - now_ms())) <= 0) continue;
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, mon, 0) >= 0 && zmq_msg_size(&m) >= 2) {
            uint16_t ev;
            memcpy(&ev, zmq_msg_data(&m), 2);
            if (ev == ZMQ_EVENT_DISCONNECTED) dropped = 1;
        }
        while (zmq_msg_more(&m)) zmq_msg_recv(&m, mon, 0);
        zmq_msg_close(&m);
    }
    zmq_socket_monitor(s, NULL, 0);
    zmq_close(mon);
    zmq_close(s);
    return dropped;
}

static const char *type_name(int t) {
    static const char *n[] = {"PAIR", "PUB", "SUB", "REQ", "REP", "DEALER", "ROUTER", "PULL", "PUSH", "XPUB", "XSUB"};
    return t >= 0 && t <= ZMQ_XSUB ? n[t] : "?";
}

/* A SUB and an XSUB, admitted by a PUB, sending junk subscriptions and junk frames. */
static void junk_subscribers(void *ctx, const char *ep) {
    void *sub = zmq_socket(ctx, ZMQ_SUB), *xsub = zmq_socket(ctx, ZMQ_XSUB);
    int linger = 2000, hwm = 10;
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(xsub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(xsub, ZMQ_LINGER, &linger, sizeof linger);
    buf_t b = {0};
    for (int i = 0; i < 20; i++) {
        b.len = 0;
        put_random(&b, i == 0 ? 65536 : below(300));
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, b.d, b.len);
    }
    zmq_connect(sub, ep);
    zmq_connect(xsub, ep);
    for (int i = 0; i < 200; i++) {
        b.len = 0;
        int k = (int)below(5);
        if (k == 0) put1(&b, 1), put_random(&b, below(200));          /* subscribe */
        else if (k == 1) put1(&b, 0), put_random(&b, below(200));     /* cancel */
        else if (k == 2) put_random(&b, 1 + below(2000));             /* neither */
        else if (k == 3) put_random(&b, 100000);                      /* big */
        int more = below(6) == 0;
        zmq_send(xsub, b.d ? b.d : (uint8_t *)"", b.len, more ? ZMQ_SNDMORE : 0);
    }
    zmq_send(xsub, "x", 1, 0);   /* closes a multi-part message left open */
    sleep_ms(100);
    zmq_close(sub);
    zmq_close(xsub);
    free(b.d);
}

typedef struct {
    const char *name, *endpoint;
    int type;                  /* of the bound socket */
    uint64_t raw[N_RAW], wrong, refused, kept_open;
} bound_t;

static void connections(void *ctx, bound_t *s, int n_raw, int *mon_id) {
    int port = tcp_port(s->endpoint);
    buf_t b = {0};
    for (int i = 0; i < n_raw; i++) {
        int cls = i % N_RAW;
        raw_bytes(cls, &b);
        if (raw_connection(port, &b, cls == R_HOLD ? 50 + (int)below(100) : 0)) s->raw[cls]++, s->refused++;
        else s->kept_open++, fprintf(stderr, "sockfuzz: %s: a %s connection was not closed by the stage within %d ms\n",
                                     s->name, raw_name[cls], WAIT_MS);
    }
    free(b.d);
    /* every type that cannot talk to the bound one (ZeroMQ's socket type table) */
    static const int all[] = {ZMQ_PAIR, ZMQ_PUB, ZMQ_SUB, ZMQ_REQ, ZMQ_REP, ZMQ_DEALER, ZMQ_ROUTER, ZMQ_PULL,
                              ZMQ_PUSH, ZMQ_XPUB, ZMQ_XSUB};
    printf("sockfuzz: %s (%s): wrong types", s->name, s->endpoint);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        int t = all[i];
        int ok = (s->type == ZMQ_PULL && t == ZMQ_PUSH) || (s->type == ZMQ_PUSH && t == ZMQ_PULL) ||
                 (s->type == ZMQ_PUB && (t == ZMQ_SUB || t == ZMQ_XSUB));
        if (ok) continue;
        if (wrong_type_connection(ctx, t, s->endpoint, (*mon_id)++)) s->wrong++, s->refused++, printf(" %s", type_name(t));
        else s->kept_open++, fprintf(stderr, "sockfuzz: %s: a %s socket was not dropped within %d ms\n", s->name,
                                     type_name(t), WAIT_MS);
    }
    if (s->type == ZMQ_PUB) {
        junk_subscribers(ctx, s->endpoint);
        printf("; a SUB and an XSUB with junk subscriptions (admitted)");
    }
    printf("\nsockfuzz: %s: %" PRIu64 " connections to be refused:", s->name, s->refused);
    for (int c = 0; c < N_RAW; c++)
        if (s->raw[c]) printf(" %s %" PRIu64, raw_name[c], s->raw[c]);
    printf(" wrong-type %" PRIu64 "\n", s->wrong);
}

/* ---- main ------------------------------------------------------------------------------------- */

static const char *usage =
    "usage: sockfuzz [--seed N] [--credits EP] [--jobs EP] [--control EP] [--batches EP] [--checkpoints EP]\n"
    "                [--shape HxWxC] [--batch B] [--messages N] [--big N] [--connections N]\n"
    "Bad traffic to the sockets a run's stages bind (tcp://127.x.x.x:PORT): N messages (default 1500, of\n"
    "which --big of a few MB) to each PULL socket (credits, batches), --connections raw connections\n"
    "(default 26) and every wrong ZeroMQ socket type to each bound socket. --shape and --batch: the\n"
    "trainer's batch shape (default 32x32x3, 6). Prints the counts the stages must report.\n";

int main(int argc, char **argv) {
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    const char *ep_credits = NULL, *ep_jobs = NULL, *ep_control = NULL, *ep_batches = NULL, *ep_ckpt = NULL;
    int messages = 1500, big = 3, n_raw = 2 * N_RAW;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (!v) {
            fputs(usage, stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--seed") == 0) seed = strtoull(v, NULL, 0);
        else if (strcmp(a, "--credits") == 0) ep_credits = v;
        else if (strcmp(a, "--jobs") == 0) ep_jobs = v;
        else if (strcmp(a, "--control") == 0) ep_control = v;
        else if (strcmp(a, "--batches") == 0) ep_batches = v;
        else if (strcmp(a, "--checkpoints") == 0) ep_ckpt = v;
        else if (strcmp(a, "--shape") == 0) {
            if (sscanf(v, "%ux%ux%u", &shape.h, &shape.w, &shape.c) != 3) die("--shape %s: want HxWxC", v);
        } else if (strcmp(a, "--batch") == 0) shape.batch = (uint32_t)atoi(v);
        else if (strcmp(a, "--messages") == 0) messages = atoi(v);
        else if (strcmp(a, "--big") == 0) big = atoi(v);
        else if (strcmp(a, "--connections") == 0) n_raw = atoi(v);
        else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (shape.batch < 1 || shape.batch > 250 || shape.h < 1 || shape.w < 1 || shape.h > 64 || shape.w > 64 ||
        shape.c < 1 || shape.c > 4)
        die("--shape / --batch out of this program's range (1-64 x 1-64 x 1-4, batch 1-250)");
    rng_state = seed;
    printf("sockfuzz: seed %" PRIu64 " (--seed %" PRIu64 " repeats this run)\n", seed, seed);
    fflush(stdout);
    pixels = malloc(PIXELS_MAX);
    if (!pixels) die("out of memory");

    target_t ts[2];
    int nt = 0;
    if (ep_credits) ts[nt++] = (target_t){.name = "credits", .endpoint = ep_credits};
    if (ep_batches) ts[nt++] = (target_t){.name = "batches", .endpoint = ep_batches, .batches = 1};
    int64_t t0 = now_ms();
    send_messages(ts, nt, messages, big);
    int64_t t1 = now_ms();

    bound_t bs[5];
    int nb = 0;
    if (ep_jobs) bs[nb++] = (bound_t){.name = "jobs", .endpoint = ep_jobs, .type = ZMQ_PUSH};
    if (ep_credits) bs[nb++] = (bound_t){.name = "credits", .endpoint = ep_credits, .type = ZMQ_PULL};
    if (ep_control) bs[nb++] = (bound_t){.name = "control", .endpoint = ep_control, .type = ZMQ_PUB};
    if (ep_batches) bs[nb++] = (bound_t){.name = "batches", .endpoint = ep_batches, .type = ZMQ_PULL};
    if (ep_ckpt) bs[nb++] = (bound_t){.name = "checkpoints", .endpoint = ep_ckpt, .type = ZMQ_PUB};
    void *ctx = zmq_ctx_new();
    int mon_id = 0;
    for (int i = 0; i < nb; i++) connections(ctx, &bs[i], n_raw, &mon_id);
    zmq_ctx_term(ctx);
    int64_t t2 = now_ms();

    uint64_t rej[2] = {0, 0}, ref[2] = {0, 0}, kept = 0;   /* [0] loader, [1] trainer */
    for (int i = 0; i < nt; i++) rej[ts[i].batches] += ts[i].total;
    for (int i = 0; i < nb; i++) {
        int trainer = strcmp(bs[i].name, "batches") == 0 || strcmp(bs[i].name, "checkpoints") == 0;
        ref[trainer] += bs[i].refused;
        kept += bs[i].kept_open;
    }
    printf("sockfuzz: messages in %.1f s, connections in %.1f s\n", (double)(t1 - t0) / 1000.0, (double)(t2 - t1) / 1000.0);
    printf("expect loader rejected %" PRIu64 " refused %" PRIu64 "\n", rej[0], ref[0]);
    printf("expect trainer rejected %" PRIu64 " refused %" PRIu64 "\n", rej[1], ref[1]);
    free(pixels);
    if (kept) {
        fprintf(stderr, "sockfuzz: %" PRIu64 " connections were not let go by the stages\n", kept);
        return 1;
    }
    return 0;
}
