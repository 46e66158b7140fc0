/* test_augment.c: the Keras transform draw (distributions, determinism) and the one-pass sampler
 * (each transform alone moves a known spot where Keras' formula says; fill modes; exact identity). */
#include <stdint.h>
#include <stdlib.h>

#include "common/rng.h"
#include "image/image.h"
#include "test.h"

#define N 101   /* odd: the Keras centre (N/2 - 0.5 = 50) is a pixel centre */

static const aug_params_t model2 = {1, 40, 0.2, 0.2, 0.2, 0.8, 1.2, 1, 0, FILL_NEAREST, 0};

static img_t make_img(int w, int h) {
    img_t im = {w, h, calloc((size_t)w * h * 3, 1), (size_t)w * h * 3};
    return im;
}

/* A soft spot (Gaussian, sigma 1.5 px) centred on (row, col), in all three channels. */
static img_t spot(int row, int col) {
    img_t im = make_img(N, N);
    for (int r = 0; r < N; r++)
        for (int c = 0; c < N; c++) {
            double d2 = (r - row) * (r - row) + (c - col) * (c - col);
            uint8_t v = (uint8_t)lrint(255.0 * exp(-d2 / (2 * 1.5 * 1.5)));
            for (int k = 0; k < 3; k++) im.pixels[((size_t)r * N + c) * 3 + k] = v;
        }
    return im;
}

/* Intensity centroid (channel 0) of an N x N output. */
static void centroid(const uint8_t *px, double *row, double *col) {
    double s = 0, sr = 0, sc = 0;
    for (int r = 0; r < N; r++)
        for (int c = 0; c < N; c++) {
            double v = px[((size_t)r * N + c) * 3];
            s += v, sr += v * r, sc += v * c;
        }
    *row = s > 0 ? sr / s : -1;
    *col = s > 0 ? sc / s : -1;
}

static img_xform_t ident(void) {
    img_xform_t t = {0};
    t.zx = t.zy = 1;
    return t;
}

/* Warp a spot at (row, col) with t and check where the centroid lands (within 0.05 px: a shear of
 * 0.2 degree, 0.1 px here, must show). */
static void expect_spot_moves(img_xform_t t, int row, int col, double want_row, double want_col) {
    img_t im = spot(row, col);
    uint8_t *out = malloc((size_t)N * N * 3);
    img_warp(&im, N, N, &t, FILL_CONSTANT, 0, out);
    double r, c;
    centroid(out, &r, &c);
    EXPECT_NEAR(r, want_row, 0.05, 0);
    EXPECT_NEAR(c, want_col, 0.05, 0);
    free(out);
    img_free(&im);
}

TEST(identity_same_size_is_exact) {
    img_t im = make_img(37, 23);
    rng_t r;
    rng_init(&r, 5, 0);
    for (size_t i = 0; i < im.cap; i++) im.pixels[i] = (uint8_t)rng_u32(&r);
    uint8_t *out = malloc(im.cap);
    img_xform_t t = ident();
    for (int fill = 0; fill < 4; fill++) {
        memset(out, 0, im.cap);
        img_warp(&im, 23, 37, &t, (fill_mode_t)fill, 0, out);
        EXPECT(memcmp(out, im.pixels, im.cap) == 0);
    }
    memset(out, 0, im.cap);
    img_warp(&im, 23, 37, NULL, FILL_NEAREST, 0, out);
    EXPECT(memcmp(out, im.pixels, im.cap) == 0);
    aug_params_t off = model2;
    off.enabled = 0;
    img_xform_draw(&off, 23, 37, 99, &t);
    EXPECT(t.theta_deg == 0 && t.tx == 0 && t.ty == 0 && t.shear_deg == 0 && t.zx == 1 && t.zy == 1);
    EXPECT(!t.flip_h && !t.flip_v);
    free(out);
    img_free(&im);
}

/* Keras: in = R (out - o) + o with R = [[cos, -sin], [sin, cos]] on (row, col). For theta = 90:
 * in_row = o - (out_col - o), in_col = out_row, so a spot 30 rows above the centre, at (20, 50),
 * is read by output (50, 80). */
