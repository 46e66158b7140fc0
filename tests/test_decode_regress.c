/* test_decode_regress.c: one case per finding about the decode path (the fuzzer tests/fuzz_decode.c,
 * the sanitizer build of `make test-asan`), each input made in code, and the augmenter's handling of
 * such files: skipped with a warning, counted, never decoded twice, never a stop or a long wait.
 *
 * Findings so far:
 *  - a valid progressive JPEG can hold 883 scans (grey: one per coefficient and bit), and libjpeg
 *    goes over every block once per scan: 160 KB of 7000x7000 pixels, under the augmenter's 50 M-pixel
 *    limit, decoded for 16 s. img_decode now counts the scans first and refuses more than 100.
 * The others are covered elsewhere: image/dataset.c did pointer arithmetic on NULL when a class
 * folder had no image (UBSan, test_dataset's index_errors under make test-asan); libheif's dav1d
 * plugin leaks 40 bytes per malformed AVIF file (third-party: tests/lsan.supp). */
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "augmenter/augmenter.h"
#include "common/check.h"
#include "craft_jpeg.h"
#include "dataplane_fixtures.h"
#include "image/image.h"
#include "test.h"

#define AUGMENTER_MAX_PIXELS 50000000   /* augmenter/augmenter.c: --max-pixels' default */

static img_decode_opts_t opts;   /* the augmenter's: 150x150, 50 M pixels */

/* An RGB w x h gradient saved with a libvips saver ("format[options]", e.g. ".jpg[interlace=true]"). */
static uint8_t *encoded(int w, int h, const char *format, size_t *len) {
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = px + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / w), p[1] = (uint8_t)(y * 255 / h), p[2] = 90;
        }
    VipsImage *im = vips_image_new_from_memory_copy(px, (size_t)w * h * 3, w, h, 3, VIPS_FORMAT_UCHAR);
    free(px);
    void *buf = NULL;
    if (!im || vips_image_write_to_buffer(im, format, &buf, len, NULL) != 0) {
        fprintf(stderr, "  saving %s: %s\n", format, vips_error_buffer());
        buf = NULL;
    }
    if (im) g_object_unref(im);
    uint8_t *copy = buf ? malloc(*len) : NULL;   /* plain malloc: the job frees its members with free() */
    if (copy) memcpy(copy, buf, *len);
    g_free(buf);
    return copy;
}

/* Refused, with a message containing `reason`. */
static int refused(const void *b, size_t n, const char *reason) {
    img_t im = {0};
    err_clear();
    int rc = img_decode(b, n, &opts, &im);
    img_free(&im);
    if (rc == 0) return fprintf(stderr, "  decoded, not refused\n"), 0;
    if (!strstr(err_msg(), reason)) return fprintf(stderr, "  \"%s\" does not say \"%s\"\n", err_msg(), reason), 0;
    return 1;
}

TEST(progressive_jpeg_of_many_scans_refused_before_decoding) {
    size_t n;
    /* 883 scans: 16 s to decode. The scans are counted before libvips reads even the header, so
     * the message says it was never decoded. */
    uint8_t *bomb = craft_progressive_jpeg(7000, 7000, 13, &n);
    REQUIRE(bomb != NULL);
    EXPECT(n < 200000);
    EXPECT(refused(bomb, n, "a JPEG of 883 scans is over the limit of 100"));
    free(bomb);

    uint8_t *small = craft_progressive_jpeg(64, 64, 1, &n);   /* 127 scans: the limit holds at any size */
    REQUIRE(small != NULL);
    EXPECT(refused(small, n, "127 scans"));
    free(small);

    /* 64 scans: decoded, and the crafted file is what it says (uniform grey 128) */
    uint8_t *ok = craft_progressive_jpeg(40, 30, 0, &n);
    REQUIRE(ok != NULL);
    img_t im = {0};
    REQUIRE(img_decode(ok, n, &opts, &im) == 0);
    EXPECT(im.width == 40 && im.height == 30);
    int off = 0;
    for (size_t i = 0; i < (size_t)40 * 30 * 3; i++) off += im.pixels[i] != 128;
    EXPECT(off == 0);
    img_free(&im);
    free(ok);
}

