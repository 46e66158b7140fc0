/* keras_config.c: Keras model configs (JSON) to specs and back. Reading takes every style from Keras
 * 2.0 (a Sequential's config a bare list of layers, batch_input_shape on the first Conv2D) through
 * tf.keras 2.x (an InputLayer with batch_input_shape) to Keras 3 (batch_shape, module and
 * registered_name, dtype policies as objects). A layer the spec language cannot describe stops the
 * reading with its position, name, class and the setting that does not fit. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/check.h"
#include "interop/keras_internal.h"

/* --- a growing text buffer ------------------------------------------------------------------------ */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} text_t;

static void appendf(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void appendf(text_t *t, const char *fmt, ...) {
    if (t->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = 1;
            return;
        }
        if (t->s && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->oom = 1;
            return;
        }
        t->s = s, t->cap = cap;
    }
}

/* --- reading a config ----------------------------------------------------------------------------- */

typedef struct {
    const char *source;   /* the file, for messages */
    int index;            /* 1-based position of the layer in model.layers (no InputLayer) */
    const char *name, *cls;
} at_t;

static int unmappable(const at_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int unmappable(const at_t *a, const char *fmt, ...) {
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    err_set("%s: layer %d '%s' (%s) cannot be mapped to pawpipe's model spec: %s", a->source, a->index, a->name,
            a->cls, why);
    return -1;
}

/* An integer or a list of equal integers ([3, 3]): 0 and *out, or -1. */
static int square_int(const json_t *v, int *out) {
    if (json_is_integer(v)) {
        *out = (int)json_integer_value(v);
        return json_integer_value(v) == *out ? 0 : -1;
    }
    if (!json_is_array(v) || json_array_size(v) == 0) return -1;
    json_int_t first = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_integer(e)) return -1;
        if (i == 0) first = json_integer_value(e);
        else if (json_integer_value(e) != first) return -1;
    }
    if (first < 1 || first > 65536) return -1;
    *out = (int)first;
    return 0;
}

/* A setting that must be absent, null, or the one value pawpipe has (a string, or an integer pair
 * given as its single value). */
static int require_string(const at_t *a, const json_t *cfg, const char *key, const char *want) {
    const json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v) && strcmp(json_string_value(v), want) == 0) return 0;
    char *shown = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    unmappable(a, "%s = %s (pawpipe has only '%s')", key, shown ? shown : "?", want);
    free(shown);
    return -1;
}

static int require_square(const at_t *a, const json_t *cfg, const char *key, int want) {
    const json_t *v = json_object_get(cfg, key);
    int got;
    if (!v || json_is_null(v) || (square_int(v, &got) == 0 && got == want)) return 0;
    char *shown = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    unmappable(a, "%s = %s (pawpipe has only %d)", key, shown ? shown : "?", want);
    free(shown);
    return -1;
}

static int require_true(const at_t *a, const json_t *cfg, const char *key) {
    const json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v) || json_is_true(v)) return 0;
    return unmappable(a, "%s is false (pawpipe's layers always have it)", key);
}

/* A positive integer setting. */
static int get_count(const at_t *a, const json_t *cfg, const char *key, int *out) {
    const json_t *v = json_object_get(cfg, key);
    if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 65536) {
        *out = (int)json_integer_value(v);
        return 0;
    }
    return unmappable(a, "'%s' is missing or not an integer in [1, 65536]", key);
}

/* relu, sigmoid or linear (also null or absent: linear). Keras 3 may wrap the name in an object whose
 * config is the name. */
static int get_activation(const at_t *a, const json_t *cfg, const char **out) {
    const json_t *v = json_object_get(cfg, "activation");
    if (json_is_object(v)) v = json_object_get(v, "config");
    if (!v || json_is_null(v)) {
        *out = "linear";
        return 0;
    }
    const char *s = json_string_value(v);
    if (s && (!strcmp(s, "relu") || !strcmp(s, "sigmoid") || !strcmp(s, "linear"))) {
        *out = s;
        return 0;
    }
    return unmappable(a, "activation %s (pawpipe has relu, sigmoid and linear)", s ? s : "of an unknown form");
}

/* An input shape [null, H, W, C] (batch_shape, batch_input_shape) or [H, W, C] (shape, input_shape)
 * found in cfg: 1 and dims, 0 when cfg has none, -1 when it has a malformed one. */
