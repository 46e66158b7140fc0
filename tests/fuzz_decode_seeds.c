/* fuzz_decode_seeds.c: writes the seed corpus of tests/fuzz_decode.c, made at build/test time with
 * libvips (no binary image is kept in the repository): `fuzz_decode_seeds DIR`.
 *
 * Valid small images of every kind img_decode converts (JPEG baseline and progressive, RGB, grey,
 * CMYK; PNG RGB, grey, grey+alpha, RGBA, palette, 16-bit, interlaced; 1x1; TIFF, GIF, WebP, animated
 * GIF and WebP, HEIF/AVIF where libvips can write them), images big enough to be shrunk on load, and
 * broken ones: truncated, corrupt in the middle, header only, a header claiming 60000x60000 (or just
 * under the augmenter's pixel limit) over a few bytes of data, progressive JPEGs of 64 and 127 scans
 * (tests/craft_jpeg.c; img_decode refuses over 100), PNG bytes named .jpg and JPEG bytes named .png
 * (img_decode sniffs the bytes; names only make the corpus readable), text, an empty file.
 * A seed that libvips cannot write on this machine (no HEIF encoder...) is left out with a note. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "craft_jpeg.h"

static const char *g_dir;
static int g_written, g_failed;

static void write_seed(const char *name, const void *bytes, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(bytes, 1, len, f) != len) || fclose(f) != 0) {
        fprintf(stderr, "fuzz_decode_seeds: cannot write %s\n", path);
        g_failed = 1;
        return;
    }
    g_written++;
}

/* A smooth w x h test card of `bands` 8-bit bands (alpha, when there is a 2nd or 4th band, ramps
 * from transparent to opaque), interpreted as `interp`. Smooth, so that JPEG and PNG stay small. */
static VipsImage *card(int w, int h, int bands, VipsInterpretation interp) {
    size_t n = (size_t)w * h * bands;
    uint8_t *px = malloc(n);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int b = 0; b < bands; b++) {
                int v = b == 0 ? x * 255 / (w > 1 ? w - 1 : 1) : b == 1 ? y * 255 / (h > 1 ? h - 1 : 1)
                                                                        : (x + y) * 127 / (w + h) + 60 * b;
                if ((bands == 2 || bands == 4) && b == bands - 1) v = (x + y) * 4 & 255;   /* alpha */
                px[((size_t)y * w + x) * bands + b] = (uint8_t)v;
            }
    VipsImage *im = vips_image_new_from_memory_copy(px, n, w, h, bands, VIPS_FORMAT_UCHAR);
    free(px);
    if (im) im->Type = interp;
    return im;
}

/* Encode im with the saver libvips picks for `suffix` ("[options]" allowed, e.g. ".png[bitdepth=16]")
 * and unref im. NULL (with a note) when this libvips cannot. */
static void *encode(VipsImage *im, const char *suffix, size_t *len) {
    void *buf = NULL;
    if (!im || vips_image_write_to_buffer(im, suffix, &buf, len, NULL) != 0) {
        fprintf(stderr, "fuzz_decode_seeds: no %s seed: %s", suffix, vips_error_buffer());
        vips_error_clear();
        buf = NULL;
    }
    if (im) g_object_unref(im);
    return buf;
}

/* Encode and write one seed. */
static void seed(const char *name, VipsImage *im, const char *suffix) {
    size_t len = 0;
    void *b = encode(im, suffix, &len);
    if (!b) return;
    write_seed(name, b, len);
    g_free(b);
}

/* An animation of `pages` frames of w x h (frames stacked vertically with page-height set), RGB or RGBA. */
static VipsImage *animation(int w, int h, int pages, int bands) {
    VipsImage **frames = malloc(sizeof *frames * pages), *all = NULL;
    for (int i = 0; i < pages; i++) {
        VipsImage *c = card(w, h, bands, VIPS_INTERPRETATION_sRGB);
        frames[i] = NULL;
        vips_rot(c, &frames[i], i % 2 ? VIPS_ANGLE_D180 : VIPS_ANGLE_D0, NULL);   /* frames differ */
        g_object_unref(c);
    }
    if (vips_arrayjoin(frames, &all, pages, "across", 1, NULL) == 0) {
        vips_image_set_int(all, "page-height", h);
        int delays[16];
        for (int i = 0; i < pages && i < 16; i++) delays[i] = 40;
        vips_image_set_array_int(all, "delay", delays, pages < 16 ? pages : 16);
        vips_image_set_int(all, "loop", 0);
    }
    for (int i = 0; i < pages; i++)
        if (frames[i]) g_object_unref(frames[i]);
    free(frames);
    return all;
}

