/* valset.c: decode a split once into one uint8 NHWC buffer (plain resize, no augmentation). */
#include "evaluator/valset.h"

#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "image/dataset.h"

int image_reader_read(image_reader_t *r, const char *path, int h, int w, uint8_t *out) {
    size_t len = 0;
    TRY(ds_read_file(path, &r->file, &r->file_cap, &len));
    img_decode_opts_t opts;
    img_decode_opts_default(&opts, w, h);
    if (img_decode(r->file, len, &opts, &r->im) != 0) {
        err_prepend("%s", path);
        return -1;
    }
    img_warp(&r->im, h, w, NULL, FILL_NEAREST, 0.0, out);
    return 0;
}

void image_reader_free(image_reader_t *r) {
    free(r->file);
    img_free(&r->im);
    memset(r, 0, sizeof *r);
}

void valset_free(valset_t *v) {
    free(v->images);
    free(v->labels);
    memset(v, 0, sizeof *v);
}

int valset_is(const valset_t *v, const char *dir, const char *split, int h, int w, int64_t max_images) {
    return v->images && v->h == h && v->w == w && v->max_images == max_images &&
           strcmp(v->dir, dir) == 0 && strcmp(v->split, split) == 0;
}

int valset_load(valset_t *v, const char *dir, const char *split, int h, int w, int64_t max_images) {
    valset_free(v);
    CHECK(h > 0 && w > 0 && max_images >= 0);
    CHECK(strlen(dir) < sizeof v->dir && strlen(split) < sizeof v->split, "data set path too long");
    ds_split_t ds = {0};
    int64_t ignored = 0;
    TRY(ds_index(dir, split, 2, &ds, &ignored));
    image_reader_t reader = {0};
    int rc = -1;
    CHECK_GOTO(ds.n_classes == 2, done, "%s/%s has %d classes; the evaluator scores a binary classifier",
               dir, split, ds.n_classes);
    int64_t n_take = max_images > 0 && max_images < ds.n_files ? max_images : ds.n_files;
    size_t image_bytes = (size_t)h * (size_t)w * 3;
    v->images = malloc((size_t)n_take * image_bytes);
    v->labels = malloc((size_t)n_take);
    CHECK_GOTO(v->images && v->labels, done, "out of memory for %lld images of %dx%d",
               (long long)n_take, w, h);
    snprintf(v->dir, sizeof v->dir, "%s", dir);
    snprintf(v->split, sizeof v->split, "%s", split);
    for (int k = 0; k < 2; k++) snprintf(v->classes[k], sizeof v->classes[k], "%s", ds.classes[k]);
    v->h = h;
    v->w = w;
    v->max_images = max_images;
    v->n_files = ds.n_files;

    double t0 = now_s();
    for (int64_t i = 0; i < n_take; i++) {
        /* Evenly spread over the list sorted by (class, name): i * n_files / n_take. */
        const ds_file_t *f = &ds.files[(i * ds.n_files) / n_take];
        if (image_reader_read(&reader, f->path, h, w, v->images + (size_t)v->n * image_bytes) != 0) {
            LOG_W("%s: left out of the %s set: %s", f->rel, split, err_msg());
            v->n_bad++;
            continue;
        }
        v->labels[v->n++] = (uint8_t)f->label;
    }
    CHECK_GOTO(v->n > 0, done, "none of the %lld images of %s/%s could be decoded", (long long)n_take,
               dir, split);
    int64_t n_class1 = 0;
    for (int64_t i = 0; i < v->n; i++) n_class1 += v->labels[i];
    LOG_I("%s set: %lld of %lld images (%s %lld, %s %lld) decoded and resized to %dx%d in %.1f s%s",
          split, (long long)v->n, (long long)ds.n_files, ds.classes[0], (long long)(v->n - n_class1),
          ds.classes[1], (long long)n_class1, w, h, now_s() - t0,
          v->n_bad ? ", some left out (see above)" : "");
    rc = 0;
done:
    image_reader_free(&reader);
    ds_free(&ds);
    if (rc != 0) {
        free(v->images);
        free(v->labels);
        memset(v, 0, sizeof *v);
    }
    return rc;
}
