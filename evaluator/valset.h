/* valset.h: the images a checkpoint is scored on: one split of a data set, decoded once, resized to
 * the model's input size without augmentation, kept in one uint8 NHWC buffer with their labels. */
#ifndef PAWPIPE_EVAL_VALSET_H
#define PAWPIPE_EVAL_VALSET_H

#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

typedef struct {
    char dir[512], split[32];
    int h, w;                  /* every image is h x w x 3                                        */
    int64_t max_images;        /* as asked: 0 = all                                              */
    int64_t n_files;           /* image files in the split                                        */
    int64_t n;                 /* images loaded (files that failed to decode are left out)        */
    int64_t n_bad;
    uint8_t *images;           /* n x h x w x 3                                                    */
    uint8_t *labels;           /* n, 0 or 1                                                        */
    char classes[2][128];      /* the split's class folders, sorted: class 0 and class 1          */
} valset_t;

/* Index DIR/split (exactly two classes), take every file or, when max_images > 0 and smaller, that
 * many spread evenly over the sorted list (so both classes keep their share), decode each once and
 * resize it to h x w. Files that cannot be decoded are logged and left out. 0 / -1 + err_msg().
 * *v must be zeroed or previously loaded (its buffers are freed first). */
int valset_load(valset_t *v, const char *dir, const char *split, int h, int w, int64_t max_images);

/* 1 when *v already holds exactly what valset_load(v, dir, split, h, w, max_images) would load. */
int valset_is(const valset_t *v, const char *dir, const char *split, int h, int w, int64_t max_images);

void valset_free(valset_t *v);

/* Buffers for reading images one after another (the file's bytes, the decoded image), grown as
 * needed and reused. Zero-initialise; free with image_reader_free. */
typedef struct {
    uint8_t *file;
    size_t file_cap;
    img_t im;
} image_reader_t;

/* How every image the evaluator looks at is prepared: read path, decode it for an h x w target
 * (shrink-on-load) and resize it without augmentation into out (h x w x 3). 0 / -1 + err_msg()
 * naming the file. */
int image_reader_read(image_reader_t *r, const char *path, int h, int w, uint8_t *out);
void image_reader_free(image_reader_t *r);

#endif
