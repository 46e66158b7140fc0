/* xform.c: Keras ImageDataGenerator random transforms and the one-pass bilinear sampler that
 * applies resize + rotation + shift + shear + zoom + flips with Keras' coordinates and fill modes. */
#include "image/image.h"

#include <math.h>
#include <string.h>

#include "common/check.h"
#include "common/rng.h"

void img_xform_draw(const aug_params_t *p, int h, int w, uint64_t seed, img_xform_t *t) {
    memset(t, 0, sizeof *t);
    t->zx = t->zy = 1.0;
    if (!p->enabled) return;
    /* Keras' order (get_random_transform): theta, tx, ty, shear, zx, zy, flip_h, flip_v. Every value
     * is drawn whether or not its range is zero, so each one sits at a fixed place in the stream. */
    rng_t r;
    rng_init(&r, seed, 0);
    t->theta_deg = rng_uniform(&r, -p->rotation_range, p->rotation_range);
    t->tx = rng_uniform(&r, -p->height_shift_range, p->height_shift_range) * h;
    t->ty = rng_uniform(&r, -p->width_shift_range, p->width_shift_range) * w;
    t->shear_deg = rng_uniform(&r, -p->shear_range, p->shear_range);
    t->zx = rng_uniform(&r, p->zoom_lo, p->zoom_hi);
    t->zy = rng_uniform(&r, p->zoom_lo, p->zoom_hi);
    double u_fh = rng_uniform(&r, 0.0, 1.0), u_fv = rng_uniform(&r, 0.0, 1.0);
    t->flip_h = p->horizontal_flip && u_fh < 0.5;
    t->flip_v = p->vertical_flip && u_fv < 0.5;
}

/* A 2-D affine map on (row, col): (u, v) -> (m[0] u + m[1] v + m[2], m[3] u + m[4] v + m[5]). */
typedef struct { double m[6]; } aff_t;

static aff_t aff(double a, double b, double c, double d, double e, double f) {
    return (aff_t){{a, b, c, d, e, f}};
}

/* a o b: apply b first, then a. */
static aff_t aff_mul(aff_t a, aff_t b) {
    const double *x = a.m, *y = b.m;
    return aff(x[0] * y[0] + x[1] * y[3], x[0] * y[1] + x[1] * y[4], x[0] * y[2] + x[1] * y[5] + x[2],
               x[3] * y[0] + x[4] * y[3], x[3] * y[1] + x[4] * y[4], x[3] * y[2] + x[4] * y[5] + x[5]);
}

/* Output pixel (r, c) of the out_h x out_w result -> (row, col) in src. */
static aff_t warp_map(int src_h, int src_w, int out_h, int out_w, const img_xform_t *t) {
    aff_t m = aff(1, 0, 0, 0, 1, 0);
    if (t) {
        /* Keras flips after the transform: output (r, c) reads the transformed image at the mirror. */
        aff_t flip = aff(t->flip_v ? -1 : 1, 0, t->flip_v ? out_h - 1 : 0,
                         0, t->flip_h ? -1 : 1, t->flip_h ? out_w - 1 : 0);
        double th = t->theta_deg * M_PI / 180.0, sh = t->shear_deg * M_PI / 180.0;
        aff_t rot = aff(cos(th), -sin(th), 0, sin(th), cos(th), 0);
        aff_t shift = aff(1, 0, t->tx, 0, 1, t->ty);
        aff_t shear = aff(1, -sin(sh), 0, 0, cos(sh), 0);
        aff_t zoom = aff(t->zx, 0, 0, 0, t->zy, 0);
        aff_t k = aff_mul(aff_mul(rot, shift), aff_mul(shear, zoom));
        /* About the centre, as transform_matrix_offset_center does: in = M (out - o) + o. */
        double orow = out_h / 2.0 - 0.5, ocol = out_w / 2.0 - 0.5;
        k = aff_mul(aff(1, 0, orow, 0, 1, ocol), aff_mul(k, aff(1, 0, -orow, 0, 1, -ocol)));
        m = aff_mul(k, flip);
    }
    /* Target-size coordinates -> source coordinates (pixel centres aligned, aspect not kept). */
    double sy = (double)src_h / out_h, sx = (double)src_w / out_w;
    return aff_mul(aff(sy, 0, 0.5 * sy - 0.5, 0, sx, 0.5 * sx - 0.5), m);
}

/* Bilinear weights in 1/128 steps: every intermediate fits a signed 16-bit lane (255 * 128), so
 * SSE2 and the scalar path compute the same bytes. An identity transform copies pixels exactly. */
#define WBITS 7
#define WONE (1 << WBITS)

/* Clamps written as comparisons: they compile to minss/maxss, where fminf would be a libm call. */
static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

static inline int ifloor(float v) {
    int i = (int)v;
    return i - (v < (float)i);
}