TEST(rotation_90) {
    img_xform_t t = ident();
    t.theta_deg = 90;
    expect_spot_moves(t, 20, 50, 50, 80);
    t.theta_deg = -90;
    expect_spot_moves(t, 20, 50, 50, 20);
    t.theta_deg = 180;
    expect_spot_moves(t, 20, 60, 80, 40);
}

/* Shift: in = out + (tx, ty): content moves by (-tx, -ty). */
TEST(shift) {
    img_xform_t t = ident();
    t.tx = 10, t.ty = -7;
    expect_spot_moves(t, 20, 50, 10, 57);
    t.tx = -15.5, t.ty = 0;
    expect_spot_moves(t, 40, 40, 55.5, 40);
}

/* Zoom: in = Z (out - o) + o; a factor above 1 zooms out (content shrinks towards the centre). */
TEST(zoom) {
    img_xform_t t = ident();
    t.zx = 2, t.zy = 2;
    expect_spot_moves(t, 20, 90, 35, 70);
    t.zx = 2, t.zy = 1;   /* rows only */
    expect_spot_moves(t, 20, 90, 35, 90);
    t.zx = 0.5, t.zy = 0.5;   /* zoom in: content grows away from the centre */
    expect_spot_moves(t, 40, 45, 30, 40);
}

/* Shear s: in_row = (out_row - o) - sin(s) (out_col - o) + o, in_col = cos(s) (out_col - o) + o.
 * A spot at (50, 80) (30 right of the centre) lands at out_col = o + 30 / cos(s),
 * out_row = o + sin(s) * 30 / cos(s). */
TEST(shear) {
    img_xform_t t = ident();
    t.shear_deg = 30;
    double dc = 30 / cos(M_PI / 6);
    expect_spot_moves(t, 50, 80, 50 + sin(M_PI / 6) * dc, 50 + dc);
    t.shear_deg = 0.2;   /* Keras' shear_range is in degrees: 0.2 degree moves it by 0.1 px */
    expect_spot_moves(t, 50, 80, 50.1, 80);
}

/* Flips come after the transform: output (r, c) reads the transformed image at (r, W-1-c). */
TEST(flips) {
    img_xform_t t = ident();
    t.flip_h = 1;
    expect_spot_moves(t, 20, 30, 20, 70);
    t.flip_h = 0, t.flip_v = 1;
    expect_spot_moves(t, 20, 30, 80, 30);
    t.flip_h = 1, t.tx = 10;   /* shift first, then flip */
    expect_spot_moves(t, 20, 30, 90, 70);
}

/* A big column shift reads past the right edge: each fill mode fills it its own way. */
TEST(fill_modes_after_big_shift) {
    const int w = 40, h = 30, s = 25;
    img_t im = make_img(w, h);
    rng_t r;
    rng_init(&r, 9, 0);
    for (size_t i = 0; i < im.cap; i++) im.pixels[i] = (uint8_t)rng_u32(&r);
    uint8_t *out = malloc(im.cap);
    img_xform_t t = ident();
    t.ty = s;   /* output column c reads source column c + 25 */
#define SRC(y, x, k) im.pixels[((size_t)(y) * w + (x)) * 3 + (k)]
#define OUT(y, x, k) out[((size_t)(y) * w + (x)) * 3 + (k)]
    int bad[4] = {0};
    img_warp(&im, h, w, &t, FILL_NEAREST, 0, out);   /* edge column replicated */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++) bad[0] += OUT(y, x, k) != SRC(y, x + s < w ? x + s : w - 1, k);
    img_warp(&im, h, w, &t, FILL_CONSTANT, 77, out);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++) bad[1] += OUT(y, x, k) != (x + s < w ? SRC(y, x + s, k) : 77);
    img_warp(&im, h, w, &t, FILL_REFLECT, 0, out);   /* ... d c b a | a b c d | d c b a ... */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++) bad[2] += OUT(y, x, k) != SRC(y, x + s < w ? x + s : 2 * w - 1 - (x + s), k);
    img_warp(&im, h, w, &t, FILL_WRAP, 0, out);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++) bad[3] += OUT(y, x, k) != SRC(y, (x + s) % w, k);
