/* image.c: decoding with libvips: header check first, shrink-on-load, conversion to 8-bit sRGB. */
#include "image/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "common/check.h"
#include "common/log.h"
#include "image/dataset.h"

int img_vips_fail(const char *what) {
    char msg[512];
    char *text = vips_error_buffer_copy();   /* takes and clears libvips' buffer under its lock */
    snprintf(msg, sizeof msg, "%s", text ? text : "");
    g_free(text);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) msg[--n] = '\0';
    for (char *p = msg; *p; p++)
        if (*p == '\n') *p = ';';
    err_set("%s: %s", what, msg[0] ? msg : "libvips gave no reason");
    return -1;
}

void img_decode_opts_default(img_decode_opts_t *o, int target_width, int target_height) {
    o->target_width = target_width;
    o->target_height = target_height;
    o->max_scale = 2.0;
    o->max_pixels = 100000000;
}

/* libvips' own warnings (a corrupt tile, a truncated file) go to our log at debug level: the error
 * that follows them is what the caller reports. */
static void vips_warning_to_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data) {
    (void)domain, (void)level, (void)data;
    LOG_D("libvips: %s", msg);
}

int img_init(const char *argv0) {
    if (VIPS_INIT(argv0 ? argv0 : "pawpipe") != 0) return img_vips_fail("libvips start-up");
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING, vips_warning_to_log, NULL);
    vips_concurrency_set(1);   /* we scale with processes, not threads */
    vips_block_untrusted_set(TRUE);   /* only the loaders libvips considers fuzzed and safe */
    vips_cache_set_max(0);     /* every image is decoded once: an operation cache only costs memory */
    return 0;
}

void img_free(img_t *im) {
    free(im->pixels);
    im->pixels = NULL;
    im->cap = 0;
    im->width = im->height = 0;
}

/* How much to shrink on load: the largest factor that keeps both sides at least max_scale x the
 * target side (1: none). */
static double shrink_factor(int w, int h, const img_decode_opts_t *o) {
    double keep = fmax(o->max_scale * o->target_width / w, o->max_scale * o->target_height / h);
    return keep >= 1.0 ? 1.0 : 1.0 / keep;
}

/* Flatten alpha on white, convert any colourspace (grey, CMYK, 16-bit, ...) to 8-bit sRGB, 3 bands. */
static int to_srgb8(VipsImage *in, VipsImage **t, VipsImage **out) {
    VipsImage *im = in;
    if (vips_image_hasalpha(im)) {
        double max_alpha = im->BandFmt == VIPS_FORMAT_USHORT ? 65535.0 : 255.0;
        double white = im->Type == VIPS_INTERPRETATION_CMYK ? 0.0 : max_alpha;
        VipsArrayDouble *bg = vips_array_double_new(&white, 1);
        int rc = vips_flatten(im, &t[0], "background", bg, "max_alpha", max_alpha, NULL);
        vips_area_unref(VIPS_AREA(bg));
        if (rc != 0) return img_vips_fail("flattening alpha");
        im = t[0];
    }
    if (im->Type != VIPS_INTERPRETATION_sRGB || im->BandFmt != VIPS_FORMAT_UCHAR) {
        if (vips_colourspace(im, &t[1], VIPS_INTERPRETATION_sRGB, NULL) != 0)
            return img_vips_fail("converting to sRGB");
        im = t[1];
    }
    if (im->BandFmt != VIPS_FORMAT_UCHAR) {
        if (vips_cast(im, &t[2], VIPS_FORMAT_UCHAR, "shift", im->BandFmt == VIPS_FORMAT_USHORT, NULL) != 0)
            return img_vips_fail("converting to 8 bits");
        im = t[2];
    }
    if (im->Bands == 1) {
        VipsImage *three[3] = {im, im, im};
        if (vips_bandjoin(three, &t[3], 3, NULL) != 0) return img_vips_fail("grey to RGB");
        im = t[3];
    } else if (im->Bands != 3) {
        if (im->Bands < 3) {
            err_set("cannot make RGB of a %d-band image", im->Bands);
            return -1;
        }
        if (vips_extract_band(im, &t[3], 0, "n", 3, NULL) != 0) return img_vips_fail("taking 3 bands");
        im = t[3];
    }
    *out = im;
    return 0;
}