/* Index of tap i in [0, n) under the fill mode (clamping is done on the coordinate for nearest). */
static inline int fold(int i, int n, fill_mode_t fill) {
    if (fill == FILL_WRAP) {
        i %= n;
        return i < 0 ? i + n : i;
    }
    if (fill == FILL_REFLECT) {   /* scipy 'reflect': d c b a | a b c d | d c b a */
        int p = 2 * n;
        i %= p;
        if (i < 0) i += p;
        return i < n ? i : p - 1 - i;
    }
    return i < 0 ? 0 : i >= n ? n - 1 : i;
}

/* out = bilinear mix of pixels a b (top row) and c d (bottom row); weights wx, wy in [0, WONE]. */
static inline void blend_scalar(const uint8_t *a, const uint8_t *b, const uint8_t *c, const uint8_t *d,
                                int wx, int wy, uint8_t *out) {
    for (int ch = 0; ch < 3; ch++) {
        int top = a[ch] * (WONE - wx) + b[ch] * wx;
        int bot = c[ch] * (WONE - wx) + d[ch] * wx;
        out[ch] = (uint8_t)((top * (WONE - wy) + bot * wy + (1 << (2 * WBITS - 1))) >> (2 * WBITS));
    }
}

#ifdef __SSE2__
#include <emmintrin.h>

/* 6 bytes into the low end of a register, built from a 4- and a 2-byte load (a 6-byte memcpy into a
 * 64-bit variable goes through the stack and stalls store forwarding). */
static inline uint64_t load6(const uint8_t *p) {
    uint32_t lo;
    uint16_t hi;
    memcpy(&lo, p, 4);
    memcpy(&hi, p + 4, 2);
    return (uint64_t)lo | (uint64_t)hi << 32;
}

/* The same arithmetic as blend_scalar for two horizontally adjacent pixels per row (6 bytes each).
 * Writes 4 bytes at out: the caller keeps the last pixel of the picture for blend_scalar. */
static inline void blend_pair(const uint8_t *top, const uint8_t *bot, int wx, int wy, uint8_t *out) {
    /* Spread a0 a1 a2 b0 b1 b2 to 16-bit lanes a0 a1 a2 0 b0 b1 b2 0, so both weights broadcast. */
    uint64_t t = load6(top), b = load6(bot);
    t = (t & 0xffffff) | (t >> 24) << 32;
    b = (b & 0xffffff) | (b >> 24) << 32;
    const __m128i z = _mm_setzero_si128();
    const __m128i w = _mm_unpacklo_epi64(_mm_set1_epi16((short)(WONE - wx)), _mm_set1_epi16((short)wx));
    __m128i vt = _mm_mullo_epi16(_mm_unpacklo_epi8(_mm_cvtsi64_si128((long long)t), z), w);
    __m128i vb = _mm_mullo_epi16(_mm_unpacklo_epi8(_mm_cvtsi64_si128((long long)b), z), w);
    vt = _mm_add_epi16(vt, _mm_srli_si128(vt, 8));   /* lanes 0..2: a * (1 - fx) + b * fx */
    vb = _mm_add_epi16(vb, _mm_srli_si128(vb, 8));
    __m128i r = _mm_madd_epi16(_mm_unpacklo_epi16(vt, vb), _mm_set1_epi32((wy << 16) | (WONE - wy)));
    r = _mm_srli_epi32(_mm_add_epi32(r, _mm_set1_epi32(1 << (2 * WBITS - 1))), 2 * WBITS);
    r = _mm_packus_epi16(_mm_packs_epi32(r, r), z);
    uint32_t px = (uint32_t)_mm_cvtsi128_si32(r);
    memcpy(out, &px, 4);
}
#else
static inline void blend_pair(const uint8_t *top, const uint8_t *bot, int wx, int wy, uint8_t *out) {
    blend_scalar(top, top + 3, bot, bot + 3, wx, wy, out);
}
#endif

/* Narrow [*lo, *hi) to the columns c where v0 + dv * c lies within [a, b] (lo <= hi stays true). */
static void keep_within(double v0, double dv, double a, double b, int *lo, int *hi) {
    double c0 = 0, c1 = 1e9;
    if (a > b) {   /* a 1-pixel side: no column has two taps inside */
        *lo = *hi;
        return;
    }
    if (fabs(dv) < 1e-12) {
        if (v0 < a || v0 > b) c1 = -1;
    } else {
        c0 = (a - v0) / dv, c1 = (b - v0) / dv;
        if (c0 > c1) {
            double tmp = c0;
            c0 = c1, c1 = tmp;
        }
    }
    if (c0 > *lo) *lo = c0 > *hi ? *hi : (int)ceil(c0);
    if (c1 < *hi - 1) *hi = c1 < *lo ? *lo : (int)floor(c1) + 1;
    if (*lo > *hi) *lo = *hi;   /* empty: the general path takes the whole row */
}

