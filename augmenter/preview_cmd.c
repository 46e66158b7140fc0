/* preview_cmd.c: --preview-grid and --preview-augment: which augmentation settings to show, then the
 * image library's preview pictures. */
#include "augmenter/preview_cmd.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "common/log.h"
#include "image/preview.h"
#include "nn/model.h"

#define DEFAULT_SPEC "models/model2.ini"

/* The Keras tutorial's ImageDataGenerator(rotation_range=40, width_shift_range=0.2,
 * height_shift_range=0.2, shear_range=0.2, zoom_range=0.2, horizontal_flip=True, fill_mode='nearest'). */
static const aug_params_t keras_tutorial = {
    .enabled = 1, .rotation_range = 40, .width_shift_range = 0.2, .height_shift_range = 0.2,
    .shear_range = 0.2, .zoom_lo = 0.8, .zoom_hi = 1.2, .horizontal_flip = 1, .fill_mode = FILL_NEAREST,
};

static int settings(const char *model, aug_params_t *p, uint64_t *seed) {
    *p = keras_tutorial;
    *seed = 1;
    if (!model && access(DEFAULT_SPEC, R_OK) == 0) model = DEFAULT_SPEC;
    if (!model) {
        LOG_I("no --model and no %s here: the Keras tutorial's augmentation", DEFAULT_SPEC);
        return 0;
    }
    nn_model_t m;
    memset(&m, 0, sizeof m);
    TRY(nn_model_load(model, &m));
    *p = m.aug;
    *seed = m.train.seed;
    if (m.in_h != 150 || m.in_w != 150)
        LOG_W("%s: input %dx%d; previews are drawn at 150x150", model, m.in_w, m.in_h);
    if (!m.aug.enabled) LOG_I("%s has no [augmentation]: the previews show plain resizes", model);
    else LOG_I("augmentation of %s", model);
    nn_model_free(&m);
    return 0;
}

int preview_cmd_grid(const char *out_png, const char *data_dir, const char *model) {
    aug_params_t p;
    uint64_t seed;
    TRY(settings(model, &p, &seed));
    char train[4096];
    snprintf(train, sizeof train, "%s/train", data_dir);
    TRY(preview_grid(train, out_png, PREVIEW_GRID_SAMPLES, seed, &p));
    LOG_I("wrote %s: %d augmented samples of %s", out_png, PREVIEW_GRID_SAMPLES, train);
    return 0;
}

int preview_cmd_augment(const char *image, const char *out_png, const char *model) {
    aug_params_t p;
    uint64_t seed;
    TRY(settings(model, &p, &seed));
    TRY(preview_augment(image, out_png, &p, seed));
    LOG_I("wrote %s: 25 augmentations of %s", out_png, image);
    return 0;
}
