/* model.c: shape inference and the parameter layout of a parsed spec, its named parameter views, and
 * the comparison of two models (nn_model_same). */
#include "nn/model.h"

#include <string.h>

#include "common/check.h"
#include "nn/checkpoint.h"
#include "nn/spec_ini.h"

#define NN_MAX_PARAMS ((uint64_t)1 << 31)   /* 8 GiB of floats: far beyond any model here */

const char *nn_layer_type_name(nn_layer_type_t t) {
    switch (t) {
    case NN_CONV2D: return "conv2d";
    case NN_MAXPOOL2D: return "max_pooling2d";
    case NN_FLATTEN: return "flatten";
    case NN_DENSE: return "dense";
    case NN_DROPOUT: return "dropout";
    }
    return "?";
}

const char *nn_layer_class_name(nn_layer_type_t t) {
    switch (t) {
    case NN_CONV2D: return "Conv2D";
    case NN_MAXPOOL2D: return "MaxPooling2D";
    case NN_FLATTEN: return "Flatten";
    case NN_DENSE: return "Dense";
    case NN_DROPOUT: return "Dropout";
    }
    return "?";
}

const char *nn_act_name(nn_act_t a) {
    switch (a) {
    case NN_ACT_NONE: return "linear";
    case NN_ACT_RELU: return "relu";
    case NN_ACT_SIGMOID: return "sigmoid";
    }
    return "?";
}

size_t nn_layer_out_size(const nn_layer_t *l) { return (size_t)l->out_h * l->out_w * l->out_c; }

/* One layer's output shape and parameter counts from its input shape. 0 / -1 (label:line: ...). */
static int infer_layer(nn_layer_t *l, int flat_in, const char *label) {
    int h = l->in_h, w = l->in_w, c = l->in_c;
    const char *name = l->name;
    l->flat = flat_in;
    l->w_count = l->b_count = 0;
    switch (l->type) {
    case NN_CONV2D:
    case NN_MAXPOOL2D: {
        const char *what = l->type == NN_CONV2D ? "conv2d" : "max_pooling2d";
        int k = l->type == NN_CONV2D ? l->kernel : l->pool;
        if (flat_in)
            return spec_error(label, l->line, "layer %s (%s) needs a feature map, but its input is flat (%d features, "
                              "after flatten)", name, what, c);
        if (k > h || k > w)
            return spec_error(label, l->line, "layer %s (%s): a %dx%d %s does not fit its %dx%dx%d input", name,
                              what, k, k, l->type == NN_CONV2D ? "kernel" : "pool", h, w, c);
        if (l->type == NN_CONV2D) {
            l->out_h = h - k + 1, l->out_w = w - k + 1, l->out_c = l->filters;
            l->w_count = (size_t)k * k * c * l->filters;
            l->b_count = (size_t)l->filters;
        } else {
            l->out_h = h / k, l->out_w = w / k, l->out_c = c;   /* 'valid': Keras floors */
        }
        return 0;
    }
    case NN_FLATTEN:
        if (flat_in) return spec_error(label, l->line, "layer %s (flatten): its input is already flat", name);
        if ((uint64_t)h * w * c > (1u << 30))
            return spec_error(label, l->line, "layer %s (flatten): %dx%dx%d is too many features", name, h, w, c);
        l->out_h = l->out_w = 1, l->out_c = h * w * c;
        l->flat = 1;
        return 0;
    case NN_DROPOUT:
        l->out_h = h, l->out_w = w, l->out_c = c;
        return 0;
    case NN_DENSE:
        if (!flat_in)
            return spec_error(label, l->line, "layer %s (dense) needs a flat input, but gets a %dx%dx%d feature map: "
                              "put a flatten layer before it", name, h, w, c);
        l->out_h = l->out_w = 1, l->out_c = l->units;
        l->w_count = (size_t)c * l->units;
        l->b_count = (size_t)l->units;
        return 0;
    }
    return spec_error(label, l->line, "layer %s: unknown type %d", name, (int)l->type);
}