static int input_shape_of(const json_t *cfg, int dims[3]) {
    static const char *const keys[] = {"batch_shape", "batch_input_shape", "shape", "input_shape"};
    for (int k = 0; k < 4; k++) {
        const json_t *v = json_object_get(cfg, keys[k]);
        if (!v || json_is_null(v)) continue;
        size_t skip = k < 2 ? 1 : 0;
        if (!json_is_array(v) || json_array_size(v) != 3 + skip) return -1;
        for (int i = 0; i < 3; i++) {
            const json_t *d = json_array_get(v, skip + (size_t)i);
            if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > 8192) return -1;
            dims[i] = (int)json_integer_value(d);
        }
        return 1;
    }
    return 0;
}

/* A section name from a Keras layer name: letters, digits, '_', '.', '-' kept, the rest '_'; one
 * that is taken (or a reserved section's) gets a suffix. */
static void section_name(const char *keras_name, int index, char names[][NN_NAME_MAX], int n, char *out) {
    static const char *const reserved[] = {"model", "optimizer", "loss", "training", "augmentation"};
    char base[NN_NAME_MAX - 8];
    size_t k = 0;
    for (const char *p = keras_name; *p && k + 1 < sizeof base; p++)
        base[k++] = isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-' ? *p : '_';
    base[k] = '\0';
    if (k == 0) snprintf(base, sizeof base, "layer");
    snprintf(out, NN_NAME_MAX, "%s", base);
    for (int attempt = 0;; attempt++) {
        int taken = 0;
        for (int i = 0; i < 5; i++) taken |= strcmp(out, reserved[i]) == 0;
        for (int i = 0; i < n; i++) taken |= strcmp(out, names[i]) == 0;
        if (!taken) return;
        snprintf(out, NN_NAME_MAX, "%s_%d", base, index + attempt);
    }
}

/* The layer list of a Sequential config in any style, and its name. */
static int layer_list(const json_t *model_config, const char *source, const json_t **layers, const char **name) {
    const char *cls = json_string_value(json_object_get(model_config, "class_name"));
    if (!cls) {
        err_set("%s: the model config has no class_name: not a Keras model config", source);
        return -1;
    }
    if (strcmp(cls, "Sequential") != 0) {
        err_set("%s: the model is a Keras %s; pawpipe reads Sequential models only", source, cls);
        return -1;
    }
    const json_t *cfg = json_object_get(model_config, "config");
    *name = "sequential";
    if (json_is_array(cfg)) {   /* Keras 2.0 to 2.2.4: the config is the list itself */
        *layers = cfg;
        return 0;
    }
    *layers = json_object_get(cfg, "layers");
    if (json_is_string(json_object_get(cfg, "name"))) *name = json_string_value(json_object_get(cfg, "name"));
    if (!json_is_array(*layers)) {
        err_set("%s: the Sequential config has no list of layers", source);
        return -1;
    }
    return 0;
}

/* RMSprop settings from a training_config (optimizer_config) or compile_config (optimizer); the
 * defaults of Keras' RMSprop where the file says nothing usable. */
static void optimizer_of(const json_t *tc, double *lr, double *rho, double *eps, const char **note) {
    *lr = 0.001, *rho = 0.9, *eps = 1e-7, *note = NULL;
    if (!tc) {
        *note = "the file has no training config: Keras' RMSprop defaults";
        return;
    }
    const json_t *o = json_object_get(tc, "optimizer_config");
    if (!o) o = json_object_get(tc, "optimizer");
    const char *cls = json_string_value(json_object_get(o, "class_name"));
    if (json_is_string(o)) cls = json_string_value(o);
    if (!cls) {
        *note = "the file names no optimizer: Keras' RMSprop defaults";
        return;
    }
    const char *gt = strchr(cls, '>');   /* "Custom>RMSprop" (tf.keras) */
    if (gt) cls = gt + 1;
    if (strcasecmp(cls, "rmsprop") != 0) {
        *note = "the file's optimizer is not RMSprop: Keras' RMSprop defaults";
        return;
    }
    const json_t *c = json_object_get(o, "config");
    const json_t *v = json_object_get(c, "learning_rate");
    if (!v) v = json_object_get(c, "lr");   /* Keras 2.0 */
    if (json_is_number(v) && json_number_value(v) > 0 && json_number_value(v) <= 10) *lr = json_number_value(v);
    v = json_object_get(c, "rho");
    if (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) < 1) *rho = json_number_value(v);
    v = json_object_get(c, "epsilon");
    if (json_is_number(v) && json_number_value(v) > 0 && json_number_value(v) <= 1) *eps = json_number_value(v);
}

