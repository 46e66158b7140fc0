/* fuzz_decode.c: libFuzzer target for img_decode, the call the augmenter makes on every file's bytes
 * (augmenter/work.c), with the augmenter's options: the 150x150 target of the tutorial's models and
 * --max-pixels' default. Any input must decode or fail with a message, without a crash, a memory
 * error on our side of libvips, a leak, or a long wait (run with -timeout). What decodes must be a
 * non-empty RGB image within the pixel limit, all of whose bytes can be read. An input that decodes
 * is decoded again at 16x16 into the same img_t, as the augmenter reuses one: that makes small
 * inputs go through shrink-on-load too, and checks that the earlier buffer is reused.
 *
 * Debian's libvips is not instrumented, so libFuzzer sees only our few hundred edges, and a PNG, a
 * WebP and a TIFF that each decode look alike to it: it would keep one of them and mutate only that.
 * What libvips did is made visible as extra coverage (libFuzzer's extra counters): one counter per
 * loader, per loader and libvips error message (digits left out), and per loader and kind of image
 * decoded (bands, sample format, interpretation, alpha, size class). A new error message or a new
 * kind of image is then new coverage, and the input that reached it is kept.
 *
 * Built only with PAWPIPE_FUZZ=ON (clang); seeds: fuzz_decode_seeds (tests/fuzz_decode_seeds.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <vips/vips.h>

#include "common/check.h"
#include "image/image.h"

/* augmenter/augmenter.c: the default of --max-pixels. */
#define AUGMENTER_MAX_PIXELS 50000000

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Cleared by libFuzzer before every input; a counter set during it is a feature of that input. */
__attribute__((section("__libfuzzer_extra_counters"), used)) static uint8_t libvips_paths[1 << 14];

/* FNV-1a over a string, digits skipped (sizes and offsets in messages would make every input new). */
static uint64_t hash_text(uint64_t h, const char *s) {
    for (; s && *s; s++)
        if (*s < '0' || *s > '9') h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

static uint64_t hash_int(uint64_t h, int64_t v) {
    for (int i = 0; i < 8; i++) h = (h ^ (uint8_t)(v >> (8 * i))) * 0x100000001b3ull;
    return h;
}

static void mark(uint64_t h) {
    libvips_paths[h % sizeof libvips_paths] = 1;
}

static int log2_class(int v) {
    int k = 0;
    while (v > 1 && k < 31) v >>= 1, k++;
    return k;
}

/* The extra coverage of one input: its loader, and its error message or its header's kind. */
static void mark_libvips_paths(const uint8_t *data, size_t size, int rc, const char *msg) {
    const char *loader = size ? vips_foreign_find_load_buffer(data, size) : NULL;
    vips_error_clear();
    uint64_t h = hash_text(0xcbf29ce484222325ull, loader ? loader : "none");
    mark(h);
    if (rc != 0) {
        mark(hash_text(h, msg));
        return;
    }
    VipsImage *im = vips_image_new_from_buffer(data, size, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    if (!im) {
        vips_error_clear();
        return;
    }
    int64_t kind[] = {im->Bands, im->BandFmt, im->Type, vips_image_hasalpha(im), log2_class(im->Xsize),
                      log2_class(im->Ysize), vips_image_get_n_pages(im) > 1};
    for (size_t i = 0; i < sizeof kind / sizeof *kind; i++) h = hash_int(h, kind[i]);
    mark(h);
    g_object_unref(im);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    if (img_init((*argv)[0]) != 0) {
        fprintf(stderr, "img_init: %s\n", err_msg());
        abort();
    }
    return 0;
}

/* After a successful decode: the image is sane, and every byte of it is read (ASan sees any byte
 * outside the buffer; the sum keeps the reads from being optimised away). */
static void check_image(const img_t *im, const img_decode_opts_t *o, const char *what) {
    if (im->width < 1 || im->height < 1 || !im->pixels || (int64_t)im->width * im->height > o->max_pixels ||
        (size_t)im->width * im->height * 3 > im->cap) {
        fprintf(stderr, "%s: decoded to a %dx%d image, buffer %p of %zu bytes\n", what, im->width, im->height,
                (void *)im->pixels, im->cap);
        abort();
    }
    volatile unsigned sum = 0;
    for (size_t i = 0, n = (size_t)im->width * im->height * 3; i < n; i++) sum += im->pixels[i];
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    img_decode_opts_t o;
    img_decode_opts_default(&o, 150, 150);
    o.max_pixels = AUGMENTER_MAX_PIXELS;
    img_t im = {0};
    int rc = img_decode(data, size, &o, &im);
    if (rc != 0 && !err_msg()[0]) {
        fprintf(stderr, "img_decode failed without a message\n");
        abort();
    }
    mark_libvips_paths(data, size, rc, err_msg());
    err_clear();
    if (rc != 0) {
        img_free(&im);
        return 0;
    }
    check_image(&im, &o, "150x150");

    img_decode_opts_default(&o, 16, 16);
    o.max_pixels = AUGMENTER_MAX_PIXELS;
    uint8_t *first = im.pixels;
    size_t cap = im.cap;
    if (img_decode(data, size, &o, &im) != 0) {
        /* the same bytes decoded at 150x150: a smaller target only shrinks more */
        fprintf(stderr, "decodes at 150x150 but not at 16x16: %s\n", err_msg());
        abort();
    }
    check_image(&im, &o, "16x16");
    if ((size_t)im.width * im.height * 3 <= cap && (im.pixels != first || im.cap != cap)) {
        fprintf(stderr, "16x16: the earlier buffer was not reused\n");
        abort();
    }
    img_free(&im);
    return 0;
}
