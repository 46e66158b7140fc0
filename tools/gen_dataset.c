/* gen_dataset.c: writes a synthetic two-class "cats vs dogs" data set in the Keras folder layout
 * (OUT/{train,validation,test}/{cats,dogs}/{cat,dog}.N.jpg), deterministic from a seed.
 *
 * Every picture: a textured, noisy background of random size and aspect, a few random distractor
 * shapes, and one "animal": a head (ellipse with eyes and a nose) whose class is given by shape:
 * cats have two pointed triangular ears on top and whiskers, dogs two long rounded ears hanging at
 * the sides and a lighter muzzle. Colours, positions, scales and rotations are drawn the same way
 * for both classes, so only the shapes tell them apart.
 *
 * --size WxH gives every picture that size instead of a random one; everything in a picture is drawn
 * in proportion to its size, so it is the same kind of picture, scaled (the picture's random draws are
 * the same too: the size draws are made and ignored). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <vips/vips.h>

#include "common/check.h"
#include "common/cli.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/rng.h"
#include "common/timeutil.h"
#include "image/image.h"

#define MIN_SIDE 120
#define MAX_SIDE 500
#define MAX_FIXED_SIDE 8192   /* --size limit */

typedef struct {
    int w, h;
    uint8_t *px;   /* w * h * 3, reused for every picture */
} canvas_t;

typedef struct { float x, y; } pt_t;

static float uni(rng_t *r, double lo, double hi) { return (float)rng_uniform(r, lo, hi); }

static void random_colour(rng_t *r, uint8_t c[3]) {
    for (int k = 0; k < 3; k++) c[k] = (uint8_t)(rng_u32(r) & 0xff);
}

static void shade(const uint8_t in[3], float f, uint8_t out[3]) {
    for (int k = 0; k < 3; k++) {
        float v = in[k] * f;
        out[k] = (uint8_t)(v > 255 ? 255 : v);
    }
}

static inline void put(canvas_t *cv, int x, int y, const uint8_t c[3], float a) {
    uint8_t *p = cv->px + ((size_t)y * cv->w + x) * 3;
    for (int k = 0; k < 3; k++) p[k] = (uint8_t)(p[k] + (c[k] - p[k]) * a + 0.5f);
}

static inline float coverage(float dist) { return dist <= -0.5f ? 1.0f : dist >= 0.5f ? 0.0f : 0.5f - dist; }

/* A filled ellipse centred at (cx, cy), radii rx, ry, turned by angle (radians); antialiased edge. */
static void fill_ellipse(canvas_t *cv, float cx, float cy, float rx, float ry, float angle, const uint8_t c[3]) {
    float ca = cosf(angle), sa = sinf(angle), rmax = fmaxf(rx, ry) + 1, rmin = fminf(rx, ry);
    int x0 = (int)fmaxf(0, cx - rmax), x1 = (int)fminf(cv->w - 1, cx + rmax);
    int y0 = (int)fmaxf(0, cy - rmax), y1 = (int)fminf(cv->h - 1, cy + rmax);
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float dx = x - cx, dy = y - cy, u = dx * ca + dy * sa, v = -dx * sa + dy * ca;
            float q = sqrtf((u / rx) * (u / rx) + (v / ry) * (v / ry));
            float a = coverage((q - 1) * rmin);
            if (a > 0) put(cv, x, y, c, a);
        }
}

/* A filled convex polygon (either winding); antialiased edge. */
static void fill_poly(canvas_t *cv, const pt_t *p, int n, const uint8_t c[3]) {
    float area = 0, minx = 1e9f, maxx = -1e9f, miny = 1e9f, maxy = -1e9f;
    for (int i = 0; i < n; i++) {
        const pt_t *a = &p[i], *b = &p[(i + 1) % n];
        area += a->x * b->y - b->x * a->y;
        minx = fminf(minx, a->x), maxx = fmaxf(maxx, a->x), miny = fminf(miny, a->y), maxy = fmaxf(maxy, a->y);
    }
    float s = area > 0 ? 1.0f : -1.0f;   /* makes every edge normal point outwards */
    float nx[8], ny[8], off[8];
    for (int i = 0; i < n; i++) {
        const pt_t *a = &p[i], *b = &p[(i + 1) % n];
        float ex = b->x - a->x, ey = b->y - a->y, len = sqrtf(ex * ex + ey * ey) + 1e-6f;
        nx[i] = s * ey / len, ny[i] = -s * ex / len;
        off[i] = nx[i] * a->x + ny[i] * a->y;
    }
    int x0 = (int)fmaxf(0, minx - 1), x1 = (int)fminf(cv->w - 1, maxx + 1);
    int y0 = (int)fmaxf(0, miny - 1), y1 = (int)fminf(cv->h - 1, maxy + 1);
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float d = -1e9f;
            for (int i = 0; i < n; i++) d = fmaxf(d, nx[i] * x + ny[i] * y - off[i]);
            float a = coverage(d);
            if (a > 0) put(cv, x, y, c, a);
        }
}

