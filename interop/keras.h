/* keras.h: Keras model files, read and written, so that a model trained here opens in Keras and a
 * model trained in Keras opens here. Two formats (docs/keras.md):
 *   .h5     the legacy HDF5 file of model.save('x.h5'): Keras 2 / tf.keras (the tutorial's era, back
 *           to Keras 2.0's configs) and Keras 3
 *   .keras  Keras 3's zip: config.json, metadata.json and model.weights.h5
 * A Keras file maps onto this project's spec language (docs/model-spec.md): a Sequential model of
 * Conv2D ('valid', stride 1), MaxPooling2D, Flatten, Dropout and Dense layers. The weights need no
 * conversion: both sides keep HWIO kernels, (in, out) dense kernels and flatten in height-width-
 * channel order. */
#ifndef PAWPIPE_KERAS_H
#define PAWPIPE_KERAS_H

#include "nn/checkpoint.h"
#include "nn/model.h"

typedef enum { MODEL_FILE_CHECKPOINT = 0, MODEL_FILE_KERAS_H5, MODEL_FILE_KERAS_ZIP } model_file_kind_t;

/* What a file is, by its first bytes (HDF5's signature, a zip's local header); anything else is taken
 * for a checkpoint (whose reader then says what is wrong with it). */
model_file_kind_t model_file_kind(const char *path);

/* Load any model file: a checkpoint (nn_ckpt_load), or a Keras file, whose spec is made from its
 * config (the layers; its RMSprop settings when it has them; pawpipe's defaults for the rest) and
 * whose weights are read; its optimizer state is not (rms zeros) and info is zeros (epoch 0, step 0).
 * Same contract as nn_ckpt_load: 0, or -1 with err_msg() "PATH: reason" and nothing to free.
 * A Keras file is read in a child process with a time limit: a file that makes libhdf5 crash or hang
 * is refused with an error, and cannot take the caller down. */
int model_file_load(const char *path, nn_model_t *m, nn_ckpt_info_t *info, float **params, float **rms);

/* Write model m with its params as a Keras file, .h5 or .keras by path's extension, so that
 * keras.models.load_model rebuilds the same compiled Sequential (RMSprop with the spec's settings)
 * with these weights. With rms (may be NULL) and info the optimizer state goes too: iterations =
 * info->step, the RMSprop velocities = rms. Written to PATH.tmp, then renamed. 0 / -1 + err_msg(). */
int keras_export(const char *path, const nn_model_t *m, const nn_ckpt_info_t *info, const float *params,
                 const float *rms);

#endif