/* One layer's section. */
static int layer_section(const at_t *a, const json_t *cfg, const char *section, text_t *t) {
    const char *cls = a->cls, *act;
    int n, k;
    TRY(require_string(a, cfg, "data_format", "channels_last"));
    if (!strcmp(cls, "Conv2D") || !strcmp(cls, "Convolution2D")) {
        TRY(get_count(a, cfg, "filters", &n));
        const json_t *ks = json_object_get(cfg, "kernel_size");
        if (square_int(ks, &k) != 0) return unmappable(a, "kernel_size is not square (pawpipe's kernels are k x k)");
        TRY(require_square(a, cfg, "strides", 1));
        TRY(require_string(a, cfg, "padding", "valid"));
        TRY(require_square(a, cfg, "dilation_rate", 1));
        TRY(require_square(a, cfg, "groups", 1));
        TRY(require_true(a, cfg, "use_bias"));
        TRY(get_activation(a, cfg, &act));
        appendf(t, "\n[%s]\ntype = conv2d\nfilters = %d\nkernel_size = %d\nactivation = %s\n", section, n, k, act);
    } else if (!strcmp(cls, "MaxPooling2D") || !strcmp(cls, "MaxPool2D")) {
        if (square_int(json_object_get(cfg, "pool_size"), &k) != 0) return unmappable(a, "pool_size is not square");
        TRY(require_square(a, cfg, "strides", k));
        TRY(require_string(a, cfg, "padding", "valid"));
        appendf(t, "\n[%s]\ntype = max_pooling2d\npool_size = %d\n", section, k);
    } else if (!strcmp(cls, "Flatten")) {
        appendf(t, "\n[%s]\ntype = flatten\n", section);
    } else if (!strcmp(cls, "Dropout")) {
        const json_t *r = json_object_get(cfg, "rate");
        if (!json_is_number(r) || json_number_value(r) < 0 || json_number_value(r) >= 1)
            return unmappable(a, "rate is missing or not in [0, 1)");
        const json_t *ns = json_object_get(cfg, "noise_shape");
        if (ns && !json_is_null(ns)) return unmappable(a, "a noise_shape (pawpipe drops single values)");
        appendf(t, "\n[%s]\ntype = dropout\nrate = %.17g\n", section, json_number_value(r));
    } else if (!strcmp(cls, "Dense")) {
        TRY(get_count(a, cfg, "units", &n));
        TRY(require_true(a, cfg, "use_bias"));
        TRY(get_activation(a, cfg, &act));
        appendf(t, "\n[%s]\ntype = dense\nunits = %d\nactivation = %s\n", section, n, act);
    } else {
        return unmappable(a, "pawpipe's layers are Conv2D, MaxPooling2D, Flatten, Dropout and Dense");
    }
    return 0;
}