/* PNG's CRC-32 (ISO 3309), for chunks edited below. */
static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* A copy of a PNG whose IHDR claims w x h (the CRC made right again), the image data unchanged. */
static void seed_png_claiming(const char *name, const uint8_t *png, size_t len, uint32_t w, uint32_t h) {
    if (len < 33 || memcmp(png + 12, "IHDR", 4) != 0) return;
    uint8_t *c = malloc(len);
    memcpy(c, png, len);
    put_be32(c + 16, w);
    put_be32(c + 20, h);
    put_be32(c + 29, crc32_of(c + 12, 17));
    write_seed(name, c, len);
    free(c);
}

/* A copy of a JPEG whose first start-of-frame marker claims w x h (at most 65535), the scans unchanged. */
static void seed_jpeg_claiming(const char *name, const uint8_t *jpg, size_t len, unsigned w, unsigned h) {
    for (size_t i = 2; i + 9 < len; i++) {
        if (jpg[i] != 0xff || (jpg[i + 1] != 0xc0 && jpg[i + 1] != 0xc2)) continue;
        uint8_t *c = malloc(len);
        memcpy(c, jpg, len);
        c[i + 5] = (uint8_t)(h >> 8), c[i + 6] = (uint8_t)h;
        c[i + 7] = (uint8_t)(w >> 8), c[i + 8] = (uint8_t)w;
        write_seed(name, c, len);
        free(c);
        return;
    }
}

/* Broken variants of a valid encoding: truncated at 60% and 2 bytes short, header only (the first
 * `header` bytes), and corrupt in the middle (a run of bytes overwritten). */
