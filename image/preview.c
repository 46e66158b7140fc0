/* preview.c: augmentation previews, built from the same decode and sampler as the training batches. */
#include "image/preview.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/rng.h"
#include "image/dataset.h"
#include "image/grid.h"
#include "image/image.h"

int preview_grid(const char *data_dir, const char *out_png, int n, uint64_t seed, const aug_params_t *p) {
    CHECK(n >= 1 && n <= 400, "preview of %d images: choose 1 to 400", n);
    ds_split_t ds;
    TRY(ds_index(data_dir, NULL, 1, &ds, NULL));
    int rc = -1, cols = (int)ceil(sqrt((double)n)), rows = (n + cols - 1) / cols;
    img_decode_opts_t o;
    img_decode_opts_default(&o, PREVIEW_TILE, PREVIEW_TILE);
    img_t im = {0};
    uint8_t tile[PREVIEW_TILE * PREVIEW_TILE * 3];
    grid_t *g = grid_new(cols, rows, PREVIEW_TILE, PREVIEW_TILE, 4);
    int64_t *order = malloc((size_t)ds.n_files * sizeof *order);
    CHECK_GOTO(g != NULL && order != NULL, done, "preview of %s", data_dir);
    /* The first n of a seeded Fisher-Yates shuffle. */
    rng_t r;
    rng_init(&r, seed, 1);
    for (int64_t i = 0; i < ds.n_files; i++) order[i] = i;
    for (int k = 0; k < n && k < ds.n_files; k++) {
        int64_t j = k + (int64_t)(rng_uniform(&r, 0.0, 1.0) * (double)(ds.n_files - k));
        int64_t tmp = order[k];
        order[k] = order[j];
        order[j] = tmp;
        const ds_file_t *f = &ds.files[order[k]];
        if (img_decode_file(f->path, &o, &im) != 0) goto done;
        img_xform_t t;
        img_xform_draw(p, PREVIEW_TILE, PREVIEW_TILE, rng_derive(seed, (uint64_t)k), &t);
        img_warp(&im, PREVIEW_TILE, PREVIEW_TILE, &t, p->fill_mode, p->cval, tile);
        const char *base = strrchr(f->rel, '/');
        char label[160];
        snprintf(label, sizeof label, "%s: %s", ds.classes[f->label], base ? base + 1 : f->rel);
        if (grid_put(g, k, tile, label) != 0) goto done;
    }
    char title[256];
    snprintf(title, sizeof title, "%d %s, seed %llu", n < ds.n_files ? n : (int)ds.n_files,
             p->enabled ? "augmented samples" : "samples (no augmentation)", (unsigned long long)seed);
    if (grid_set_title(g, title) != 0 || grid_save(g, out_png) != 0) goto done;
    rc = 0;
done:
    free(order);
    grid_destroy(&g);
    img_free(&im);
    ds_free(&ds);
    return rc;
}

int preview_augment(const char *image_path, const char *out_png, const aug_params_t *p, uint64_t seed) {
    img_decode_opts_t o;
    img_decode_opts_default(&o, PREVIEW_TILE, PREVIEW_TILE);
    img_t im = {0};
    TRY(img_decode_file(image_path, &o, &im));
    int rc = -1;
    uint8_t tile[PREVIEW_TILE * PREVIEW_TILE * 3];
    grid_t *g = grid_new(5, 5, PREVIEW_TILE, PREVIEW_TILE, 4);
    CHECK_GOTO(g != NULL, done, "preview of %s", image_path);
    for (int k = 0; k < 25; k++) {
        img_xform_t t;
        img_xform_draw(p, PREVIEW_TILE, PREVIEW_TILE, rng_derive(seed, (uint64_t)k), &t);
        img_warp(&im, PREVIEW_TILE, PREVIEW_TILE, &t, p->fill_mode, p->cval, tile);
        if (grid_put(g, k, tile, NULL) != 0) goto done;
    }
    const char *base = strrchr(image_path, '/');
    if (grid_set_title(g, base ? base + 1 : image_path) != 0 || grid_save(g, out_png) != 0) goto done;
    rc = 0;
done:
    grid_destroy(&g);
    img_free(&im);
    return rc;
}