#undef SRC
#undef OUT
    EXPECT(bad[0] == 0);
    EXPECT(bad[1] == 0);
    EXPECT(bad[2] == 0);
    EXPECT(bad[3] == 0);
    free(out);
    img_free(&im);
}

/* Model 2's settings: no corner is left black with fill 'nearest' (the tutorial's look). */
TEST(nearest_fill_has_no_black_corners) {
    img_t im = make_img(200, 160);
    memset(im.pixels, 200, im.cap);
    uint8_t *out = malloc(150 * 150 * 3);
    int dark = 0;
    for (uint64_t seed = 0; seed < 50; seed++) {
        img_xform_t t;
        img_xform_draw(&model2, 150, 150, seed, &t);
        img_warp(&im, 150, 150, &t, FILL_NEAREST, 0, out);
        for (int i = 0; i < 150 * 150 * 3; i++) dark += out[i] != 200;
    }
    EXPECT(dark == 0);
    free(out);
    img_free(&im);
}

/* The resize is not aspect-preserving, pixel centres aligned: 300x200 halves -> 150x150 halves. */
TEST(resize_halves) {
    img_t im = make_img(300, 200);
    for (int y = 0; y < 200; y++)
        for (int x = 0; x < 300; x++) memset(im.pixels + ((size_t)y * 300 + x) * 3, x < 150 ? 10 : 240, 3);
    uint8_t *out = malloc(150 * 150 * 3);
    img_warp(&im, 150, 150, NULL, FILL_NEAREST, 0, out);
    int bad = 0;
    for (int y = 0; y < 150; y++)
        for (int x = 0; x < 150; x++) bad += out[((size_t)y * 150 + x) * 3 + 1] != (x < 75 ? 10 : 240);
    EXPECT(bad == 0);
    free(out);
    img_free(&im);
}

/* Small and thin sources, extreme transforms, every fill mode: a one-colour source gives that colour
 * everywhere (no tap read outside the image; with PAWPIPE_ASAN the sanitizer checks that too). */
TEST(small_sources_extreme_transforms) {
    static const int sizes[][2] = {{1, 1}, {3, 1}, {1, 3}, {2, 2}, {7, 2}, {40, 33}};
    uint8_t *out = malloc(64 * 48 * 3);
    rng_t r;
    rng_init(&r, 11, 0);
    int bad = 0;
    for (int k = 0; k < 6; k++) {
        img_t im = make_img(sizes[k][0], sizes[k][1]);
        memset(im.pixels, 123, im.cap);
        for (int i = 0; i < 40; i++) {
            img_xform_t t = {rng_uniform(&r, -360, 360), rng_uniform(&r, -100, 100), rng_uniform(&r, -100, 100),
                             rng_uniform(&r, -60, 60), exp(rng_uniform(&r, -4, 4)), exp(rng_uniform(&r, -4, 4)),
                             (int)(rng_u32(&r) & 1), (int)(rng_u32(&r) & 1)};
            for (int fill = 0; fill < 4; fill++) {
                img_warp(&im, 48, 64, &t, (fill_mode_t)fill, 123, out);
                for (int j = 0; j < 64 * 48 * 3; j++) bad += out[j] != 123;
            }
        }
        img_free(&im);
    }
    EXPECT(bad == 0);
    free(out);
}