static void seed_broken(const char *stem, const uint8_t *b, size_t len, size_t header) {
    char name[256];
    snprintf(name, sizeof name, "%s-truncated60", stem);
    write_seed(name, b, len * 6 / 10);
    snprintf(name, sizeof name, "%s-short2", stem);
    write_seed(name, b, len - 2);
    if (header < len) {
        snprintf(name, sizeof name, "%s-header-only", stem);
        write_seed(name, b, header);
    }
    uint8_t *c = malloc(len);
    memcpy(c, b, len);
    for (size_t i = len / 2; i < len / 2 + 24 && i < len; i++) c[i] = (uint8_t)(c[i] * 31 + 7);
    snprintf(name, sizeof name, "%s-corrupt-middle", stem);
    write_seed(name, c, len);
    free(c);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_decode_seeds DIR (an existing folder)\n");
        return 2;
    }
    g_dir = argv[1];
    if (VIPS_INIT(argv[0]) != 0) {
        fprintf(stderr, "fuzz_decode_seeds: libvips start-up: %s", vips_error_buffer());
        return 1;
    }
    const VipsInterpretation RGB = VIPS_INTERPRETATION_sRGB, GREY = VIPS_INTERPRETATION_B_W;

    /* Valid images, small. */
    seed("rgb.jpg", card(64, 48, 3, RGB), ".jpg[Q=80]");
    seed("rgb-progressive.jpg", card(64, 48, 3, RGB), ".jpg[Q=80,interlace=true]");
    seed("grey.jpg", card(40, 30, 1, GREY), ".jpg");
    seed("one-pixel.jpg", card(1, 1, 3, RGB), ".jpg");
    seed("rgb.png", card(64, 48, 3, RGB), ".png");
    seed("grey.png", card(40, 30, 1, GREY), ".png");
    seed("grey-alpha.png", card(40, 30, 2, GREY), ".png");
    seed("rgba.png", card(40, 30, 4, RGB), ".png");
    seed("palette.png", card(40, 30, 3, RGB), ".png[palette=true,colours=16]");
    seed("one-pixel.png", card(1, 1, 3, RGB), ".png");
    seed("one-bit.png", card(40, 30, 1, GREY), ".png[bitdepth=1]");
    seed("interlaced.png", card(40, 30, 3, RGB), ".png[interlace=true]");
    {   /* 16 bits a band: RGB and grey+alpha */
        VipsImage *c8 = card(24, 16, 3, RGB), *c16 = NULL;
        if (vips_cast(c8, &c16, VIPS_FORMAT_USHORT, NULL) == 0) c16->Type = VIPS_INTERPRETATION_RGB16;
        g_object_unref(c8);
        seed("rgb16.png", c16, ".png");
        c8 = card(24, 16, 2, GREY), c16 = NULL;
        if (vips_cast(c8, &c16, VIPS_FORMAT_USHORT, NULL) == 0) c16->Type = VIPS_INTERPRETATION_GREY16;
        g_object_unref(c8);
        seed("grey-alpha16.png", c16, ".png");
    }
    {   /* CMYK JPEG (Adobe marker, inverted by libjpeg's convention) */
        VipsImage *rgb = card(32, 24, 3, RGB), *cmyk = NULL;
        if (vips_colourspace(rgb, &cmyk, VIPS_INTERPRETATION_CMYK, NULL) != 0) cmyk = NULL;
        g_object_unref(rgb);
        seed("cmyk.jpg", cmyk, ".jpg[strip=true]");   /* without its 1 MB profile */
    }
    /* Other formats libvips trusts (img_init blocks the untrusted loaders: SVG, PDF, JPEG 2000, JXL,
     * ImageMagick...; their seeds show that they are refused). */
    seed("rgb.tif", card(32, 24, 3, RGB), ".tif");
    seed("tiled.tif", card(40, 40, 4, RGB), ".tif[tile=true,tile_width=16,tile_height=16,compression=deflate]");
    seed("rgb.gif", card(32, 24, 3, RGB), ".gif");
    seed("rgb.webp", card(32, 24, 3, RGB), ".webp");
    seed("rgba-lossless.webp", card(32, 24, 4, RGB), ".webp[lossless=true]");
    seed("animated.gif", animation(16, 12, 3, 3), ".gif");
    seed("animated.webp", animation(16, 12, 3, 4), ".webp");
    seed("rgb.avif", card(32, 24, 3, RGB), ".avif");
    seed("untrusted.jp2", card(16, 12, 3, RGB), ".jp2");

    /* Big enough to be shrunk on load at the augmenter's 150x150 (JPEG by libjpeg, PNG by block
     * average); smooth, so still small files. */
    seed("shrink-on-load.jpg", card(700, 640, 3, RGB), ".jpg[Q=30]");
    seed("shrink-on-load.png", card(640, 640, 1, GREY), ".png[bitdepth=2,compression=9]");

    /* Broken variants, and lying headers, of a JPEG and a PNG. */
    size_t jl = 0, pl = 0;
    uint8_t *jpg = encode(card(64, 48, 3, RGB), ".jpg[Q=80]", &jl);
    uint8_t *png = encode(card(64, 48, 4, RGB), ".png", &pl);
    if (jpg) {
        seed_broken("rgb.jpg", jpg, jl, 20);           /* SOI + APP0 */
        write_seed("jpeg-bytes-named.png", jpg, jl);
        seed_jpeg_claiming("claims-60000x60000.jpg", jpg, jl, 60000, 60000);
        seed_jpeg_claiming("claims-7000x7000.jpg", jpg, jl, 7000, 7000);   /* just under 50 M pixels */
        seed_jpeg_claiming("claims-0x48.jpg", jpg, jl, 0, 48);
        g_free(jpg);
    }
    if (png) {
        seed_broken("rgba.png", png, pl, 33);          /* signature + IHDR */
        write_seed("png-bytes-named.jpg", png, pl);
        write_seed("png-signature-only.png", png, 8);
        seed_png_claiming("claims-60000x60000.png", png, pl, 60000, 60000);
        seed_png_claiming("claims-7000x7000.png", png, pl, 7000, 7000);
        seed_png_claiming("claims-1x1.png", png, pl, 1, 1);
        g_free(png);
    }
    {   /* Progressive JPEG, many scans, claiming a large size. */
        size_t n = 0;
        uint8_t *p = encode(card(64, 48, 3, RGB), ".jpg[interlace=true]", &n);
        if (p) {
            seed_jpeg_claiming("progressive-claims-1000x1000.jpg", p, n, 1000, 1000);
            g_free(p);
        }
    }
    {   /* Progressive JPEGs of 64 scans (decoded) and 127 (over img_decode's limit), made by hand. */
        size_t n = 0;
        uint8_t *p = craft_progressive_jpeg(48, 32, 0, &n);
        if (p) write_seed("scans-64.jpg", p, n);
        free(p);
        if ((p = craft_progressive_jpeg(48, 32, 1, &n))) write_seed("scans-127.jpg", p, n);
        free(p);
    }
    static const char text[] = "name,label\ncat.1.jpg,0\n";
    write_seed("text-named.jpg", text, sizeof text - 1);
    write_seed("empty.jpg", "", 0);
    static const uint8_t gif_header[] = "GIF89a\x10\x00\x10\x00\x80\x00\x00";
    write_seed("gif-header-only.gif", gif_header, sizeof gif_header - 1);

    printf("fuzz_decode_seeds: %d seeds in %s\n", g_written, g_dir);
    vips_shutdown();
    return g_failed ? 1 : 0;
}
