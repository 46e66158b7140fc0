/* test_evaluator_fixture.h: what the evaluator's stage tests share: a data set written by gen_dataset,
 * a small model spec, a checkpoint file of it, the images of a split decoded independently of the
 * evaluator, a direct forward pass with the ref backend, and reading PNGs back with libvips. */
#ifndef PAWPIPE_TEST_EVALUATOR_FIXTURE_H
#define PAWPIPE_TEST_EVALUATOR_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "common/check.h"
#include "image/dataset.h"
#include "image/image.h"
#include "nn/backend.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "tests/testlib.h"

/* 32x32 input; the first conv layer has 32 channels (a 2 x 16 grid of feature maps), the second 16
 * (one row). About 10k parameters: a forward pass of the 40 validation images takes milliseconds. */
#define FX_SPEC                                                                                     \
    "[model]\nname = tiny\ninput = 32, 32, 3\n"                                                    \
    "[optimizer]\ntype = rmsprop\nlearning_rate = 1e-3\n"                                          \
    "[loss]\ntype = binary_crossentropy\n"                                                         \
    "[training]\nbatch_size = 4\nsteps_per_epoch = 5\nepochs = 3\nvalidation_steps = 0\nseed = 7\n" \
    "[conv2d_1]\ntype = conv2d\nfilters = 32\nkernel_size = 3\nactivation = relu\n"                \
    "[max_pooling2d_1]\ntype = max_pooling2d\npool_size = 2\n"                                     \
    "[conv2d_2]\ntype = conv2d\nfilters = 16\nkernel_size = 3\nactivation = relu\n"                \
    "[max_pooling2d_2]\ntype = max_pooling2d\npool_size = 2\n"                                     \
    "[flatten]\ntype = flatten\n"                                                                  \
    "[dense_1]\ntype = dense\nunits = 16\nactivation = relu\n"                                     \
    "[dense_2]\ntype = dense\nunits = 1\nactivation = sigmoid\n"

#define FX_VALIDATION_PER_CLASS 20
#define FX_TEST_PER_CLASS 5

typedef struct {
    char work[128];     /* scratch folder (tl_tmpdir)                      */
    char data[192];     /* the generated data set                          */
    char ckpt[192];     /* a checkpoint of the model, epoch 3 step 30      */
    nn_model_t m;
    float *params;
} fixture_t;


static int fx_load_split(const char *dir, const char *split, int h, int w, uint8_t **images,
                         uint8_t **labels, int *n);
static int fx_ref_forward(const nn_model_t *m, const float *params, const uint8_t *images, int n,
                          float *logits, int layer, float *layer_out);

