/* augment.c: images per second on one core for the augmenter's work: (a) first epoch: read, decode
 * with shrink-on-load, keep in the cache, augment to 150x150; (b) later epochs: augment from the
 * cache only. For comparison: (c) the same augmentation through vips_affine (embed + affine per
 * image), (d) decoding through vips_thumbnail_buffer to about 2x the target (the design's first
 * idea). Run by bench/augment.sh beside its torchvision peer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <vips/vips.h>

#include "common/check.h"
#include "common/cli.h"
#include "common/rng.h"
#include "image/cache.h"
#include "image/dataset.h"
#include "image/image.h"

#define SIDE 150

static const aug_params_t model2 = {1, 40, 0.2, 0.2, 0.2, 0.8, 1.2, 1, 0, FILL_NEAREST, 0};

typedef struct { double wall, cpu; long faults; } clock2_t;

static clock2_t now2(void) {
    struct timespec w, c;
    struct rusage ru;
    clock_gettime(CLOCK_MONOTONIC, &w);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
    getrusage(RUSAGE_SELF, &ru);
    return (clock2_t){w.tv_sec + w.tv_nsec * 1e-9, c.tv_sec + c.tv_nsec * 1e-9, ru.ru_minflt};
}

/* One line per phase; the rate is per CPU-second of this process (libvips' worker included), so
 * other processes on the machine slow the wall clock but not the figure. */
static void report(const char *phase, int64_t n, clock2_t t0) {
    clock2_t t = now2();
    double wall = t.wall - t0.wall, cpu = t.cpu - t0.cpu;
    printf("ours %-16s %6lld images  wall %7.3f s  cpu %7.3f s  %8.1f images/s per core  (%.3f ms, %.0f page "
           "faults each)\n", phase, (long long)n, wall, cpu, n / cpu, cpu / n * 1e3, (double)(t.faults - t0.faults) / n);
    fflush(stdout);
}

/* The sampler's map (output row, col -> source row, col) rebuilt from its definition, turned into
 * vips_affine's forward transform, and run with an edge-copying embed for fill 'nearest'. */
static int vips_affine_warp(const img_t *src, const img_xform_t *t, uint8_t *dst) {
    /* Probe img_warp's affine map through three unit images would be circular; instead compose the
     * same Keras matrix here in (x, y) = (col, row) order. */
    double th = t->theta_deg * 3.14159265358979323846 / 180, s = t->shear_deg * 3.14159265358979323846 / 180;
    double c = cos(th), sn = sin(th);
    /* Keras in (row, col): A = R * Sh * Z, b = R * (tx, ty). */
    double a00 = c * t->zx, a01 = (c * -sin(s) - sn * cos(s)) * t->zy;
    double a10 = sn * t->zx, a11 = (sn * -sin(s) + c * cos(s)) * t->zy;
    double b0 = c * t->tx - sn * t->ty, b1 = sn * t->tx + c * t->ty;
    double o = SIDE / 2.0 - 0.5, fr = t->flip_v ? -1 : 1, fc = t->flip_h ? -1 : 1;
    double sy = (double)src->height / SIDE, sx = (double)src->width / SIDE;
    /* source (row, col) = S (A (F out - o) + b + o) + s0, with F the flips about the output */
    double m00 = sy * a00 * fr, m01 = sy * a01 * fc, m10 = sx * a10 * fr, m11 = sx * a11 * fc;
    double r0 = (t->flip_v ? SIDE - 1 : 0) - o, c0 = (t->flip_h ? SIDE - 1 : 0) - o;
    double off_r = sy * (a00 * r0 + a01 * c0 + b0 + o) + 0.5 * sy - 0.5;
    double off_c = sx * (a10 * r0 + a11 * c0 + b1 + o) + 0.5 * sx - 0.5;
    /* In (x, y): src = Minv (X, Y) + off; forward: X = M (src - off). */
    double ia = m11, ib = m10, ic = m01, id = m00, det = ia * id - ib * ic;
    double fa = id / det, fb = -ib / det, fc2 = -ic / det, fd = ia / det;
    int margin = src->width > src->height ? src->width : src->height;
    VipsImage *ctx = vips_image_new();
    VipsImage **v = (VipsImage **)vips_object_local_array(VIPS_OBJECT(ctx), 4);
    int rc = -1;
    if (!(v[0] = vips_image_new_from_memory(src->pixels, (size_t)src->width * src->height * 3, src->width,
                                            src->height, 3, VIPS_FORMAT_UCHAR)))
        goto done;
    if (vips_embed(v[0], &v[1], margin, margin, src->width + 2 * margin, src->height + 2 * margin, "extend",
                   VIPS_EXTEND_COPY, NULL) != 0)
        goto done;
    VipsInterpolate *bil = vips_interpolate_new("bilinear");
    VipsArrayInt *area = vips_array_int_newv(4, 0, 0, SIDE, SIDE);
    rc = vips_affine(v[1], &v[2], fa, fb, fc2, fd, "interpolate", bil, "oarea", area, "idx", -(margin + off_c),
                     "idy", -(margin + off_r), NULL);
    vips_area_unref(VIPS_AREA(area));
    g_object_unref(bil);
    if (rc != 0) goto done;
    rc = -1;
    if (!(v[3] = vips_image_new_from_memory(dst, SIDE * SIDE * 3, SIDE, SIDE, 3, VIPS_FORMAT_UCHAR))) goto done;
    if (vips_image_write(v[2], v[3]) != 0) goto done;
    rc = 0;
done:
    if (rc != 0) img_vips_fail("vips_affine");
    g_object_unref(ctx);
    return rc;
}