int nn_model_infer(nn_model_t *m, const char *label) {
    int h = m->in_h, w = m->in_w, c = m->in_c, flat = 0;
    uint64_t off = 0;
    for (int i = 0; i < m->n_layers; i++) {
        nn_layer_t *l = &m->layers[i];
        l->in_h = h, l->in_w = w, l->in_c = c;
        if (infer_layer(l, flat, label)) return -1;
        l->w_off = (size_t)off;
        l->b_off = (size_t)(off + l->w_count);
        off += (uint64_t)l->w_count + l->b_count;
        if (off > NN_MAX_PARAMS)
            return spec_error(label, l->line, "layer %s: the model has more than %llu parameters", l->name,
                              (unsigned long long)NN_MAX_PARAMS);
        h = l->out_h, w = l->out_w, c = l->out_c, flat = l->flat;
    }
    m->n_params = (size_t)off;
    const nn_layer_t *last = &m->layers[m->n_layers - 1];
    if (strcmp(m->loss, "binary_crossentropy") == 0 &&
        (last->type != NN_DENSE || last->units != 1 || last->act != NN_ACT_SIGMOID)) {
        char got[64];
        if (last->type == NN_DENSE) snprintf(got, sizeof got, "dense, units = %d, %s", last->units, nn_act_name(last->act));
        else snprintf(got, sizeof got, "%s", nn_layer_type_name(last->type));
        return spec_error(label, last->line, "last layer %s: binary_crossentropy needs a dense layer with units = 1 "
                          "and activation = sigmoid (got %s)", last->name, got);
    }
    return 0;
}

int nn_param_views(const nn_model_t *m, nn_param_view_t *views, int cap) {
    int n = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer_t *l = &m->layers[i];
        if (l->w_count == 0) continue;
        for (int part = 0; part < 2; part++, n++) {
            if (n >= cap) continue;
            nn_param_view_t *v = &views[n];
            memset(v, 0, sizeof *v);
            snprintf(v->name, sizeof v->name, "%s.%s", l->name, part ? "bias" : "kernel");
            if (part) {
                v->ndim = 1, v->shape[0] = (int64_t)l->b_count;
                v->offset = l->b_off, v->count = l->b_count;
            } else {
                if (l->type == NN_CONV2D)   /* HWIO */
                    v->ndim = 4, v->shape[0] = v->shape[1] = l->kernel, v->shape[2] = l->in_c, v->shape[3] = l->filters;
                else                        /* (in, out) */
                    v->ndim = 2, v->shape[0] = l->in_c, v->shape[1] = l->units;
                v->offset = l->w_off, v->count = l->w_count;
            }
        }
    }
    return n;
}

/* "conv2d_1 (conv2d, 32 filters, 3x3, relu) -> 148x148x32"; with_rate 0 leaves a dropout's rate out. */
static void describe(const nn_layer_t *l, int with_rate, char *buf, size_t cap) {
    char hyper[64] = "";
    switch (l->type) {
    case NN_CONV2D: snprintf(hyper, sizeof hyper, ", %d filters, %dx%d, %s", l->filters, l->kernel, l->kernel,
                             nn_act_name(l->act)); break;
    case NN_MAXPOOL2D: snprintf(hyper, sizeof hyper, ", %dx%d", l->pool, l->pool); break;
    case NN_DENSE: snprintf(hyper, sizeof hyper, ", %d units, %s", l->units, nn_act_name(l->act)); break;
    case NN_DROPOUT:
        if (with_rate) snprintf(hyper, sizeof hyper, ", rate %g", l->rate);
        break;
    case NN_FLATTEN: break;
    }
    snprintf(buf, cap, "%s (%s%s) -> %dx%dx%d", l->name, nn_layer_type_name(l->type), hyper, l->out_h, l->out_w,
             l->out_c);
}

static int same(const nn_model_t *a, const nn_model_t *b, int with_rate) {
    if (a->in_h != b->in_h || a->in_w != b->in_w || a->in_c != b->in_c) {
        err_set("models differ: input %dx%dx%d vs %dx%dx%d", a->in_h, a->in_w, a->in_c, b->in_h, b->in_w, b->in_c);
        return -1;
    }
    for (int i = 0; i < a->n_layers && i < b->n_layers; i++) {
        const nn_layer_t *x = &a->layers[i], *y = &b->layers[i];
        char dx[160], dy[160];
        describe(x, with_rate, dx, sizeof dx);
        describe(y, with_rate, dy, sizeof dy);
        /* layer names may differ (a Keras file's "conv2d" is a spec's "conv2d_1"): compare from " (" */
        if (strcmp(strstr(dx, " ("), strstr(dy, " (")) != 0 || x->flat != y->flat || (with_rate && x->rate != y->rate)) {
            err_set("models differ at layer %d: %s vs %s", i + 1, dx, dy);
            return -1;
        }
    }
    if (a->n_layers != b->n_layers) {
        const nn_model_t *longer = a->n_layers > b->n_layers ? a : b;
        int n = a->n_layers < b->n_layers ? a->n_layers : b->n_layers;
        err_set("models differ: %d vs %d layers (the first extra one is %s)", a->n_layers, b->n_layers,
                longer->layers[n].name);
        return -1;
    }
    ASSERT(a->n_params == b->n_params);   /* same layers and shapes give the same layout */
    return 0;
}

int nn_model_same(const nn_model_t *a, const nn_model_t *b) { return same(a, b, 1); }

int nn_model_same_weights(const nn_model_t *a, const nn_model_t *b) { return same(a, b, 0); }