int keras_spec_from_config(const json_t *model_config, const json_t *training_config, const char *source,
                           char **spec) {
    *spec = NULL;
    const json_t *layers;
    const char *model_name;
    TRY(layer_list(model_config, source, &layers, &model_name));
    text_t body = {0};
    char (*names)[NN_NAME_MAX] = calloc(NN_MAX_LAYERS, NN_NAME_MAX);
    CHECK(names != NULL, "out of memory");
    int dims[3] = {0, 0, 0}, have_input = 0, n = 0, rc = -1;
    for (size_t i = 0; i < json_array_size(layers); i++) {
        const json_t *layer = json_array_get(layers, i);
        const json_t *cfg = json_object_get(layer, "config");
        /* numbered as in Keras' model.layers, which leaves the InputLayer out */
        at_t a = {source, n + 1, json_string_value(json_object_get(cfg, "name")),
                  json_string_value(json_object_get(layer, "class_name"))};
        if (!a.name) a.name = "?";
        CHECK_GOTO(a.cls && json_is_object(cfg), done, "%s: layer %d of the config has no class_name or config",
                   source, a.index);
        int found = input_shape_of(cfg, dims);
        CHECK_GOTO(found >= 0, done, "%s: layer %d '%s' (%s): its input shape is not [height, width, channels]",
                   source, a.index, a.name, a.cls);
        if (found && n > 0) {
            unmappable(&a, "an input shape after the first layer");
            goto done;
        }
        have_input |= found;
        if (!strcmp(a.cls, "InputLayer")) {
            CHECK_GOTO(i == 0 && found, done, "%s: layer %d '%s' (InputLayer) is not first or has no shape", source,
                       a.index, a.name);
            continue;
        }
        CHECK_GOTO(n < NN_MAX_LAYERS, done, "%s: more than %d layers", source, NN_MAX_LAYERS);
        section_name(a.name, n + 1, names, n, names[n]);
        if (layer_section(&a, cfg, names[n], &body) != 0) goto done;
        n++;
    }
    if (!have_input) {   /* Keras 3 may keep it on the Sequential's config alone */
        const json_t *cfg = json_object_get(model_config, "config");
        const json_t *b = json_object_get(cfg, "build_input_shape");
        json_t *wrap = b ? json_pack("{sO}", "batch_shape", b) : NULL;
        have_input = wrap && input_shape_of(wrap, dims) == 1;
        json_decref(wrap);
    }
    CHECK_GOTO(have_input, done,
               "%s: the config gives no input shape (no InputLayer, no batch_input_shape on the first layer)", source);
    CHECK_GOTO(n > 0, done, "%s: the Sequential has no layers", source);

    double lr, rho, eps;
    const char *note;
    optimizer_of(training_config, &lr, &rho, &eps, &note);
    char name[NN_NAME_MAX];
    section_name(model_name, 0, NULL, 0, name);
    text_t t = {0};
    appendf(&t, "; made from the Keras model config in %s: its layers%s; the [training] settings are\n"
                "; pawpipe's defaults (docs/keras.md)\n", source, note ? "" : " and its RMSprop settings");
    if (note) appendf(&t, "; optimizer: %s\n", note);
    appendf(&t, "[model]\nname = %s\ninput = %d, %d, %d\n\n[optimizer]\ntype = rmsprop\nlearning_rate = %.17g\n"
                "rho = %.17g\nepsilon = %.17g\n\n[loss]\ntype = binary_crossentropy\n%s",
            name, dims[0], dims[1], dims[2], lr, rho, eps, body.oom ? "" : body.s);
    if (t.oom || body.oom) {
        free(t.s);
        err_set("out of memory");
        goto done;
    }
    *spec = t.s;
    rc = 0;
done:
    free(body.s);
    free(names);
    return rc;
}

/* --- writing a config ----------------------------------------------------------------------------- */