/* A progressive JPEG sends its coefficients in scans, and libjpeg goes over every block of the image
 * once per scan: a grey one can have 883 valid scans, so a 160 KB file of 7000x7000 pixels takes 50
 * times as long to decode as an ordinary one (16 s here; tests/test_decode_regress.c). libjpeg's
 * progressive script writes 6 scans for grey, 10 for colour; a JPEG of more than 100 is refused. */
#define JPEG_MAX_SCANS 100

/* The number of scans (SOS markers) of JPEG bytes, found the way libjpeg reads them: marker segments
 * skipped by their length, a scan's entropy-coded data up to the next marker (neither a stuffed
 * 0xFF00 nor a restart marker). Stops at EOI or at the end of the bytes. */
static int jpeg_count_scans(const uint8_t *p, size_t n) {
    int scans = 0;
    size_t i = 2;   /* after SOI */
    while (i + 1 < n) {
        if (p[i] != 0xff || p[i + 1] == 0xff) {   /* stray bytes, fill bytes: libjpeg skips them too */
            i++;
            continue;
        }
        uint8_t m = p[i + 1];
        i += 2;
        if (m == 0xd9) break;                                          /* EOI */
        if (m == 0x00 || m == 0x01 || (m >= 0xd0 && m <= 0xd8)) continue;   /* no length follows */
        if (i + 1 >= n) break;
        i += (size_t)p[i] << 8 | p[i + 1];
        if (m != 0xda) continue;
        scans++;
        while (i + 1 < n && !(p[i] == 0xff && p[i + 1] != 0x00 && (p[i + 1] < 0xd0 || p[i + 1] > 0xd7))) i++;
    }
    return scans;
}

/* Run the pipeline ending at `im` into out's reused buffer (grown, never shrunk), strip by strip in
 * the calling thread: no libvips thread pool, and a region buffer small enough to be reused. */
#define STRIP_ROWS 64

static int write_pixels(VipsImage *im, img_t *out) {
    size_t row = (size_t)im->Xsize * 3, need = row * (size_t)im->Ysize;
    if (need > out->cap) {
        uint8_t *p = realloc(out->pixels, need);
        CHECK(p != NULL, "out of memory for a %dx%d image", im->Xsize, im->Ysize);
        out->pixels = p;
        out->cap = need;
    }
    VipsRegion *reg = vips_region_new(im);
    if (!reg) return img_vips_fail("decoding");
    int rc = 0;
    for (int y = 0; y < im->Ysize && rc == 0; y += STRIP_ROWS) {
        VipsRect r = {0, y, im->Xsize, im->Ysize - y < STRIP_ROWS ? im->Ysize - y : STRIP_ROWS};
        if (vips_region_prepare(reg, &r) != 0) {
            rc = img_vips_fail("decoding");
            break;
        }
        for (int k = 0; k < r.height; k++)
            memcpy(out->pixels + (size_t)(y + k) * row, VIPS_REGION_ADDR(reg, 0, y + k), row);
    }
    g_object_unref(reg);
    if (rc != 0) return -1;
    out->width = im->Xsize;
    out->height = im->Ysize;
    return 0;
}

