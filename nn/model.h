/* model.h: a network is data. A spec file (models/NAME.ini) is parsed into an nn_model_t: the layer list
 * with hyperparameters, shapes inferred at parse time, and every parameter's offset in the single
 * contiguous parameter buffer (gradients and RMSprop state share that layout). */
#ifndef PAWPIPE_MODEL_H
#define PAWPIPE_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/aug.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NN_MAX_LAYERS 32
#define NN_NAME_MAX 64

typedef enum { NN_CONV2D = 1, NN_MAXPOOL2D, NN_FLATTEN, NN_DENSE, NN_DROPOUT } nn_layer_type_t;
typedef enum { NN_ACT_NONE = 0, NN_ACT_RELU, NN_ACT_SIGMOID } nn_act_t;

typedef struct {
    char name[NN_NAME_MAX];   /* section name, e.g. "conv2d_1"; tensors are "<name>.kernel" / ".bias" */
    nn_layer_type_t type;
    nn_act_t act;
    int filters, kernel;      /* conv2d: kernel x kernel, stride 1, 'valid' padding                */
    int pool;                 /* maxpool2d: pool x pool window, stride pool                         */
    int units;                /* dense                                                              */
    double rate;              /* dropout: fraction dropped                                          */
    int in_h, in_w, in_c;     /* input shape (dense: 1 x 1 x features)                              */
    int out_h, out_w, out_c;  /* output shape                                                       */
    size_t w_off, w_count;    /* kernel: offset and count in the parameter buffer (floats)
                                 conv2d: HWIO (kh, kw, in_c, filters); dense: (in, units)           */
    size_t b_off, b_count;    /* bias                                                               */
    int line;                 /* line of the section header in the spec                             */
    int flat;                 /* 1: the output is a vector (after flatten): out_h = out_w = 1,
                                 out_c features; 0: an (out_h, out_w, out_c) feature map            */
} nn_layer_t;

typedef struct {
    char type[32];            /* "rmsprop"                                                          */
    double learning_rate, rho, epsilon;
} nn_optim_t;

typedef struct {
    int batch_size;           /* 20                                                                 */
    int steps_per_epoch;      /* 100; 0 = one pass over the training split                          */
    int epochs;               /* 30 or 100                                                          */
    int validation_steps;     /* 50; 0 = the whole validation split                                 */
    uint64_t seed;
} nn_train_cfg_t;

typedef struct {
    char name[NN_NAME_MAX];
    int in_h, in_w, in_c;     /* input 150 x 150 x 3                                                */
    int n_layers;
    nn_layer_t layers[NN_MAX_LAYERS];
    size_t n_params;
    char loss[32];            /* "binary_crossentropy"                                              */
    nn_optim_t optim;
    nn_train_cfg_t train;
    aug_params_t aug;         /* aug.enabled == 0 when the spec has no [augmentation] section       */
    char *spec_text;          /* the spec as read (owned), carried in checkpoints                   */
} nn_model_t;

/* Parse a spec (format: docs/model-spec.md). On error returns -1, m holds nothing to free, and
 * err_msg() is "FILE:LINE: problem", e.g. "models/bad.ini:14: unknown layer type 'conv3d'", or
 * names the layer (and its section's line) whose shapes do not fit. nn_model_parse takes the text
 * itself; label stands for the file name in messages. */
int nn_model_load(const char *path, nn_model_t *m);
int nn_model_parse(const char *text, const char *label, nn_model_t *m);
void nn_model_free(nn_model_t *m);      /* frees spec_text and NULLs it; safe to call twice */

/* Names as written in specs ("conv2d", "max_pooling2d", ...; "relu", "sigmoid", "linear") and Keras'
 * class names ("Conv2D", "MaxPooling2D", ...). */
const char *nn_layer_type_name(nn_layer_type_t t);
const char *nn_layer_class_name(nn_layer_type_t t);
const char *nn_act_name(nn_act_t a);

/* Floats in one image's output of layer l: out_h * out_w * out_c. */
size_t nn_layer_out_size(const nn_layer_t *l);

/* Floating-point operations of one training step on batch images: the multiply-adds (2 FLOPs each)
 * of the conv2d and dense layers' forward, backward-filter and backward-data products (none for the
 * first layer's input); element-wise work is not counted. For TFLOP/s figures. */
double nn_train_flops(const nn_model_t *m, int batch);

/* The Keras-style table: Layer (type), Output Shape, Param #, then Total/Trainable params. */
void nn_model_summary(const nn_model_t *m, FILE *out);

/* Named views of the parameter buffer, in layer order: "conv2d_1.kernel" (3,3,3,32), ... */
typedef struct {
    char name[NN_NAME_MAX + 16];
    int ndim;
    int64_t shape[4];
    size_t offset, count;     /* in floats */
} nn_param_view_t;

#define NN_MAX_PARAM_VIEWS (2 * NN_MAX_LAYERS)

/* Fills at most cap views (views may be NULL when cap is 0) and returns how many the model has
 * (kernel then bias of each layer with parameters; views tile [0, n_params) in order). */
int nn_param_views(const nn_model_t *m, nn_param_view_t *views, int cap);

/* Glorot-uniform kernels, zero biases, as Keras does; a pure function of seed. */
void nn_init_params(const nn_model_t *m, uint64_t seed, float *params);

#ifdef __cplusplus
}
#endif

#endif