TEST(distributions) {
    const int n = 20000;
    double s_th = 0, s_th2 = 0, s_zx = 0, s_zy = 0, s_zxy = 0, s_zx2 = 0, s_zy2 = 0;
    int hist[8] = {0}, flips = 0, vflips = 0, out_of_range = 0;
    for (int i = 0; i < n; i++) {
        img_xform_t t;
        img_xform_draw(&model2, 150, 150, rng_derive(42, (uint64_t)i), &t);
        out_of_range += fabs(t.theta_deg) > 40 || fabs(t.tx) > 30 || fabs(t.ty) > 30 || fabs(t.shear_deg) > 0.2 ||
                        t.zx < 0.8 || t.zx > 1.2 || t.zy < 0.8 || t.zy > 1.2;
        hist[(int)((t.theta_deg + 40) / 10) & 7]++;
        s_th += t.theta_deg, s_th2 += t.theta_deg * t.theta_deg;
        s_zx += t.zx, s_zy += t.zy, s_zxy += t.zx * t.zy, s_zx2 += t.zx * t.zx, s_zy2 += t.zy * t.zy;
        flips += t.flip_h;
        vflips += t.flip_v;
    }
    EXPECT(out_of_range == 0);
    for (int b = 0; b < 8; b++) EXPECT_NEAR(hist[b], n / 8.0, 0.06 * n / 8, 0);   /* uniform in [-40, 40] */
    EXPECT_NEAR(s_th / n, 0, 0.6, 0);
    EXPECT_NEAR(s_th2 / n, 1600.0 / 3, 15, 0);
    double mx = s_zx / n, my = s_zy / n;
    double cov = s_zxy / n - mx * my, corr = cov / sqrt((s_zx2 / n - mx * mx) * (s_zy2 / n - my * my));
    EXPECT_NEAR(mx, 1.0, 0.003, 0);
    EXPECT_NEAR(my, 1.0, 0.003, 0);
    EXPECT_NEAR(corr, 0, 0.03, 0);   /* zx, zy independent */
    EXPECT_NEAR((double)flips / n, 0.5, 0.015, 0);
    EXPECT(vflips == 0);   /* vertical_flip off */

    /* Shifts scale with the size they are a fraction of: rows with h, columns with w. */
    double max_tx = 0, max_ty = 0;
    for (int i = 0; i < 2000; i++) {
        img_xform_t t;
        img_xform_draw(&model2, 100, 300, (uint64_t)i, &t);
        max_tx = fmax(max_tx, fabs(t.tx)), max_ty = fmax(max_ty, fabs(t.ty));
    }
    EXPECT(max_tx <= 20 && max_tx > 19);
    EXPECT(max_ty <= 60 && max_ty > 57);
}

TEST(deterministic_per_seed) {
    img_t im = make_img(211, 157);
    rng_t r;
    rng_init(&r, 3, 0);
    for (size_t i = 0; i < im.cap; i++) im.pixels[i] = (uint8_t)rng_u32(&r);
    uint8_t *a = malloc(150 * 150 * 3), *b = malloc(150 * 150 * 3);
    img_xform_t ta, tb;
    img_xform_draw(&model2, 150, 150, 1234, &ta);
    img_xform_draw(&model2, 150, 150, 1234, &tb);
    EXPECT(memcmp(&ta, &tb, sizeof ta) == 0);
    img_warp(&im, 150, 150, &ta, FILL_NEAREST, 0, a);
    img_warp(&im, 150, 150, &tb, FILL_NEAREST, 0, b);
    EXPECT(memcmp(a, b, 150 * 150 * 3) == 0);
    img_xform_draw(&model2, 150, 150, 1235, &tb);
    EXPECT(ta.theta_deg != tb.theta_deg);
    img_warp(&im, 150, 150, &tb, FILL_NEAREST, 0, b);
    EXPECT(memcmp(a, b, 150 * 150 * 3) != 0);
    free(a);
    free(b);
    img_free(&im);
}

int main(void) {
    RUN(identity_same_size_is_exact);
    RUN(rotation_90);
    RUN(shift);
    RUN(zoom);
    RUN(shear);
    RUN(flips);
    RUN(fill_modes_after_big_shift);
    RUN(nearest_fill_has_no_black_corners);
    RUN(resize_halves);
    RUN(small_sources_extreme_transforms);
    RUN(distributions);
    RUN(deterministic_per_seed);
    return TEST_SUMMARY();
}
