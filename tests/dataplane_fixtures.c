/* dataplane_fixtures.c: writes the data-plane tests' data sets (with libvips) and model specs. */
#define _GNU_SOURCE
#include "dataplane_fixtures.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

#include "common/fsutil.h"
#include "common/rng.h"
#include "testlib.h"

const dpf_case_t dpf_cases[DPF_N_CASES] = {
    {"bad_empty.jpg", 0},     {"bad_truncated.jpg", 0}, {"bad_text.jpg", 0},
    {"bad_big.jpg", 0},       {"ok_grey.jpg", 1},       {"ok_cmyk.jpg", 1},
    {"ok_rgba.png", 1},       {"ok_png_named.jpg", 1},  {"ok_1x1.jpg", 1},
};

int dpf_encode(int w, int h, int bands, int cmyk, const char *format, uint32_t pattern, uint8_t **out, size_t *len) {
    size_t n = (size_t)w * h * bands;
    uint8_t *px = malloc(n);
    if (!px) return -1;
    rng_t r;
    rng_init(&r, pattern, 7);
    double fx = 0.02 + 0.1 * rng_uniform_f(&r), fy = 0.02 + 0.1 * rng_uniform_f(&r);
    int base[4] = {(int)(rng_u32(&r) % 256), (int)(rng_u32(&r) % 256), (int)(rng_u32(&r) % 256), 255};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int b = 0; b < bands; b++) {
                double v = base[b] + 60.0 * sin(fx * x * (b + 1)) + 60.0 * cos(fy * y + b);
                if (bands == 4 && b == 3 && !cmyk) v = 128 + 127 * sin(0.05 * x);   /* varying alpha */
                px[((size_t)y * w + x) * bands + b] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    VipsImage *im = vips_image_new_from_memory(px, n, w, h, bands, VIPS_FORMAT_UCHAR), *t = NULL;
    int rc = -1;
    void *buf = NULL;
    if (!im) goto done;
    VipsInterpretation interp = cmyk ? VIPS_INTERPRETATION_CMYK
                                : bands <= 2 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB;
    if (vips_copy(im, &t, "interpretation", interp, NULL) != 0) goto done;
    rc = strcmp(format, "png") == 0 ? vips_pngsave_buffer(t, &buf, len, NULL)
                                    : vips_jpegsave_buffer(t, &buf, len, "Q", 90, NULL);
    if (rc == 0) {
        *out = malloc(*len);
        if (*out) memcpy(*out, buf, *len);
        else rc = -1;
    }
done:
    if (rc != 0) {
        fprintf(stderr, "dpf_encode: %s\n", vips_error_buffer());
        vips_error_clear();
    }
    g_free(buf);
    if (t) g_object_unref(t);
    if (im) g_object_unref(im);
    free(px);
    return rc;
}

static int write_image(const char *path, int w, int h, int bands, int cmyk, const char *format, uint32_t pattern,
                       size_t keep) {
    uint8_t *data = NULL;
    size_t len = 0;
    if (dpf_encode(w, h, bands, cmyk, format, pattern, &data, &len) != 0) return -1;
    int rc = tl_write_file(path, data, keep && keep < len ? keep : len);
    free(data);
    return rc;
}

int dpf_write_split(const char *dir, const char *split, int n_classes, int n_per_class, int w, int h) {
    static const char *names[] = {"cats", "dogs", "birds", "fish"};
    for (int k = 0; k < n_classes && k < 4; k++) {
        char d[4096];
        snprintf(d, sizeof d, "%s/%s/%s", dir, split, names[k]);
        if (mkdir_p(d) != 0) return -1;
        for (int i = 0; i < n_per_class; i++) {
            char p[4200];
            snprintf(p, sizeof p, "%s/img_%04d.jpg", d, i);
            if (write_image(p, w, h, 3, 0, "jpg", (uint32_t)(k * 100003 + i), 0) != 0) return -1;
        }
    }
    return 0;
}

int dpf_write_bad_cases(const char *dir, int big_w, int big_h) {
    char p[4200];
    static const char text[] = "this is not an image, only text with a .jpg name\n";
    if (mkdir_p(dir) != 0) return -1;
#define PATH(name) (snprintf(p, sizeof p, "%s/%s", dir, name), p)
    if (tl_write_file(PATH("bad_empty.jpg"), "", 0) != 0) return -1;
    if (write_image(PATH("bad_truncated.jpg"), 120, 90, 3, 0, "jpg", 11, 400) != 0) return -1;
    if (tl_write_file(PATH("bad_text.jpg"), text, sizeof text - 1) != 0) return -1;
    if (write_image(PATH("bad_big.jpg"), big_w, big_h, 3, 0, "jpg", 12, 0) != 0) return -1;
    if (write_image(PATH("ok_grey.jpg"), 80, 60, 1, 0, "jpg", 13, 0) != 0) return -1;
    if (write_image(PATH("ok_cmyk.jpg"), 80, 60, 4, 1, "jpg", 14, 0) != 0) return -1;
    if (write_image(PATH("ok_rgba.png"), 80, 60, 4, 0, "png", 15, 0) != 0) return -1;
    if (write_image(PATH("ok_png_named.jpg"), 80, 60, 3, 0, "png", 16, 0) != 0) return -1;
    if (write_image(PATH("ok_1x1.jpg"), 1, 1, 3, 0, "jpg", 17, 0) != 0) return -1;
#undef PATH
    return 0;
}

int dpf_write_spec(const char *path, int h, int w, int batch, int steps, int epochs, int seed, int aug) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f,
            "; a tiny model for the data-plane tests\n"
            "[model]\nname = dataplane_test\ninput = %d, %d, 3\n\n"
            "[optimizer]\ntype = rmsprop\nlearning_rate = 1e-4\nrho = 0.9\nepsilon = 1e-7\n\n"
            "[loss]\ntype = binary_crossentropy\n\n"
            "[training]\nbatch_size = %d\nsteps_per_epoch = %d\nepochs = %d\nvalidation_steps = 0\nseed = %d\n\n",
            h, w, batch, steps, epochs, seed);
    if (aug)
        fprintf(f, "[augmentation]\nrotation_range = 40\nwidth_shift_range = 0.2\nheight_shift_range = 0.2\n"
                   "shear_range = 0.2\nzoom_range = 0.2\nhorizontal_flip = true\nvertical_flip = false\n"
                   "fill_mode = nearest\n\n");
    fprintf(f, "[conv2d_1]\ntype = conv2d\nfilters = 4\nkernel_size = 3\nactivation = relu\n\n"
               "[flatten]\ntype = flatten\n\n"
               "[dense_1]\ntype = dense\nunits = 1\nactivation = sigmoid\n");
    return fclose(f) == 0 ? 0 : -1;
}

void dpf_job_add(dpf_job_t *t, const char *name, uint8_t *data, size_t len, uint32_t id) {
    proto_member_t *m = &t->job.members[t->job.n_members];
    t->bytes[t->job.n_members++] = data;
    m->id = id;
    m->label = (uint8_t)(id % 2);
    m->seed = rng_derive3(t->seed, 0, id);
    m->key = rng_derive(t->key, id);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->data = data;
    m->len = len;
}

void dpf_job_free(dpf_job_t *t) {
    for (uint32_t i = 0; i < t->job.n_members; i++) free(t->bytes[i]);
    free(t);
}
