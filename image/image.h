/* image.h: decoding images with libvips and the one-pass resize + Keras augmentation sampler.
 * Used by the augmenter (training batches) and the evaluator (validation/test images, previews). */
#ifndef PAWPIPE_IMAGE_H
#define PAWPIPE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/aug.h"

/* An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC). Owns its pixel buffer, which is
 * reused (grown, never shrunk) by img_decode. */
typedef struct {
    int width, height;
    uint8_t *pixels;      /* width * height * 3 bytes */
    size_t cap;
} img_t;

typedef struct {
    int target_width, target_height;  /* the size batches are made at (150x150)                     */
    double max_scale;                 /* keep about this many times the target size (2.0): decode
                                         with shrink-on-load to no smaller than that                  */
    int64_t max_pixels;               /* refuse images with more pixels than this (decompression bombs) */
} img_decode_opts_t;

void img_decode_opts_default(img_decode_opts_t *o, int target_width, int target_height);

/* Call once per process before any other function here (wraps VIPS_INIT, single-threaded vips,
 * no operation cache, untrusted loaders blocked, libvips warnings to the log at debug level).
 * 0, or -1 with err_msg(). */
int img_init(const char *argv0);

/* After a failing libvips call: err_set("WHAT: <libvips' reason>") with libvips' error buffer taken
 * and cleared in one step (vips_error_buffer_copy), its lines joined by ";"; returns -1. */
int img_vips_fail(const char *what);

/* Decode JPEG/PNG/any libvips-readable bytes into RGB, shrunk on load to about max_scale x target
 * (both sides kept >= max_scale x the target side where the source allows, usually under twice
 * that: JPEG by libjpeg's 1/2, 1/4, 1/8 scaling, other formats by an integer block average; never
 * enlarged), grey/CMYK/16-bit/alpha converted (alpha flattened on white), EXIF orientation ignored
 * as Keras does. The header is checked before any pixel is decoded (max_pixels; a JPEG of more than
 * 100 scans, which would decode for many seconds, is refused too). Runs in the calling thread.
 * Returns 0, or -1 with err_msg() giving the reason ("not an image", "Premature end of input
 * file", "48000x48000 is over the 100000000-pixel limit"...). img_decode_file reads the file into
 * a buffer of its own, freed before it returns (loops over many files: ds_read_file into a reused
 * buffer, then img_decode). */
int img_decode(const void *bytes, size_t len, const img_decode_opts_t *o, img_t *out);
int img_decode_file(const char *path, const img_decode_opts_t *o, img_t *out);
void img_free(img_t *im);   /* frees pixels; the struct itself is the caller's */

/* The random parameters of one Keras ImageDataGenerator transform, drawn from a sample's seed. */
typedef struct {
    double theta_deg;      /* rotation                                   */
    double tx, ty;         /* row shift, column shift, in target pixels  */
    double shear_deg;
    double zx, zy;         /* zoom of rows, columns                      */
    int flip_h, flip_v;
} img_xform_t;

/* Draw the transform of one sample (pure function of seed and p; identity when !p->enabled).
 * h, w: the target size (shifts are fractions of it). */
void img_xform_draw(const aug_params_t *p, int h, int w, uint64_t seed, img_xform_t *t);

/* Resample src into dst (out_h x out_w x 3, HWC) in one bilinear pass: the resize from src's size
 * to out_w x out_h composed with the Keras affine t (NULL: resize only), about the image centre,
 * with Keras fill modes outside the image. Same bytes for the same inputs on any build; the exact
 * coordinate conventions are in docs/augmentation.md. */
void img_warp(const img_t *src, int out_h, int out_w, const img_xform_t *t, fill_mode_t fill,
              double cval, uint8_t *dst);

/* Write an RGB HWC buffer as PNG. 0, or -1 with err_msg(). */
int img_save_png(const char *path, const uint8_t *rgb, int width, int height);

#endif