/* One layer's config; zip adds Keras 3's module and registered_name. */
static json_t *layer_json(const nn_layer_t *l, int zip) {
    json_t *c = json_pack("{ss sb ss}", "name", l->name, "trainable", 1, "dtype", "float32");
    if (!c) return NULL;
    int bad = 0;
    switch (l->type) {
    case NN_CONV2D:
        bad |= json_object_set_new(c, "filters", json_integer(l->filters));
        bad |= json_object_set_new(c, "kernel_size", json_pack("[ii]", l->kernel, l->kernel));
        bad |= json_object_set_new(c, "strides", json_pack("[ii]", 1, 1));
        bad |= json_object_set_new(c, "padding", json_string("valid"));
        bad |= json_object_set_new(c, "data_format", json_string("channels_last"));
        bad |= json_object_set_new(c, "dilation_rate", json_pack("[ii]", 1, 1));
        bad |= json_object_set_new(c, "groups", json_integer(1));
        bad |= json_object_set_new(c, "activation", json_string(nn_act_name(l->act)));
        bad |= json_object_set_new(c, "use_bias", json_true());
        break;
    case NN_MAXPOOL2D:
        bad |= json_object_set_new(c, "pool_size", json_pack("[ii]", l->pool, l->pool));
        bad |= json_object_set_new(c, "padding", json_string("valid"));
        bad |= json_object_set_new(c, "strides", json_pack("[ii]", l->pool, l->pool));
        bad |= json_object_set_new(c, "data_format", json_string("channels_last"));
        break;
    case NN_FLATTEN:
        bad |= json_object_set_new(c, "data_format", json_string("channels_last"));
        break;
    case NN_DROPOUT:
        bad |= json_object_set_new(c, "rate", json_real(l->rate));
        break;
    case NN_DENSE:
        bad |= json_object_set_new(c, "units", json_integer(l->units));
        bad |= json_object_set_new(c, "activation", json_string(nn_act_name(l->act)));
        bad |= json_object_set_new(c, "use_bias", json_true());
        break;
    }
    json_t *j = zip ? json_pack("{ss ss so sn}", "module", "keras.layers", "class_name", nn_layer_class_name(l->type), "config",
                                c, "registered_name")
                    : json_pack("{ss so}", "class_name", nn_layer_class_name(l->type), "config", c);
    if (bad || !j) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The Sequential's layer list, an InputLayer first. */
static json_t *layers_json(const nn_model_t *m, int zip) {
    json_t *shape = json_pack("[n iii]", m->in_h, m->in_w, m->in_c);
    json_t *input = zip ? json_pack("{ss ss s{so ss sb ss} sn}", "module", "keras.layers", "class_name", "InputLayer",
                                    "config", "batch_shape", shape, "dtype", "float32", "sparse", 0, "name",
                                    "input_layer", "registered_name")
                        : json_pack("{ss s{so ss sb ss}}", "class_name", "InputLayer", "config", "batch_input_shape",
                                    shape, "dtype", "float32", "sparse", 0, "name", "input_1");
    json_t *list = json_array();
    if (!input || !list || json_array_append_new(list, input)) {
        json_decref(list);
        return NULL;
    }
    for (int i = 0; i < m->n_layers; i++) {
        if (json_array_append_new(list, layer_json(&m->layers[i], zip)) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

static json_t *rmsprop_json(const nn_model_t *m) {
    return json_pack("{ss sf sf sf sf sb}", "name", "rmsprop", "learning_rate", m->optim.learning_rate, "rho",
                     m->optim.rho, "momentum", 0.0, "epsilon", m->optim.epsilon, "centered", 0);
}

json_t *keras_h5_model_config(const nn_model_t *m) {
    return json_pack("{ss s{ss so}}", "class_name", "Sequential", "config", "name", m->name, "layers",
                     layers_json(m, 0));
}

json_t *keras_h5_training_config(const nn_model_t *m) {
    return json_pack("{ss sn s[s] sn s{ss so}}", "loss", m->loss, "loss_weights", "metrics", "accuracy",
                     "weighted_metrics", "optimizer_config", "class_name", "RMSprop", "config", rmsprop_json(m));
}

json_t *keras_zip_config(const nn_model_t *m) {
    return json_pack("{ss ss s{ss sb ss so} sn s{s[n iii]} s{s{ss ss so sn} ss s[s] sn sn}}", "module", "keras",
                     "class_name", "Sequential", "config", "name", m->name, "trainable", 1, "dtype", "float32",
                     "layers", layers_json(m, 1), "registered_name", "build_config", "input_shape", m->in_h, m->in_w,
                     m->in_c, "compile_config", "optimizer", "module", "keras.optimizers", "class_name", "RMSprop",
                     "config", rmsprop_json(m), "registered_name", "loss", m->loss, "metrics", "accuracy",
                     "loss_weights", "weighted_metrics");
}

void keras_zip_layer_path(const nn_model_t *m, int l, char *out, size_t cap) {
    int same = 0;
    for (int i = 0; i < l; i++) same += m->layers[i].type == m->layers[l].type;
    const char *snake = nn_layer_type_name(m->layers[l].type);   /* "conv2d", "max_pooling2d", ... */
    if (same) snprintf(out, cap, "layers/%s_%d", snake, same);
    else snprintf(out, cap, "layers/%s", snake);
}

void keras_spec_label(const char *path, char *out, size_t cap) { snprintf(out, cap, "%s (its Keras config)", path); }

int keras_model_from_config(const json_t *model_config, const json_t *training_config, const char *path,
                            nn_model_t *m, float **params) {
    *params = NULL;
    char *spec = NULL, label[512];
    TRY(keras_spec_from_config(model_config, training_config, path, &spec));
    keras_spec_label(path, label, sizeof label);
    int rc = nn_model_parse(spec, label, m);
    free(spec);
    TRY(rc);
    *params = calloc(m->n_params ? m->n_params : 1, sizeof(float));
    if (!*params) {
        nn_model_free(m);
        err_set("out of memory");
        return -1;
    }
    return 0;
}