/* The scan count walks the JPEG's markers itself: what encoders write must still decode. */
TEST(scan_count_reads_real_jpegs_as_libjpeg_does) {
    static const char *formats[] = {".jpg", ".jpg[interlace=true]", ".jpg[restart-interval=1]",
                                    ".jpg[interlace=true,restart-interval=2,optimize-scans=true]",
                                    ".jpg[interlace=true,no-subsample=true,Q=100]"};
    for (size_t f = 0; f < sizeof formats / sizeof *formats; f++) {
        size_t n;
        uint8_t *b = encoded(80, 60, formats[f], &n);
        REQUIRE(b != NULL);
        img_t im = {0};
        int rc = img_decode(b, n, &opts, &im);
        if (rc != 0) fprintf(stderr, "  %s: %s\n", formats[f], err_msg());
        EXPECT(rc == 0 && im.width == 80 && im.height == 60);
        img_free(&im);

        /* cut anywhere (inside a segment, a length past the end, a stray 0xFF last): refused with a
         * message or decoded, never a read past the bytes */
        for (size_t cut = 3; cut < n; cut += cut < 400 ? 1 : 97) {
            uint8_t *c = malloc(cut);   /* exactly cut bytes: ASan sees any read past them */
            memcpy(c, b, cut);
            c[cut - 1] = 0xff;
            img_t t = {0};
            err_clear();
            if (img_decode(c, cut, &opts, &t) != 0) EXPECT(err_msg()[0] != '\0');
            img_free(&t);
            free(c);
        }
        free(b);
    }
}

/* jpg with its frame header edited to claim w x h, the scans unchanged (data for far fewer blocks);
 * freed and NULL when it has no frame header. */
static uint8_t *claiming(uint8_t *jpg, size_t len, unsigned w, unsigned h) {
    for (size_t i = 2; jpg && i + 9 < len; i++)
        if (jpg[i] == 0xff && (jpg[i + 1] == 0xc0 || jpg[i + 1] == 0xc2)) {
            jpg[i + 5] = (uint8_t)(h >> 8), jpg[i + 6] = (uint8_t)h;
            jpg[i + 7] = (uint8_t)(w >> 8), jpg[i + 8] = (uint8_t)w;
            return jpg;
        }
    free(jpg);
    return NULL;
}

/* One job of the augmenter holding a good file and each finding: the batch stays full, each bad
 * member is replaced, warned about and counted once, and the next job decodes nothing again. (A
 * hang would show as the test's ctest TIMEOUT; the tests time nothing themselves.) */
TEST(augmenter_skips_and_counts_every_finding) {
    dpf_job_t *t = calloc(1, sizeof *t);
    REQUIRE(t != NULL);
    t->seed = 5, t->key = 6;
    t->job.seq = 1;
    t->job.height = t->job.width = 24;
    size_t n = 0;
    uint8_t *p;
    p = encoded(60, 40, ".jpg", &n), dpf_job_add(t, "good.jpg", p, n, t->job.n_members);
    p = craft_progressive_jpeg(7000, 7000, 13, &n), dpf_job_add(t, "scans-883.jpg", p, n, t->job.n_members);
    p = craft_progressive_jpeg(64, 64, 1, &n), dpf_job_add(t, "scans-127.jpg", p, n, t->job.n_members);
    p = encoded(64, 48, ".jpg[interlace=true]", &n), p = claiming(p, n, 7000, 7000);
    dpf_job_add(t, "progressive-claims-7000x7000.jpg", p, n - 2, t->job.n_members);   /* 150 MB of coefficients, then no EOI */
    p = encoded(64, 48, ".jpg", &n), p = claiming(p, n, 60000, 60000);
    dpf_job_add(t, "claims-60000x60000.jpg", p, n, t->job.n_members);             /* refused from the header */
    for (uint32_t i = 0; i < t->job.n_members; i++) REQUIRE(t->bytes[i] != NULL);

    worker_t *w = NULL;
    REQUIRE(worker_new(16 << 20, NULL, AUGMENTER_MAX_PIXELS, &w) == 0);
    proto_batch_t b;
    REQUIRE(worker_do_job(w, &t->job, &b) == 0);
    EXPECT(b.n == 5 && b.skipped == 4);
    for (uint32_t i = 0; i < 5; i++) EXPECT(b.ids[i] == 0);   /* every bad member replaced by the good one */
    REQUIRE(worker_do_job(w, &t->job, &b) == 0);
    EXPECT(b.n == 5 && b.skipped == 4);
    worker_stats_t s;
    worker_stats(w, &s);
    EXPECT(s.decodes == 5 && s.decode_failures == 4 && s.skipped == 8);   /* each file tried once */
    worker_destroy(&w);
    dpf_job_free(t);
}

int main(int argc, char **argv) {
    (void)argc;
    if (img_init(argv[0]) != 0) {
        fprintf(stderr, "img_init: %s\n", err_msg());
        return 1;
    }
    img_decode_opts_default(&opts, 150, 150);
    opts.max_pixels = AUGMENTER_MAX_PIXELS;
    RUN(progressive_jpeg_of_many_scans_refused_before_decoding);
    RUN(scan_count_reads_real_jpegs_as_libjpeg_does);
    RUN(augmenter_skips_and_counts_every_finding);
    return TEST_SUMMARY();
}