int img_decode(const void *bytes, size_t len, const img_decode_opts_t *o, img_t *out) {
    CHECK(bytes != NULL && len > 0, "empty input (0 bytes)");
    const char *loader = vips_foreign_find_load_buffer(bytes, len);
    if (!loader) {
        vips_error_clear();
        err_set("not an image: no decoder recognises these %zu bytes", len);
        return -1;
    }
    /* Only what the data set's names promise (.jpg, .jpeg, .png), whatever the name: every other
     * loader libvips has (WebP, TIFF, GIF, HEIF/AVIF through libheif and its codecs) is code that a
     * file in the data folder could reach for nothing (docs/augmentation.md). */
    int jpeg = strcmp(loader, "VipsForeignLoadJpegBuffer") == 0;
    if (!jpeg && strcmp(loader, "VipsForeignLoadPngBuffer") != 0) {
        const char *fmt = loader;   /* "VipsForeignLoadWebpBuffer": "Webp" */
        size_t len = strlen(fmt);
        if (strncmp(fmt, "VipsForeignLoad", 15) == 0) fmt += 15, len -= 15;
        if (len > 6 && strcmp(fmt + len - 6, "Buffer") == 0) len -= 6;
        err_set("not a JPEG or PNG image (libvips reads it as %.*s): only JPEG and PNG are decoded", (int)len, fmt);
        return -1;
    }
    if (jpeg) {
        int scans = jpeg_count_scans(bytes, len);
        CHECK(scans <= JPEG_MAX_SCANS, "a JPEG of %d scans is over the limit of %d (it would decode for too long)",
              scans, JPEG_MAX_SCANS);
    }
    int rc = -1;
    VipsImage *ctx = vips_image_new();
    VipsImage **t = (VipsImage **)vips_object_local_array(VIPS_OBJECT(ctx), 8);

    /* The header alone (libvips loaders are lazy): refuse decompression bombs before decoding. */
    t[0] = vips_image_new_from_buffer(bytes, len, "", "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                      VIPS_FAIL_ON_ERROR, NULL);
    if (!t[0]) {
        img_vips_fail("not a readable image");
        goto done;
    }
    int w = t[0]->Xsize, h = t[0]->Ysize;
    CHECK_GOTO(w > 0 && h > 0, done, "image has no pixels (%dx%d)", w, h);
    CHECK_GOTO((int64_t)w * h <= o->max_pixels, done, "%dx%d is over the %lld-pixel limit", w, h,
               (long long)o->max_pixels);

    /* Shrink on load, no resampling: libjpeg scales by 1/2, 1/4 or 1/8 while decoding the DCT blocks;
     * other formats are block-averaged by an integer factor. The result keeps between max_scale and
     * 2 x max_scale times the target size. (vips_thumbnail would add a Lanczos reduce to the exact
     * size, which costs more than the decode: see docs/augmentation.md.) Autorotation stays off:
     * Keras (PIL) ignores EXIF orientation. fail_on=error: a truncated file or broken tables are an
     * error, not a half-grey image (a scan whose data stops short of the next marker is only a
     * libjpeg warning: decoded, the rest grey, as PIL does; docs/augmentation.md). */
    double f = shrink_factor(w, h, o);
    VipsImage *im = t[0], *rgb = NULL;
    if (jpeg && f >= 2.0) {
        int s = f >= 8.0 ? 8 : f >= 4.0 ? 4 : 2;
        if (!(t[1] = vips_image_new_from_buffer(bytes, len, "", "shrink", s, "access", VIPS_ACCESS_SEQUENTIAL,
                                                "fail_on", VIPS_FAIL_ON_ERROR, NULL))) {
            img_vips_fail("shrink-on-load");
            goto done;
        }
        im = t[1];
    }
    if (to_srgb8(im, &t[2], &rgb) != 0) goto done;
    if (!jpeg && f >= 2.0) {   /* after flattening, so transparent pixels do not bleed in */
        if (vips_shrink(rgb, &t[1], (int)f, (int)f, NULL) != 0) {
            img_vips_fail("shrinking");
            goto done;
        }
        rgb = t[1];
    }
    if (write_pixels(rgb, out) != 0) goto done;
    rc = 0;
done:
    g_object_unref(ctx);
    return rc;
}

int img_decode_file(const char *path, const img_decode_opts_t *o, img_t *out) {
    /* A buffer for this call only (no per-thread state to leak when a thread ends). Files here are
     * tens of KB, served from malloc's free lists; hot loops read with ds_read_file into a buffer
     * of their own and call img_decode. */
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    int rc = ds_read_file(path, &buf, &cap, &len);
    if (rc == 0 && (rc = img_decode(buf, len, o, out)) != 0) err_prepend("%s", path);
    free(buf);
    return rc;
}

int img_save_png(const char *path, const uint8_t *rgb, int width, int height) {
    CHECK(width > 0 && height > 0, "cannot save a %dx%d image", width, height);
    VipsImage *im = vips_image_new_from_memory(rgb, (size_t)width * height * 3, width, height, 3,
                                               VIPS_FORMAT_UCHAR);
    if (!im) return img_vips_fail("wrapping pixels");
    int rc = vips_pngsave(im, path, NULL);
    g_object_unref(im);
    if (rc != 0) {
        img_vips_fail("writing PNG");
        err_prepend("%s", path);
        return -1;
    }
    return 0;
}
