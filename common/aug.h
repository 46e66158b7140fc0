/* aug.h: augmentation settings of a model spec (Keras ImageDataGenerator semantics, docs/augmentation.md).
 * Shared by the spec parser (nn/), the job message (proto/) and the sampler (image/). */
#ifndef PAWPIPE_AUG_H
#define PAWPIPE_AUG_H

typedef enum { FILL_NEAREST = 0, FILL_CONSTANT, FILL_REFLECT, FILL_WRAP } fill_mode_t;

typedef struct {
    int enabled;               /* 0: plain resize, every field below ignored                     */
    double rotation_range;     /* degrees: theta ~ U(-r, r)                                      */
    double width_shift_range;  /* fraction of the width: ~ U(-r, r) * width                      */
    double height_shift_range; /* fraction of the height                                         */
    double shear_range;        /* degrees: shear ~ U(-r, r)                                      */
    double zoom_lo, zoom_hi;   /* zx, zy ~ U(lo, hi) independently; >1 zooms out                 */
    int horizontal_flip;       /* p = 0.5                                                        */
    int vertical_flip;         /* p = 0.5                                                        */
    fill_mode_t fill_mode;
    double cval;               /* fill value for FILL_CONSTANT, 0..255                            */
} aug_params_t;

const char *fill_mode_name(fill_mode_t m);
int fill_mode_parse(const char *s, fill_mode_t *out);   /* 0, or -1 for an unknown name */

#endif
