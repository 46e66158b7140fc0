/* test_decode.c: decoding good and bad inputs, made at run time with libvips (shrink-on-load sizes,
 * grey, CMYK, alpha, 16-bit, a PNG named .jpg, 1x1, truncated, corrupt, not an image, empty, a
 * decompression bomb), plus the decoded-image cache and PNG/grid writing. Argument: a scratch folder. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <vips/vips.h>

#include "common/check.h"
#include "image/cache.h"
#include "image/grid.h"
#include "image/image.h"
#include "test.h"

static const char *dir;
static img_decode_opts_t opts;   /* 150x150 target, keep 2x, 100 M pixels */

static char *path_of(const char *name) {
    static char p[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static int write_file(const char *name, const void *b, size_t n) {
    FILE *f = fopen(path_of(name), "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(b, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* An RGB test card: red rises to the right, green downwards, blue constant. */
static uint8_t card(int x, int y, int w, int h, int k) {
    return (uint8_t)(k == 0 ? x * 255 / (w > 1 ? w - 1 : 1) : k == 1 ? y * 255 / (h > 1 ? h - 1 : 1) : 90);
}

static VipsImage *card_image(int w, int h) {
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++) px[((size_t)y * w + x) * 3 + k] = card(x, y, w, h, k);
    VipsImage *im = vips_image_new_from_memory_copy(px, (size_t)w * h * 3, w, h, 3, VIPS_FORMAT_UCHAR);
    free(px);
    return im;
}

/* Save with a libvips saver ("jpegsave_buffer", "pngsave_buffer") and unref the image. */
static void *save(VipsImage *im, int png, size_t *len) {
    void *buf = NULL;
    int rc = png ? vips_pngsave_buffer(im, &buf, len, NULL) : vips_jpegsave_buffer(im, &buf, len, "Q", 95, NULL);
    g_object_unref(im);
    if (rc != 0) fprintf(stderr, "  saving: %s\n", vips_error_buffer());
    return rc == 0 ? buf : NULL;
}

/* Save (see save()), then decode the bytes with the test's options. 0, or -1. */
static int decode_saved(VipsImage *vim, int png, img_t *out) {
    size_t n;
    void *b = save(vim, png, &n);
    if (!b) return -1;
    int rc = img_decode(b, n, &opts, out);
    g_free(b);
    if (rc != 0) fprintf(stderr, "  decoding: %s\n", err_msg());
    return rc;
}

static double mean_abs_diff_to_card(const img_t *im) {
    double s = 0;
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++)
            for (int k = 0; k < 3; k++)
                s += abs(im->pixels[((size_t)y * im->width + x) * 3 + k] - card(x, y, im->width, im->height, k));
    return s / ((double)im->width * im->height * 3);
}

static int refused(const void *b, size_t n, const char *reason) {
    img_t im = {0};
    err_clear();
    int rc = img_decode(b, n, &opts, &im);
    img_free(&im);
    if (rc == 0) return 0;
    if (!strstr(err_msg(), reason)) {
        fprintf(stderr, "  reason \"%s\" does not mention \"%s\"\n", err_msg(), reason);
        return 0;
    }
    return 1;
}

TEST(jpeg_shrinks_on_load_to_at_least_twice_the_target) {
    static const int sizes[][4] = {   /* source w, h -> decoded w, h */
        {640, 480, 640, 480},         /* shrinking by 2 would go under 300: kept whole */
        {1280, 960, 640, 480},        /* libjpeg 1/2 */
        {2600, 2000, 650, 500},       /* 1/4 (1/8 would give 250 rows) */
        {5000, 2400, 625, 300},       /* 1/8 */
    };
    img_t im = {0};
    for (int i = 0; i < 4; i++) {
        REQUIRE(decode_saved(card_image(sizes[i][0], sizes[i][1]), 0, &im) == 0);
        EXPECT(im.width == sizes[i][2] && im.height == sizes[i][3]);
        EXPECT(mean_abs_diff_to_card(&im) < 3.0);
    }
    img_free(&im);
}

TEST(png_block_shrink_and_buffer_reuse) {
    img_t im = {0};
    REQUIRE(decode_saved(card_image(1000, 1000), 1, &im) == 0);
    EXPECT(im.width == 333 && im.height == 333);   /* 1000 / 3: both sides stay >= 300 */
    EXPECT(mean_abs_diff_to_card(&im) < 2.0);
    uint8_t *first = im.pixels;
    size_t cap = im.cap;
    REQUIRE(decode_saved(card_image(1, 1), 1, &im) == 0);   /* a 1x1 image decodes to 1x1 */
    EXPECT(im.width == 1 && im.height == 1);
    EXPECT(im.pixels == first && im.cap == cap);   /* the buffer is reused, never shrunk */
    img_free(&im);
}

TEST(empty_input) {
    EXPECT(refused("", 0, "empty"));
    REQUIRE(write_file("empty.jpg", "", 0) == 0);
    img_t im = {0};
    EXPECT(img_decode_file(path_of("empty.jpg"), &opts, &im) == -1);
    EXPECT(strstr(err_msg(), "empty") != NULL);
    EXPECT(img_decode_file(path_of("does-not-exist.jpg"), &opts, &im) == -1);
    img_free(&im);
}

TEST(truncated_and_corrupt_jpeg) {
    size_t n;
    uint8_t *b = save(card_image(400, 300), 0, &n);
    REQUIRE(b != NULL);
    EXPECT(refused(b, n * 6 / 10, "Premature end"));   /* an error, not a half-grey picture */
    EXPECT(refused(b, n - 2, "Premature end"));        /* only the end-of-image marker missing */
    EXPECT(refused(b, 200, ""));                        /* headers only */
    uint8_t *c = malloc(n);
    memcpy(c, b, n);
    for (size_t i = 20; i < 400; i++) c[i] = (uint8_t)(i * 91);   /* tables destroyed */
    EXPECT(refused(c, n, ""));
    memcpy(c, b, n);
    c[0] = 0x00;   /* the SOI marker gone: no decoder claims it */
    EXPECT(refused(c, n, "not an image"));
    free(c);
    g_free(b);
}

TEST(not_an_image) {
    const char *text = "name,label\ncat.1.jpg,0\n";
    EXPECT(refused(text, strlen(text), "not an image"));
    uint8_t junk[4096];
    for (int i = 0; i < 4096; i++) junk[i] = (uint8_t)(i * 2654435761u >> 13);
    EXPECT(refused(junk, sizeof junk, "not an image"));
    REQUIRE(write_file("notes.jpg", text, strlen(text)) == 0);
    img_t im = {0};
    EXPECT(img_decode_file(path_of("notes.jpg"), &opts, &im) == -1);
    EXPECT(strstr(err_msg(), "notes.jpg") != NULL && strstr(err_msg(), "not an image") != NULL);
    img_free(&im);
}

TEST(grey_jpeg_becomes_rgb) {
    VipsImage *rgb = card_image(320, 320), *grey = NULL;
    REQUIRE(vips_extract_band(rgb, &grey, 0, NULL) == 0);   /* the red ramp as a grey picture */
    g_object_unref(rgb);
    grey->Type = VIPS_INTERPRETATION_B_W;
    img_t im = {0};
    REQUIRE(decode_saved(grey, 0, &im) == 0);
    EXPECT(im.width == 320 && im.height == 320);
    int bad = 0;
    for (int i = 0; i < im.width * im.height; i++) {
        const uint8_t *p = im.pixels + (size_t)i * 3;
        bad += p[0] != p[1] || p[1] != p[2] || abs(p[0] - card(i % 320, 0, 320, 320, 0)) > 4;
    }
    EXPECT(bad == 0);
    img_free(&im);
}

TEST(cmyk_jpeg_becomes_srgb) {
    uint8_t px[3] = {200, 60, 40};
    VipsImage *one = vips_image_new_from_memory_copy(px, 3, 1, 1, 3, VIPS_FORMAT_UCHAR), *big = NULL, *cmyk = NULL;
    REQUIRE(one && vips_embed(one, &big, 0, 0, 64, 64, "extend", VIPS_EXTEND_COPY, NULL) == 0);
    g_object_unref(one);
    big->Type = VIPS_INTERPRETATION_sRGB;
    REQUIRE(vips_colourspace(big, &cmyk, VIPS_INTERPRETATION_CMYK, NULL) == 0);
    g_object_unref(big);
    EXPECT(cmyk->Bands == 4);
    img_t im = {0};
    REQUIRE(decode_saved(cmyk, 0, &im) == 0);
    EXPECT(im.width == 64 && im.height == 64);
    const uint8_t *p = im.pixels + (32 * 64 + 32) * 3;   /* through a CMYK profile and back */
    EXPECT(abs(p[0] - 200) < 30 && abs(p[1] - 60) < 30 && abs(p[2] - 40) < 30);
    img_free(&im);
}

TEST(rgba_png_flattened_on_white) {
    uint8_t px[4 * 3 * 4] = {
        0, 0, 255, 0,   0, 0, 255, 255,   0, 0, 255, 128,   /* blue: transparent, opaque, half */
        9, 9, 9, 0,     200, 100, 50, 255, 0, 0, 0, 128,
        0, 0, 0, 0,     0, 0, 0, 0,       0, 0, 0, 0,
        0, 0, 0, 0,     0, 0, 0, 0,       0, 0, 0, 0,
    };
    VipsImage *im4 = vips_image_new_from_memory_copy(px, sizeof px, 3, 4, 4, VIPS_FORMAT_UCHAR);
    REQUIRE(im4 != NULL);
    im4->Type = VIPS_INTERPRETATION_sRGB;
    img_t im = {0};
    REQUIRE(decode_saved(im4, 1, &im) == 0);
    REQUIRE(im.width == 3 && im.height == 4);
    const uint8_t *p = im.pixels;
    EXPECT(p[0] == 255 && p[1] == 255 && p[2] == 255);            /* transparent -> white */
    EXPECT(p[3] == 0 && p[4] == 0 && p[5] == 255);                /* opaque stays */
    EXPECT(abs(p[6] - 127) <= 1 && abs(p[7] - 127) <= 1 && p[8] == 255);   /* half on white */
    EXPECT(p[12] == 200 && p[13] == 100 && p[14] == 50);
    img_free(&im);
}

TEST(sixteen_bit_png) {
    uint16_t px[2 * 2 * 3] = {0x8080, 0x8080, 0x8080, 0xffff, 0, 0, 0, 0xffff, 0, 0x4040, 0x4040, 0xc0c0};
    VipsImage *im16 = vips_image_new_from_memory_copy(px, sizeof px, 2, 2, 3, VIPS_FORMAT_USHORT);
    REQUIRE(im16 != NULL);
    im16->Type = VIPS_INTERPRETATION_RGB16;
    img_t im = {0};
    REQUIRE(decode_saved(im16, 1, &im) == 0);
    REQUIRE(im.width == 2 && im.height == 2);
    static const uint8_t want[12] = {128, 128, 128, 255, 0, 0, 0, 255, 0, 64, 64, 192};
    for (int i = 0; i < 12; i++) EXPECT(abs(im.pixels[i] - want[i]) <= 1);

    uint16_t g[4] = {0, 0x4000, 0x8000, 0xffff};   /* 16-bit grey with alpha-free 1 band */
    VipsImage *g16 = vips_image_new_from_memory_copy(g, sizeof g, 2, 2, 1, VIPS_FORMAT_USHORT);
    REQUIRE(g16 != NULL);
    g16->Type = VIPS_INTERPRETATION_GREY16;
    REQUIRE(decode_saved(g16, 1, &im) == 0);
    EXPECT(im.pixels[3 * 3] == 255 && im.pixels[3 * 3 + 1] == 255 && im.pixels[2 * 3 + 2] == 128);
    img_free(&im);
}

TEST(png_named_jpg) {
    size_t n;
    void *b = save(card_image(200, 100), 1, &n);
    REQUIRE(b != NULL);
    REQUIRE(write_file("really-a-png.jpg", b, n) == 0);
    g_free(b);
    img_t im = {0};
    REQUIRE(img_decode_file(path_of("really-a-png.jpg"), &opts, &im) == 0);
    EXPECT(im.width == 200 && im.height == 100);
    EXPECT(mean_abs_diff_to_card(&im) == 0);
    img_free(&im);
}

/* A 20000x20000 PNG of one colour is 200 KB; decoding it would take seconds and 1.2 GB. The header
 * check must refuse it first. */
/* Only JPEG and PNG are decoded: other formats libvips knows are refused by content, whatever the name. */
TEST(other_formats_refused) {
    static const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
                                  '!', 0xf9, 4, 1, 0, 0, 0, 0, ',', 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 'D', 1, 0, ';'};
    EXPECT(refused(gif, sizeof gif, "not a JPEG or PNG image (libvips reads it as Nsgif)"));
    void *b = NULL;
    size_t n = 0;
    VipsImage *card = card_image(40, 30);
    if (vips_webpsave_buffer(card, &b, &n, NULL) == 0) {   /* where libvips writes WebP */
        EXPECT(refused(b, n, "only JPEG and PNG are decoded"));
        g_free(b);
    }
    vips_error_clear();
    g_object_unref(card);
}

TEST(decompression_bomb_refused_from_the_header) {
    VipsImage *black = NULL, *u8 = NULL;
    REQUIRE(vips_black(&black, 20000, 20000, NULL) == 0);
    REQUIRE(vips_cast(black, &u8, VIPS_FORMAT_UCHAR, NULL) == 0);
    g_object_unref(black);
    void *b = NULL;
    size_t n = 0;
    int rc = vips_pngsave_buffer(u8, &b, &n, "bitdepth", 1, "compression", 1, NULL);
    g_object_unref(u8);
    REQUIRE(rc == 0);
    EXPECT(n < 1000000);
    EXPECT(refused(b, n, "20000x20000 is over the 100000000-pixel limit"));   /* from the header alone */
    g_free(b);

    img_decode_opts_t small = opts;   /* the limit applies to any image, at exactly its value */
    small.max_pixels = 1199;
    b = save(card_image(40, 30), 0, &n);
    REQUIRE(b != NULL);
    img_t im = {0};
    EXPECT(img_decode(b, n, &small, &im) == -1);
    EXPECT(strstr(err_msg(), "40x30 is over the 1199-pixel limit") != NULL);
    small.max_pixels = 1200;
    EXPECT(img_decode(b, n, &small, &im) == 0);
    g_free(b);
    img_free(&im);
}

TEST(cache_limit_and_stats) {
    img_t a = {10, 10, calloc(300, 1), 300}, b = {20, 10, calloc(600, 1), 600};
    memset(a.pixels, 7, 300);
    memset(b.pixels, 9, 600);
    img_cache_t *c = img_cache_new(1000);
    REQUIRE(c != NULL);
    EXPECT(img_cache_get(c, 1) == NULL);
    EXPECT(img_cache_put(c, 1, &a) == 0);
    EXPECT(img_cache_put(c, 2, &b) == 0);            /* 900 bytes */
    EXPECT(img_cache_put(c, 3, &a) == 1);            /* would pass 1000: refused, nothing evicted */
    EXPECT(img_cache_put(c, 1, &a) == 0);            /* already in */
    a.pixels[0] = 99;                                  /* the cache holds a copy */
    const img_t *g = img_cache_get(c, 1);
    REQUIRE(g != NULL);
    EXPECT(g->width == 10 && g->height == 10 && g->pixels[0] == 7);
    EXPECT(img_cache_get(c, 2) != NULL && img_cache_get(c, 2)->pixels[599] == 9);
    EXPECT(img_cache_get(c, 3) == NULL);
    img_cache_stats_t st;
    img_cache_stats(c, &st);
    EXPECT(st.hits == 3 && st.misses == 2 && st.refused == 1 && st.entries == 2 && st.bytes == 900);
    img_cache_destroy(&c);
    EXPECT(c == NULL);

    /* Many entries: the table grows, earlier pointers stay valid. */
    c = img_cache_new(1u << 30);
    REQUIRE(c != NULL);
    img_t one = {1, 1, (uint8_t[3]){1, 2, 3}, 3};
    for (uint64_t k = 0; k < 5000; k++) {
        one.pixels[0] = (uint8_t)k;
        REQUIRE(img_cache_put(c, k * 0x10000, &one) == 0);
    }
    int bad = 0;
    for (uint64_t k = 0; k < 5000; k++) {
        const img_t *e = img_cache_get(c, k * 0x10000);
        bad += !e || e->pixels[0] != (uint8_t)k;
    }
    EXPECT(bad == 0);
    img_cache_destroy(&c);
    c = img_cache_new(0);   /* a zero limit caches nothing */
    REQUIRE(c != NULL);
    EXPECT(img_cache_put(c, 1, &one) == 1);
    img_cache_destroy(&c);
    free(a.pixels);
    free(b.pixels);
}

TEST(png_and_grid_round_trip) {
    uint8_t px[4 * 3 * 3];
    for (int i = 0; i < 36; i++) px[i] = (uint8_t)(i * 7);
    REQUIRE(img_save_png(path_of("small.png"), px, 4, 3) == 0);
    img_t im = {0};
    REQUIRE(img_decode_file(path_of("small.png"), &opts, &im) == 0);
    EXPECT(im.width == 4 && im.height == 3 && memcmp(im.pixels, px, sizeof px) == 0);

    grid_t *g = grid_new(3, 2, 20, 10, 2);
    REQUIRE(g != NULL);
    uint8_t tile[20 * 10 * 3];
    memset(tile, 0, sizeof tile);
    for (int i = 0; i < 200; i++) tile[i * 3] = 250;   /* red */
    EXPECT(grid_put(g, 4, tile, "cat") == 0);
    EXPECT(grid_put(g, 6, tile, NULL) == -1);   /* outside the grid */
    float v[2] = {0, 255};
    EXPECT(grid_put_gray_viridis(g, 0, v, 2, 1, NULL) == 0);
    EXPECT(grid_set_title(g, "title") == 0);
    REQUIRE(grid_save(g, path_of("grid.png")) == 0);
    grid_destroy(&g);
    EXPECT(g == NULL);
    REQUIRE(img_decode_file(path_of("grid.png"), &opts, &im) == 0);
    /* width 2 + 3 * (20 + 2); height title 22 + 2 + 2 * (10 + label 14 + 2) */
    EXPECT(im.width == 68 && im.height == 76);
    const uint8_t *red = im.pixels + ((size_t)(22 + 2 + 26 + 5) * 68 + 2 + 22 + 10) * 3;   /* tile 4 */
    EXPECT(red[0] == 250 && red[1] == 0 && red[2] == 0);
    const uint8_t *lo = im.pixels + ((size_t)(24 + 5) * 68 + 2 + 2) * 3, *hi = lo + 15 * 3;   /* tile 0 */
    EXPECT(lo[0] == 0x44 && lo[1] == 0x01 && lo[2] == 0x54);   /* viridis ends */
    EXPECT(hi[0] == 0xfd && hi[1] == 0xe7 && hi[2] == 0x25);
    img_free(&im);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_decode SCRATCH_DIR\n");
        return 2;
    }
    dir = argv[1];
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0 || img_init(argv[0]) != 0) {
        fprintf(stderr, "setup failed: %s\n", err_msg());
        return 1;
    }
    img_decode_opts_default(&opts, 150, 150);
    RUN(jpeg_shrinks_on_load_to_at_least_twice_the_target);
    RUN(png_block_shrink_and_buffer_reuse);
    RUN(empty_input);
    RUN(truncated_and_corrupt_jpeg);
    RUN(not_an_image);
    RUN(grey_jpeg_becomes_rgb);
    RUN(cmyk_jpeg_becomes_srgb);
    RUN(rgba_png_flattened_on_white);
    RUN(sixteen_bit_png);
    RUN(png_named_jpg);
    RUN(other_formats_refused);
    RUN(decompression_bomb_refused_from_the_header);
    RUN(cache_limit_and_stats);
    RUN(png_and_grid_round_trip);
    return TEST_SUMMARY();
}