int main(int argc, char **argv) {
    const char *data = "../shared/data/catsdogs/train";
    int n_images = 600, epochs = 2;
    double max_scale = 2.0;
    cli_opt_t opts[] = {
        {"data", CLI_STR, &data, NULL, "DIR", "folder of class sub-folders (default ../shared/data/catsdogs/train)"},
        {"images", CLI_INT, &n_images, NULL, "N", "images per epoch (default 600)"},
        {"epochs", CLI_INT, &epochs, NULL, "E", "later epochs to time (default 2)"},
        {"max-scale", CLI_F64, &max_scale, NULL, "X", "decode keeping about X times 150x150 (default 2)"},
    };
    int rc = cli_parse(argc, argv, opts, 4, "bench_augment [--data DIR] [--images N] [--epochs E]",
                       "Images per second per core: decode + augment, augment from the cache, and the libvips\n"
                       "alternatives (vips_affine, vips_thumbnail_buffer).", NULL);
    if (rc != 0) return rc > 0 ? 0 : 2;
    if (img_init(argv[0]) != 0) {
        fprintf(stderr, "%s\n", err_msg());
        return 1;
    }
    ds_split_t ds;
    if (ds_index(data, NULL, 1, &ds, NULL) != 0) {
        printf("bench_augment: skipped: no data set at %s (%s)\n", data, err_msg());
        return 0;
    }
    if (n_images > ds.n_files) n_images = (int)ds.n_files;
    /* Both classes, interleaved as a shuffled epoch would be; the peer takes the same files. */
    int64_t *pick = malloc((size_t)n_images * sizeof *pick);
    int64_t half = (ds.n_files + 1) / 2;
    for (int i = 0; i < n_images; i++) pick[i] = i % 2 == 0 ? i / 2 : half + i / 2;

    img_decode_opts_t o;
    img_decode_opts_default(&o, SIDE, SIDE);
    o.max_scale = max_scale;
    img_cache_t *cache = img_cache_new((size_t)4 << 30);
    img_t im = {0};
    uint8_t *out = malloc(SIDE * SIDE * 3), *alt = malloc(SIDE * SIDE * 3), *file = NULL;
    size_t cap = 0, len = 0;
    int64_t pixels = 0;
    if (!cache || !out || !alt) return 1;

    clock2_t t0 = now2();
    for (int i = 0; i < n_images; i++) {
        const ds_file_t *f = &ds.files[pick[i]];
        if (ds_read_file(f->path, &file, &cap, &len) != 0 || img_decode(file, len, &o, &im) != 0 ||
            img_cache_put(cache, f->key, &im) < 0) {
            fprintf(stderr, "%s: %s\n", f->path, err_msg());
            return 1;
        }
        pixels += (int64_t)im.width * im.height;
        img_xform_t t;
        img_xform_draw(&model2, SIDE, SIDE, rng_derive3(1, 0, (uint64_t)i), &t);
        img_warp(&im, SIDE, SIDE, &t, model2.fill_mode, model2.cval, out);
    }
    report("first-epoch", n_images, t0);

    t0 = now2();
    for (int e = 1; e <= epochs; e++)
        for (int i = 0; i < n_images; i++) {
            const img_t *c = img_cache_get(cache, ds.files[pick[i]].key);
            img_xform_t t;
            img_xform_draw(&model2, SIDE, SIDE, rng_derive3(1, (uint64_t)e, (uint64_t)i), &t);
            img_warp(c, SIDE, SIDE, &t, model2.fill_mode, model2.cval, out);
        }
    report("later-epochs", (int64_t)n_images * epochs, t0);
    img_cache_stats_t st;
    img_cache_stats(cache, &st);
    printf("cache: %lld images, %.1f MB (mean %.0f pixels per image), %lld hits\n", (long long)st.entries,
           st.bytes / 1e6, (double)pixels / n_images, (long long)st.hits);

    /* (c) vips_affine from the same cached images; also how far its pixels are from ours. */
    double diff = 0;
    t0 = now2();
    for (int i = 0; i < n_images; i++) {
        const img_t *c = img_cache_get(cache, ds.files[pick[i]].key);
        img_xform_t t;
        img_xform_draw(&model2, SIDE, SIDE, rng_derive3(1, 1, (uint64_t)i), &t);
        if (vips_affine_warp(c, &t, alt) != 0) {
            fprintf(stderr, "%s\n", err_msg());
            return 1;
        }
    }
    report("vips_affine", n_images, t0);
    for (int i = 0; i < n_images; i += 10) {
        const img_t *c = img_cache_get(cache, ds.files[pick[i]].key);
        img_xform_t t;
        img_xform_draw(&model2, SIDE, SIDE, rng_derive3(1, 1, (uint64_t)i), &t);
        img_warp(c, SIDE, SIDE, &t, model2.fill_mode, model2.cval, out);
        vips_affine_warp(c, &t, alt);
        for (int k = 0; k < SIDE * SIDE * 3; k++) diff += abs(out[k] - alt[k]);
    }
    printf("vips_affine vs ours: mean absolute difference %.2f grey levels\n",
           diff / ((n_images + 9) / 10) / (SIDE * SIDE * 3));

    /* (d) decoding through vips_thumbnail_buffer to about max_scale x the target, as first designed. */
    t0 = now2();
    for (int i = 0; i < n_images; i++) {
        const ds_file_t *f = &ds.files[pick[i]];
        VipsImage *th = NULL;
        if (ds_read_file(f->path, &file, &cap, &len) != 0) return 1;
        /* the box that keeps both sides >= max_scale x 150 */
        VipsImage *hdr = vips_image_new_from_buffer(file, len, "", NULL);
        if (!hdr) return 1;
        double k = fmax(max_scale * SIDE / hdr->Xsize, max_scale * SIDE / hdr->Ysize);
        int bw = k < 1 ? (int)ceil(hdr->Xsize * k) : hdr->Xsize, bh = k < 1 ? (int)ceil(hdr->Ysize * k) : hdr->Ysize;
        g_object_unref(hdr);
        if (vips_thumbnail_buffer(file, len, &th, bw, "height", bh, "size", VIPS_SIZE_DOWN, "no_rotate", TRUE, NULL) != 0)
            return 1;
        size_t n = 0;
        void *px = vips_image_write_to_memory(th, &n);
        g_object_unref(th);
        if (!px) return 1;
        g_free(px);
    }
    report("thumbnail-decode", n_images, t0);
    t0 = now2();
    for (int i = 0; i < n_images; i++) {
        if (ds_read_file(ds.files[pick[i]].path, &file, &cap, &len) != 0 || img_decode(file, len, &o, &im) != 0) return 1;
    }
    report("decode-only", n_images, t0);

    free(file);
    free(out);
    free(alt);
    free(pick);
    img_free(&im);
    img_cache_destroy(&cache);
    ds_free(&ds);
    return 0;
}