/* xorshift64*: a cheap per-pixel noise source, seeded from the picture's Philox stream. */
static inline uint32_t xs64(uint64_t *s) {
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return (uint32_t)((*s * 0x2545F4914F6CDD1Dull) >> 32);
}

/* Gradient between two random colours, a random texture (stripes, checks or soft blotches), noise. */
static void background(canvas_t *cv, rng_t *r) {
    uint8_t c0[3], c1[3];
    random_colour(r, c0);
    random_colour(r, c1);
    float th = uni(r, 0, 2 * M_PI), gx = cosf(th), gy = sinf(th);
    int texture = (int)(rng_u32(r) % 4);
    float period = uni(r, 6, 40), amp = uni(r, 8, 40), tt = uni(r, 0, M_PI), tx = cosf(tt), ty = sinf(tt);
    float span = fabsf(gx) * cv->w + fabsf(gy) * cv->h + 1;
    float wave[256];   /* one period of the stripes, looked up instead of a sinf per pixel */
    /* keeps the stripes' phase argument positive (x * tx >= -w); 4 * MAX_SIDE for the random sizes */
    float offset = 4.0f * (float)(cv->w > MAX_SIDE || cv->h > MAX_SIDE ? (cv->w > cv->h ? cv->w : cv->h) : MAX_SIDE);
    for (int i = 0; i < 256; i++) wave[i] = amp * sinf(i * 2 * (float)M_PI / 256);
    for (int y = 0; y < cv->h; y++)
        for (int x = 0; x < cv->w; x++) {
            float f = ((x - cv->w / 2.0f) * gx + (y - cv->h / 2.0f) * gy) / span + 0.5f, t = 0;
            if (texture == 1) t = wave[(int)((x * tx + y * ty + offset) * 256 / period) & 255];
            else if (texture == 2) t = (((int)(x / period) + (int)(y / period)) & 1) ? amp / 2 : -amp / 2;
            uint8_t *p = cv->px + ((size_t)y * cv->w + x) * 3;
            for (int k = 0; k < 3; k++) {
                float v = c0[k] + (c1[k] - c0[k]) * f + t;
                p[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    if (texture == 3)
        for (int i = 0, n = 3 + (int)(rng_u32(r) % 6); i < n; i++) {
            uint8_t c[3];
            random_colour(r, c);
            float rad = uni(r, 0.1, 0.4) * fminf(cv->w, cv->h);
            fill_ellipse(cv, uni(r, 0, cv->w), uni(r, 0, cv->h), rad, rad * uni(r, 0.4, 1), uni(r, 0, M_PI), c);
        }
}

static void distractor(canvas_t *cv, rng_t *r) {
    uint8_t c[3];
    random_colour(r, c);
    float m = fminf(cv->w, cv->h), cx = uni(r, 0, cv->w), cy = uni(r, 0, cv->h), a = uni(r, 0, M_PI);
    float ca = cosf(a), sa = sinf(a);
    switch (rng_u32(r) % 4) {
    case 0:
        fill_ellipse(cv, cx, cy, uni(r, 0.03, 0.15) * m, uni(r, 0.03, 0.15) * m, a, c);
        break;
    case 1: {   /* rectangle, or a line when thin */
        float hw = uni(r, 0.03, 0.2) * m, hh = rng_u32(r) % 2 ? uni(r, 0.03, 0.15) * m : uni(r, 1, 3);
        pt_t q[4] = {{cx - hw * ca + hh * sa, cy - hw * sa - hh * ca}, {cx + hw * ca + hh * sa, cy + hw * sa - hh * ca},
                     {cx + hw * ca - hh * sa, cy + hw * sa + hh * ca}, {cx - hw * ca - hh * sa, cy - hw * sa + hh * ca}};
        fill_poly(cv, q, 4, c);
        break;
    }
    case 2: {
        float s = uni(r, 0.04, 0.12) * m;
        pt_t q[3];
        for (int i = 0; i < 3; i++) {
            float b = a + i * 2.0944f + uni(r, -0.5, 0.5);
            q[i] = (pt_t){cx + s * cosf(b), cy + s * sinf(b)};
        }
        fill_poly(cv, q, 3, c);
        break;
    }
    default:
        for (int i = 0; i < 12; i++) {   /* a speckle cluster */
            float rad = uni(r, 1, 4);
            fill_ellipse(cv, cx + uni(r, -0.1, 0.1) * m, cy + uni(r, -0.1, 0.1) * m, rad, rad, 0, c);
        }
    }
}

/* A straight stroke of the given width from a to b. */
static void stroke(canvas_t *cv, pt_t a, pt_t b, float width, const uint8_t c[3]) {
    float dx = b.x - a.x, dy = b.y - a.y, len = sqrtf(dx * dx + dy * dy) + 1e-6f;
    float nx = -dy / len * width / 2, ny = dx / len * width / 2;
    pt_t q[4] = {{a.x + nx, a.y + ny}, {b.x + nx, b.y + ny}, {b.x - nx, b.y - ny}, {a.x - nx, a.y - ny}};
    fill_poly(cv, q, 4, c);
}

/* The class-defining animal: a head with eyes and a nose, and
 *   label 0 (cat): two tall pointed ears on top, whiskers;
 *   label 1 (dog): two long rounded ears hanging at the sides, a lighter muzzle. */
static void animal(canvas_t *cv, rng_t *r, int label) {
    float m = fminf(cv->w, cv->h), rx = uni(r, 0.17, 0.27) * m, ry = rx * uni(r, 0.85, 1.15);
    float reach = 2.0f * fmaxf(rx, ry);
    float cx = cv->w < 2 * reach ? cv->w / 2.0f : uni(r, reach, cv->w - reach);
    float cy = cv->h < 2 * reach ? cv->h / 2.0f : uni(r, reach, cv->h - reach);
    float phi = uni(r, -0.6, 0.6), ux = sinf(phi), uy = -cosf(phi), qx = cosf(phi), qy = sinf(phi);
    /* (a, b): a to the animal's right, b upwards, in pixels from the head's centre. */
#define AT(a, b) ((pt_t){cx + (a) * qx + (b) * ux, cy + (a) * qy + (b) * uy})
    uint8_t head[3], ear[3], inner[3], dark[3], light[3];
    random_colour(r, head);
    shade(head, uni(r, 0.35, 0.8), ear);
    random_colour(r, inner);
    shade(head, uni(r, 0.0, 0.3), dark);
    for (int k = 0; k < 3; k++) light[k] = (uint8_t)((head[k] + 255) / 2);
    if (label == 0) {
        for (int s = -1; s <= 1; s += 2) {
            float al = uni(r, 0.4, 0.75), de = uni(r, 0.22, 0.32), k = uni(r, 0.7, 1.1), tip = al + uni(r, -0.1, 0.15);
            pt_t t[3] = {AT(s * rx * 0.9f * sinf(al - de), ry * 0.9f * cosf(al - de)),
                         AT(s * rx * 0.9f * sinf(al + de), ry * 0.9f * cosf(al + de)),
                         AT(s * rx * (1 + k) * sinf(tip), ry * (1 + k) * cosf(tip))};
            fill_poly(cv, t, 3, ear);
            if (rng_u32(r) % 2) {   /* inner ear */
                pt_t g = {(t[0].x + t[1].x + t[2].x) / 3, (t[0].y + t[1].y + t[2].y) / 3};
                for (int i = 0; i < 3; i++) t[i] = (pt_t){g.x + 0.5f * (t[i].x - g.x), g.y + 0.5f * (t[i].y - g.y)};
                fill_poly(cv, t, 3, inner);
            }
        }
        fill_ellipse(cv, cx, cy, rx, ry, phi, head);
    } else {
        fill_ellipse(cv, cx, cy, rx, ry, phi, head);
        for (int s = -1; s <= 1; s += 2) {
            pt_t e = AT(s * rx * uni(r, 0.9, 1.05), ry * uni(r, -0.45, -0.1));
            fill_ellipse(cv, e.x, e.y, rx * uni(r, 0.25, 0.36), ry * uni(r, 0.65, 0.95), phi + s * uni(r, 0.05, 0.45), ear);
        }
        pt_t mz = AT(0, -ry * uni(r, 0.35, 0.5));
        fill_ellipse(cv, mz.x, mz.y, rx * uni(r, 0.38, 0.5), ry * uni(r, 0.25, 0.35), phi, light);
    }
    float eye = rx * uni(r, 0.08, 0.13), ex = rx * uni(r, 0.3, 0.42), ey = ry * uni(r, 0.05, 0.25);
    for (int s = -1; s <= 1; s += 2) {
        pt_t e = AT(s * ex, ey);
        fill_ellipse(cv, e.x, e.y, eye, eye * uni(r, 0.7, 1.1), phi, dark);
    }
    float nb = -ry * uni(r, 0.15, 0.3);
    pt_t n = AT(0, nb);
    fill_ellipse(cv, n.x, n.y, rx * uni(r, 0.08, 0.14), rx * uni(r, 0.06, 0.1), phi, dark);
    if (label == 0) {
        uint8_t wc[3];
        if (rng_u32(r) % 2) memcpy(wc, dark, 3);
        else memcpy(wc, light, 3);
        float len = rx * uni(r, 0.6, 0.9), w = fmaxf(1.0f, rx * 0.02f);
        for (int s = -1; s <= 1; s += 2)
            for (int i = -1; i <= 1; i++)
                stroke(cv, AT(s * rx * 0.15f, nb - ry * 0.05f * i), AT(s * (rx * 0.15f + len), nb - ry * 0.2f * i), w, wc);
    }
#undef AT
}

static void sensor_noise(canvas_t *cv, rng_t *r) {
    uint64_t s = ((uint64_t)rng_u32(r) << 32 | rng_u32(r)) | 1;
    int amp = 4 + (int)(rng_u32(r) % 16);
    size_t n = (size_t)cv->w * cv->h;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = xs64(&s);   /* three 10-bit draws per pixel, scaled to [-amp, amp] */
        for (int k = 0; k < 3; k++, u >>= 10) {
            int v = cv->px[3 * i + k] + (int)(((u & 1023) * (uint32_t)(2 * amp + 1)) >> 10) - amp;
            cv->px[3 * i + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

/* Draw picture `index` of class `label` and write it as a JPEG: fixed_w x fixed_h, or a random size
 * when they are 0. */
static int make_picture(canvas_t *cv, uint64_t seed, int label, int64_t index, int fixed_w, int fixed_h,
                        const char *path) {
    rng_t r;
    rng_init(&r, rng_derive3(seed, (uint64_t)label, (uint64_t)index), 0);
    cv->w = MIN_SIDE + (int)(rng_u32(&r) % (MAX_SIDE - MIN_SIDE + 1));
    cv->h = MIN_SIDE + (int)(rng_u32(&r) % (MAX_SIDE - MIN_SIDE + 1));
    if (fixed_w > 0) cv->w = fixed_w, cv->h = fixed_h;
    background(cv, &r);
    for (int i = 0, n = 2 + (int)(rng_u32(&r) % 4); i < n; i++) distractor(cv, &r);
    animal(cv, &r, label);
    if (rng_u32(&r) % 3 == 0) distractor(cv, &r);   /* sometimes something in front */
    sensor_noise(cv, &r);
    int q = 60 + (int)(rng_u32(&r) % 36);
    VipsImage *im = vips_image_new_from_memory(cv->px, (size_t)cv->w * cv->h * 3, cv->w, cv->h, 3, VIPS_FORMAT_UCHAR);
    if (!im) return img_vips_fail("wrapping pixels");
    int rc = vips_jpegsave(im, path, "Q", q, "strip", TRUE, NULL);
    g_object_unref(im);
    if (rc != 0) {
        img_vips_fail("writing");
        err_prepend("%s", path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *out = NULL, *size = NULL;
    int64_t seed = 1;
    int counts[3] = {400, 100, 100};
    cli_opt_t opts[] = {
        {"out", CLI_STR, &out, NULL, "DIR", "folder to write (created; existing files are overwritten)"},
        {"seed", CLI_I64, &seed, NULL, "S", "seed: the same seed writes the same bytes"},
        {"train", CLI_INT, &counts[0], NULL, "N", "training pictures per class"},
        {"validation", CLI_INT, &counts[1], NULL, "N", "validation pictures per class"},
        {"test", CLI_INT, &counts[2], NULL, "N", "test pictures per class"},
        {"size", CLI_STR, &size, NULL, "WxH",
         "every picture W pixels wide and H high, e.g. 500x375 (default: random sides of 120 to 500)"},
    };
    int rc = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
                       "--out DIR [--seed S] [--train N] [--validation N] [--test N] [--size WxH]",
                       "Write a synthetic two-class data set (cats: pointed ears, dogs: hanging ears) in the\n"
                       "Keras flow_from_directory layout: DIR/{train,validation,test}/{cats,dogs}/{cat,dog}.N.jpg.",
                       NULL);
    if (rc != 0) return rc > 0 ? 0 : 2;
    log_init("gen_dataset", NULL);
    if (!out) {
        fprintf(stderr, "gen_dataset: --out is required (see --help)\n");
        return 2;
    }
    for (int s = 0; s < 3; s++)
        if (counts[s] < 0 || counts[s] > 1000000) {
            fprintf(stderr, "gen_dataset: counts must be 0 to 1000000\n");
            return 2;
        }
    int fixed_w = 0, fixed_h = 0;
    if (size) {
        char x, end;
        if (sscanf(size, "%d%c%d%c", &fixed_w, &x, &fixed_h, &end) != 3 || (x != 'x' && x != 'X') || fixed_w < 16 ||
            fixed_h < 16 || fixed_w > MAX_FIXED_SIDE || fixed_h > MAX_FIXED_SIDE) {
            fprintf(stderr, "gen_dataset: --size wants WxH with sides of 16 to %d pixels, e.g. 500x375 (got '%s')\n",
                    MAX_FIXED_SIDE, size);
            return 2;
        }
    }
    if (img_init(argv[0]) != 0) {
        log_error();
        return 1;
    }

    static const char *splits[3] = {"train", "validation", "test"}, *classes[2] = {"cats", "dogs"},
                      *prefix[2] = {"cat", "dog"};
    size_t pixels = (size_t)MAX_SIDE * MAX_SIDE;
    if ((size_t)fixed_w * (size_t)fixed_h > pixels) pixels = (size_t)fixed_w * (size_t)fixed_h;
    canvas_t cv = {0, 0, malloc(pixels * 3)};
    if (!cv.px) {
        LOG_E("out of memory");
        return 1;
    }
    double t0 = now_s();
    int64_t written = 0, next[2] = {1, 1};   /* file numbers run on across the splits, as in Kaggle's */
    char path[4096];
    rc = mkdir_p(out);
    for (int s = 0; s < 3 && rc == 0; s++) {
        snprintf(path, sizeof path, "%s/%s", out, splits[s]);
        rc = mkdir_p(path);
        for (int c = 0; c < 2 && rc == 0; c++) {
            snprintf(path, sizeof path, "%s/%s/%s", out, splits[s], classes[c]);
            rc = mkdir_p(path);
            for (int i = 0; i < counts[s] && rc == 0; i++, next[c]++) {
                snprintf(path, sizeof path, "%s/%s/%s/%s.%lld.jpg", out, splits[s], classes[c], prefix[c],
                         (long long)next[c]);
                rc = make_picture(&cv, (uint64_t)seed, c, next[c], fixed_w, fixed_h, path);
                written++;
            }
        }
    }
    free(cv.px);
    if (rc != 0) {
        log_error();
        return 1;
    }
    LOG_I("wrote %lld pictures to %s in %.1f s", (long long)written, out, now_s() - t0);
    vips_shutdown();
    return 0;
}