static int by_value(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Weights whose predictions are not all one class: Glorot init (seed 7), the last layer's kernel
 * scaled up so the logits spread out, and its bias set to minus the median logit over the
 * validation split, so that about half the images land on each side of 0. */
static int fx_params(fixture_t *f) {
    nn_init_params(&f->m, 7, f->params);
    const nn_layer_t *last = &f->m.layers[f->m.n_layers - 1];
    for (size_t i = 0; i < last->w_count; i++) f->params[last->w_off + i] *= 20.0f;
    uint8_t *images = NULL, *labels = NULL;
    int n = 0;
    int rc = fx_load_split(f->data, "validation", f->m.in_h, f->m.in_w, &images, &labels, &n);
    float *z = rc == 0 ? malloc((size_t)n * sizeof *z) : NULL;
    rc = z && fx_ref_forward(&f->m, f->params, images, n, z, 0, NULL) == 0 ? 0 : -1;
    if (rc == 0) {
        qsort(z, (size_t)n, sizeof *z, by_value);
        f->params[last->b_off] = -0.5f * (z[n / 2 - 1] + z[n / 2]);
    }
    free(images);
    free(labels);
    free(z);
    return rc;
}

static int fx_init(fixture_t *f, const char *gen_dataset, const char *tag) {
    memset(f, 0, sizeof *f);
    char name[64];
    snprintf(name, sizeof name, "evaluator-%s", tag);
    if (tl_tmpdir(f->work, sizeof f->work, name) != 0) return -1;
    snprintf(f->data, sizeof f->data, "%s/data", f->work);
    snprintf(f->ckpt, sizeof f->ckpt, "%s/ckpt-epoch-003.safetensors", f->work);
    if (tl_system("'%s' --out '%s' --seed 11 --train 1 --validation %d --test %d",
                  gen_dataset, f->data, FX_VALIDATION_PER_CLASS, FX_TEST_PER_CLASS) != 0) {
        fprintf(stderr, "gen_dataset failed\n");
        return -1;
    }
    if (nn_model_parse(FX_SPEC, "tiny.ini", &f->m) != 0) {
        fprintf(stderr, "spec: %s\n", err_msg());
        return -1;
    }
    f->params = malloc(f->m.n_params * sizeof(float));
    if (!f->params || fx_params(f) != 0) return -1;
    nn_ckpt_info_t info = {.epoch = 3, .step = 30, .seed = 7, .n_metrics = 2};
    snprintf(info.metric_names[0], sizeof info.metric_names[0], "loss");
    snprintf(info.metric_names[1], sizeof info.metric_names[1], "accuracy");
    info.metric_values[0] = 0.625;
    info.metric_values[1] = 0.75;
    if (nn_ckpt_save(f->ckpt, &f->m, &info, f->params, NULL) != 0) {
        fprintf(stderr, "checkpoint: %s\n", err_msg());
        return -1;
    }
    return 0;
}

static void fx_free(fixture_t *f) {
    tl_tmpdir_done(f->work);
    nn_model_free(&f->m);
    free(f->params);
}

/* Every image of DIR/split decoded and resized without augmentation to h x w, in index order. */
static int fx_load_split(const char *dir, const char *split, int h, int w, uint8_t **images,
                         uint8_t **labels, int *n) {
    ds_split_t ds = {0};
    int64_t ignored = 0;
    if (ds_index(dir, split, 2, &ds, &ignored) != 0) return -1;
    size_t sz = (size_t)h * w * 3;
    *images = malloc((size_t)ds.n_files * sz);
    *labels = malloc((size_t)ds.n_files);
    img_t im = {0};
    img_decode_opts_t o;
    img_decode_opts_default(&o, w, h);
    int rc = *images && *labels ? 0 : -1;
    for (int64_t i = 0; rc == 0 && i < ds.n_files; i++) {
        rc = img_decode_file(ds.files[i].path, &o, &im);
        if (rc == 0) img_warp(&im, h, w, NULL, FILL_NEAREST, 0.0, *images + i * sz);
        (*labels)[i] = (uint8_t)ds.files[i].label;
    }
    *n = (int)ds.n_files;
    img_free(&im);
    ds_free(&ds);
    return rc;
}

/* The ref backend's forward pass: logits of n images; layer_out (if not NULL) gets layer `layer`'s
 * output for the last image passed. */
static int fx_ref_forward(const nn_model_t *m, const float *params, const uint8_t *images, int n,
                          float *logits, int layer, float *layer_out) {
    const nn_backend_t *be = nn_backend_find("ref");
    void *ctx = NULL;
    if (!be || be->create(m, n, NULL, &ctx) != 0) return -1;
    int rc = be->set_params(ctx, params, NULL) == 0 && be->predict(ctx, images, n, logits) == 0 &&
                     (!layer_out || be->layer_output(ctx, layer, layer_out) == 0)
                 ? 0
                 : -1;
    be->destroy(&ctx);
    return rc;
}

/* A PNG read back: width, height, and (if rgb is not NULL) its pixels as 8-bit RGB (g_free them). */
static int fx_read_png(const char *path, int *w, int *h, uint8_t **rgb) {
    VipsImage *im = vips_image_new_from_file(path, NULL);
    if (!im) {
        fprintf(stderr, "%s: %s\n", path, vips_error_buffer());
        vips_error_clear();
        return -1;
    }
    *w = vips_image_get_width(im);
    *h = vips_image_get_height(im);
    int rc = vips_image_get_bands(im) == 3 && vips_image_get_format(im) == VIPS_FORMAT_UCHAR ? 0 : -1;
    if (rc == 0) {
        size_t size = 0;
        void *px = vips_image_write_to_memory(im, &size);   /* decodes every pixel */
        rc = px && size == (size_t)*w * *h * 3 ? 0 : -1;
        if (rgb && rc == 0) *rgb = px;
        else g_free(px);
    }
    g_object_unref(im);
    return rc;
}

#endif