typedef struct {
    const uint8_t *px;
    int sw, sh;
    fill_mode_t fill;
    uint8_t cpix[3];
    float xlo, xhi, ylo, yhi;   /* 'constant': where the target-size image lies, in source coordinates */
} sampler_t;

/* One output pixel at source coordinates (xs, ys), anywhere, any fill mode. */
static void sample_any(const sampler_t *s, float xs, float ys, uint8_t *o) {
    const float big = 1e7f;
    xs = clampf(xs, -big, big), ys = clampf(ys, -big, big);
    if (s->fill == FILL_CONSTANT && (ys < s->ylo || ys > s->yhi || xs < s->xlo || xs > s->xhi)) {
        memcpy(o, s->cpix, 3);
        return;
    }
    if (s->fill == FILL_NEAREST || s->fill == FILL_CONSTANT) {
        ys = clampf(ys, 0.0f, (float)(s->sh - 1));
        xs = clampf(xs, 0.0f, (float)(s->sw - 1));
    }
    int x0 = ifloor(xs), y0 = ifloor(ys);
    int wx = (int)((xs - (float)x0) * WONE + 0.5f), wy = (int)((ys - (float)y0) * WONE + 0.5f);
    int xa = fold(x0, s->sw, s->fill), xb = fold(x0 + 1, s->sw, s->fill);
    int ya = fold(y0, s->sh, s->fill), yb = fold(y0 + 1, s->sh, s->fill);
    const uint8_t *ra = s->px + (size_t)ya * s->sw * 3, *rb = s->px + (size_t)yb * s->sw * 3;
    blend_scalar(ra + xa * 3, ra + xb * 3, rb + xa * 3, rb + xb * 3, wx, wy, o);
}

void img_warp(const img_t *src, int out_h, int out_w, const img_xform_t *t, fill_mode_t fill,
              double cval, uint8_t *dst) {
    const int sh = src->height, sw = src->width;
    ASSERT(sw > 0 && sh > 0 && out_w > 0 && out_h > 0);
    const uint8_t *px = src->pixels;
    aff_t a = warp_map(sh, sw, out_h, out_w, t);
    const float m0 = (float)a.m[1], m1 = (float)a.m[4];
    uint8_t cv = (uint8_t)(cval < 0 ? 0 : cval > 255 ? 255 : lrint(cval));
    const double eps = 1e-3;
    const double ylo = 0.5 * sh / out_h - 0.5, yhi = (out_h - 0.5) * sh / out_h - 0.5;
    const double xlo = 0.5 * sw / out_w - 0.5, xhi = (out_w - 0.5) * sw / out_w - 0.5;
    const sampler_t s = {px, sw, sh, fill, {cv, cv, cv}, (float)(xlo - eps), (float)(xhi + eps),
                         (float)(ylo - eps), (float)(yhi + eps)};

    for (int r = 0; r < out_h; r++) {
        /* Row start in double, steps in float: no drift worth a grey level across a row. */
        double y0d = a.m[0] * r + a.m[2], x0d = a.m[3] * r + a.m[5];
        float y = (float)y0d, x = (float)x0d;
        uint8_t *o = dst + (size_t)r * out_w * 3;
        /* The columns whose four taps all lie inside the source (and inside the target-size image for
         * 'constant'), with a margin for float rounding: no fill mode, no checks. The last pixel of
         * the picture stays out (blend_pair writes a fourth byte). */
        int lo = 0, hi = r == out_h - 1 ? out_w - 1 : out_w;
        keep_within(y0d, a.m[1], eps, sh - 1 - eps, &lo, &hi);
        keep_within(x0d, a.m[4], eps, sw - 1 - eps, &lo, &hi);
        if (fill == FILL_CONSTANT) {
            keep_within(y0d, a.m[1], ylo + eps, yhi - eps, &lo, &hi);
            keep_within(x0d, a.m[4], xlo + eps, xhi - eps, &lo, &hi);
        }
        int c = 0;
        for (; c < lo; c++) sample_any(&s, x + m1 * c, y + m0 * c, o + c * 3);
        for (; c < hi; c++) {
            float ys = y + m0 * c, xs = x + m1 * c;
            int x0 = (int)xs, y0 = (int)ys;   /* both >= 0 here: truncation is floor */
            x0 = x0 > sw - 2 ? sw - 2 : x0;   /* never past the edge, whatever the rounding */
            y0 = y0 > sh - 2 ? sh - 2 : y0;
            int wx = (int)((xs - (float)x0) * WONE + 0.5f), wy = (int)((ys - (float)y0) * WONE + 0.5f);
            const uint8_t *p = px + ((size_t)y0 * sw + x0) * 3;
            blend_pair(p, p + (size_t)sw * 3, wx, wy, o + c * 3);
        }
        for (; c < out_w; c++) sample_any(&s, x + m1 * c, y + m0 * c, o + c * 3);
    }
}
