/* preview_cmd.h: the augmenter's two preview modes, with the augmentation settings of a model spec
 * (or the Keras tutorial's when there is none). */
#ifndef PAWPIPE_PREVIEW_CMD_H
#define PAWPIPE_PREVIEW_CMD_H

#define PREVIEW_GRID_SAMPLES 16

/* model: a spec path, or NULL for models/model2.ini when it exists, else the built-in settings.
 * Both need img_init(). 0 / -1 + err_msg(). */
int preview_cmd_grid(const char *out_png, const char *data_dir, const char *model);
int preview_cmd_augment(const char *image, const char *out_png, const char *model);

#endif
