/* keras_internal.h: what the Keras readers and writers share: the config JSON (keras_config.c), the HDF5
 * helpers and the two weight layouts (keras_h5.c), the zip (keras_zip.c). Not for other folders. */
#ifndef PAWPIPE_KERAS_INTERNAL_H
#define PAWPIPE_KERAS_INTERNAL_H

#include <hdf5.h>
#include <jansson.h>
#include <stddef.h>

#include "nn/checkpoint.h"
#include "nn/model.h"

/* The Keras release whose files the writers mirror, and which the tests load them with. */
#define KERAS_VERSION_WRITTEN "3.15.1"

/* --- config (keras_config.c) ----------------------------------------------------------------- */

/* A spec (docs/model-spec.md) for a Keras model config ({"class_name": "Sequential", ...}, any
 * Keras 2.0 to 3 style) and its training or compile config (optimizer; may be NULL). *spec is
 * malloc'd. -1 + err_msg() naming the first layer that cannot be mapped, and why. */
int keras_spec_from_config(const json_t *model_config, const json_t *training_config, const char *source,
                           char **spec);

/* The model config of m: for .h5 (legacy: class_name and config only; InputLayer with
 * batch_input_shape, which Keras 3 and tf.keras both read) or for .keras (module, registered_name,
 * build_config, compile_config with the optimizer). New references; NULL when out of memory. */
json_t *keras_h5_model_config(const nn_model_t *m);
json_t *keras_zip_config(const nn_model_t *m);
/* The legacy file's training_config: loss, metrics, the RMSprop optimizer. */
json_t *keras_h5_training_config(const nn_model_t *m);

/* The name Keras 3 gives layer l's group in model.weights.h5: its class name in snake_case and a
 * counter per class in model order ("conv2d", "conv2d_1", ..., "dense", "dense_1"). */
void keras_zip_layer_path(const nn_model_t *m, int l, char *out, size_t cap);

/* --- HDF5 (keras_h5.c) -------------------------------------------------------------------------- */

/* Turn off libhdf5's printing of its error stack (once per process); errors are taken with
 * keras_h5_error. */
void keras_h5_quiet(void);
/* Set err_msg() to "what: <libhdf5's innermost error description>"; returns -1. */
int keras_h5_error(const char *what);

/* The weights of m read from a .keras model.weights.h5 (layers/<keras_zip_layer_path>/vars/0, 1). */
int keras_h5_read_zip_weights(hid_t file, const nn_model_t *m, float *params);
/* Write m's weights (and optimizer state when rms) in the .keras layout into an open file. */
int keras_h5_write_zip_weights(hid_t file, const nn_model_t *m, const nn_ckpt_info_t *info, const float *params,
                               const float *rms);

/* Read a whole legacy .h5 file: config to spec, spec to model, weights. m and *params as
 * model_file_load; label names the file in messages. */
int keras_h5_load(const char *path, nn_model_t *m, float **params);
int keras_h5_save(const char *path, const nn_model_t *m, const nn_ckpt_info_t *info, const float *params,
                  const float *rms);

/* Rename tmp over path: a written file appears whole or not at all. */
int keras_rename_into_place(const char *tmp, const char *path);

/* --- .keras zip (keras_zip.c) --------------------------------------------------------------------- */
int keras_zip_load(const char *path, nn_model_t *m, float **params);
int keras_zip_save(const char *path, const nn_model_t *m, const nn_ckpt_info_t *info, const float *params,
                   const float *rms);

/* m from a Keras config (keras_spec_from_config, then the spec parsed) and its zeroed params: what
 * every reader does before reading weights. On failure nothing is left to free. */
int keras_model_from_config(const json_t *model_config, const json_t *training_config, const char *path,
                            nn_model_t *m, float **params);
/* How the spec made from path's config is named in messages: "PATH (its Keras config)". */
void keras_spec_label(const char *path, char *out, size_t cap);

#endif
