/* scan.c: an allocation-free walk over one msgpack object that bounds what msgpack-c will allocate.
 *
 * msgpack_unpack_next allocates an array's or map's element table as soon as it reads the header,
 * so five bytes claiming 2^32 elements ask for ~100 GB. This walk runs first: every announced
 * element must fit in the bytes that are left (each takes at least one) and the whole frame may
 * hold at most max_objects objects. It also finds where the object ends (trailing bytes). */
#include "common/check.h"
#include "proto/internal.h"

static uint64_t load_be(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* The header byte b (already consumed) announces: `lenb` bytes of big-endian length to read, then
 * `fixed` bytes plus, per unit of that length, `per_len` bytes of payload or `children` objects. */
typedef struct {
    uint8_t lenb, fixed, per_len, children;
} fmt_t;

static int classify(uint8_t b, fmt_t *f, uint64_t *n) {
    *f = (fmt_t){0, 0, 0, 0};
    *n = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return 0; /* fixint, nil, bool */
    if (b <= 0x8f) return *n = b & 0x0f, f->children = 2, 0;                      /* fixmap   */
    if (b <= 0x9f) return *n = b & 0x0f, f->children = 1, 0;                      /* fixarray */
    if (b <= 0xbf) return *n = b & 0x1f, f->per_len = 1, 0;                       /* fixstr   */
    switch (b) {
    case 0xc4: case 0xd9: return f->lenb = 1, f->per_len = 1, 0;                 /* bin8 str8   */
    case 0xc5: case 0xda: return f->lenb = 2, f->per_len = 1, 0;                 /* bin16 str16 */
    case 0xc6: case 0xdb: return f->lenb = 4, f->per_len = 1, 0;                 /* bin32 str32 */
    case 0xc7: return f->lenb = 1, f->fixed = 1, f->per_len = 1, 0;              /* ext8  */
    case 0xc8: return f->lenb = 2, f->fixed = 1, f->per_len = 1, 0;              /* ext16 */
    case 0xc9: return f->lenb = 4, f->fixed = 1, f->per_len = 1, 0;              /* ext32 */
    case 0xca: return f->fixed = 4, 0;                                           /* float32 */
    case 0xcb: return f->fixed = 8, 0;                                           /* float64 */
    case 0xcc: case 0xd0: return f->fixed = 1, 0;
    case 0xcd: case 0xd1: return f->fixed = 2, 0;
    case 0xce: case 0xd2: return f->fixed = 4, 0;
    case 0xcf: case 0xd3: return f->fixed = 8, 0;
    case 0xd4: return f->fixed = 2, 0;                                           /* fixext1..16 */
    case 0xd5: return f->fixed = 3, 0;
    case 0xd6: return f->fixed = 5, 0;
    case 0xd7: return f->fixed = 9, 0;
    case 0xd8: return f->fixed = 17, 0;
    case 0xdc: return f->lenb = 2, f->children = 1, 0;                           /* array16 */
    case 0xdd: return f->lenb = 4, f->children = 1, 0;                           /* array32 */
    case 0xde: return f->lenb = 2, f->children = 2, 0;                           /* map16 */
    case 0xdf: return f->lenb = 4, f->children = 2, 0;                           /* map32 */
    }
    return -1; /* 0xc1: never used */
}

int proto_scan(const uint8_t *p, size_t len, uint32_t max_objects, size_t *end) {
    size_t off = 0;
    uint64_t pending = 1, seen = 0; /* objects announced but not read yet; objects read */
    while (pending > 0) {
        if (off >= len) goto truncated;
        uint8_t b = p[off++];
        pending--, seen++;
        fmt_t f;
        uint64_t n;
        if (classify(b, &f, &n) != 0) {
            err_set("invalid msgpack byte 0x%02x at offset %zu", b, off - 1);
            return -1;
        }
        if (f.lenb) {
            if (len - off < f.lenb) goto truncated;
            n = load_be(p + off, f.lenb);
            off += f.lenb;
        }
        uint64_t skip = f.fixed + n * f.per_len; /* n < 2^32: no overflow */
        if (skip > len - off) goto truncated;
        off += skip;
        pending += n * f.children;
        if (pending > len - off) goto truncated;
        if (seen + pending > max_objects) {
            err_set("more than %u msgpack objects in one message", max_objects);
            return -1;
        }
    }
    *end = off;
    return 0;
truncated:
    err_set("truncated: the message ends inside an object (%zu bytes)", len);
    return -1;
}
