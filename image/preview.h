/* preview.h: pictures of what the augmentation does, to check it by eye against the Keras tutorial's
 * figures: a grid of augmented training samples, and 25 augmentations of one image. */
#ifndef PAWPIPE_IMAGE_PREVIEW_H
#define PAWPIPE_IMAGE_PREVIEW_H

#include <stdint.h>

#include "common/aug.h"

#define PREVIEW_TILE 150

/* n samples picked at random (from seed) out of data_dir, a folder of class sub-folders such as
 * DATA/train, each decoded and augmented with p as a training batch would be (sample seed derived
 * from seed and its place), labelled with class and file name; written as a PNG grid of 150x150
 * tiles. 0, or -1 with err_msg(). Needs img_init(). */
int preview_grid(const char *data_dir, const char *out_png, int n, uint64_t seed, const aug_params_t *p);

/* A 5x5 grid of 25 augmentations of one image (seeds derived from seed), 150x150 tiles, the file
 * name as the title. 0, or -1 with err_msg(). Needs img_init(). */
int preview_augment(const char *image_path, const char *out_png, const aug_params_t *p, uint64_t seed);

#endif
