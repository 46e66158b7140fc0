/* spec.c: turns a spec's sections into an nn_model_t: reserved sections ([model], [optimizer], [loss],
 * [training], [augmentation]) set options, every other section is a layer in file order. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/check.h"
#include "nn/model.h"
#include "nn/spec_ini.h"

#define SPEC_FILE_MAX (1 << 20)

/* Like TRY, without adding the call site: spec errors are for the user, "FILE:LINE: problem". */
#define PASS(call)                                                                         \
    do {                                                                                   \
        if ((call) != 0) return -1;                                                        \
    } while (0)

typedef struct {
    const char *label;
    const spec_section_t *s;
} sec_t;

static const spec_entry_t *find(sec_t c, const char *key) {
    for (int i = 0; i < c.s->n; i++)
        if (strcmp(c.s->e[i].key, key) == 0) return &c.s->e[i];
    return NULL;
}

/* Refuse any key not in allowed (NULL-terminated). */
static int check_keys(sec_t c, const char *what, const char *const *allowed) {
    for (int i = 0; i < c.s->n; i++) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++) ok |= strcmp(*a, c.s->e[i].key) == 0;
        if (ok) continue;
        char list[256] = "";
        for (const char *const *a = allowed; *a; a++) {
            strncat(list, a == allowed ? "" : ", ", sizeof list - strlen(list) - 1);
            strncat(list, *a, sizeof list - strlen(list) - 1);
        }
        return spec_error(c.label, c.s->e[i].line, "unknown key '%s' in [%s] (%s takes: %s)", c.s->e[i].key,
                          c.s->name, what, list);
    }
    return 0;
}

/* Look a key up: 1 found (with a value), 0 absent and optional, -1 absent and required, or empty. */
static int lookup(sec_t c, const char *key, int required, const spec_entry_t **e) {
    *e = find(c, key);
    if (!*e) return required ? spec_error(c.label, c.s->line, "[%s] needs '%s'", c.s->name, key) : 0;
    if (!(*e)->value[0]) return spec_error(c.label, (*e)->line, "'%s' has no value", key);
    return 1;
}

/* 0, -1 if s is not an integer, -2 if it is one beyond long's range. */
static int parse_long(const char *s, long *out) {
    char *end;
    errno = 0;
    *out = strtol(s, &end, 10);
    if (end == s || *end != '\0') return -1;
    return errno == ERANGE ? -2 : 0;
}

static int get_int(sec_t c, const char *key, int required, long lo, long hi, int *out) {
    const spec_entry_t *e;
    int rc = lookup(c, key, required, &e);
    if (rc <= 0) return rc;
    long v;
    rc = parse_long(e->value, &v);
    if (rc == -1) return spec_error(c.label, e->line, "'%s' must be an integer, got '%s'", key, e->value);
    if (rc == -2 || v < lo || v > hi)
        return spec_error(c.label, e->line, "'%s' = %s is out of range [%ld, %ld]", key, e->value, lo, hi);
    *out = (int)v;
    return 0;
}

/* A number in [lo, hi] (or [lo, hi) with hi_open). */
static int get_double(sec_t c, const char *key, int required, double lo, double hi, int hi_open, double *out) {
    const spec_entry_t *e;
    int rc = lookup(c, key, required, &e);
    if (rc <= 0) return rc;
    char *end;
    double v = strtod(e->value, &end);
    if (end == e->value || *end != '\0' || !isfinite(v))
        return spec_error(c.label, e->line, "'%s' must be a number, got '%s'", key, e->value);
    if (v < lo || v > hi || (hi_open && v == hi))
        return spec_error(c.label, e->line, "'%s' = %s is out of range [%g, %g%c", key, e->value, lo, hi,
                          hi_open ? ')' : ']');
    *out = v;
    return 0;
}

static int get_bool(sec_t c, const char *key, int *out) {
    const spec_entry_t *e;
    int rc = lookup(c, key, 0, &e);
    if (rc <= 0) return rc;
    const char *v = e->value;
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1")) *out = 1;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0")) *out = 0;
    else return spec_error(c.label, e->line, "'%s' must be true or false, got '%s'", key, v);
    return 0;
}

/* A comma-separated list of n numbers; returns how many there were, or -1 if one is not a number. */
static int number_list(const char *s, double *out, int cap) {
    int n = 0;
    for (;;) {
        char *end;
        while (*s == ' ' || *s == '\t') s++;
        double v = strtod(s, &end);
        if (end == s || !isfinite(v) || n == cap) return -1;
        out[n++] = v;
        s = end;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '\0') return n;
        if (*s++ != ',') return -1;
    }
}

static int parse_model(sec_t c, nn_model_t *m) {
    static const char *const keys[] = {"name", "input", NULL};
    PASS(check_keys(c, "[model]", keys));
    const spec_entry_t *e;
    int rc = lookup(c, "name", 0, &e);
    if (rc < 0) return -1;
    if (rc) {
        if (strlen(e->value) >= NN_NAME_MAX)
            return spec_error(c.label, e->line, "'name' longer than %d characters", NN_NAME_MAX - 1);
        snprintf(m->name, sizeof m->name, "%s", e->value);
    }
    if (lookup(c, "input", 1, &e) < 0) return -1;
    double v[4];
    if (number_list(e->value, v, 4) != 3)
        return spec_error(c.label, e->line, "'input' must be height, width, channels (e.g. 150, 150, 3), got '%s'",
                          e->value);
    static const double hi[3] = {8192, 8192, 16};
    int *dims[3] = {&m->in_h, &m->in_w, &m->in_c};
    for (int i = 0; i < 3; i++) {
        if (v[i] != floor(v[i]) || v[i] < 1 || v[i] > hi[i])
            return spec_error(c.label, e->line, "'input' = %s: %s must be an integer in [1, %g]", e->value,
                              i == 0 ? "height" : i == 1 ? "width" : "channels", hi[i]);
        *dims[i] = (int)v[i];
    }
    return 0;
}

static int parse_optimizer(sec_t c, nn_model_t *m) {
    static const char *const keys[] = {"type", "learning_rate", "rho", "epsilon", NULL};
    PASS(check_keys(c, "[optimizer]", keys));
    const spec_entry_t *e;
    if (lookup(c, "type", 1, &e) < 0) return -1;
    if (strcmp(e->value, "rmsprop") != 0)
        return spec_error(c.label, e->line, "unknown optimizer '%s' (known: rmsprop)", e->value);
    snprintf(m->optim.type, sizeof m->optim.type, "rmsprop");
    PASS(get_double(c, "learning_rate", 0, 0, 10, 0, &m->optim.learning_rate));
    PASS(get_double(c, "rho", 0, 0, 1, 1, &m->optim.rho));
    PASS(get_double(c, "epsilon", 0, 0, 1, 0, &m->optim.epsilon));
    if (m->optim.learning_rate <= 0)
        return spec_error(c.label, find(c, "learning_rate")->line, "'learning_rate' must be above 0");
    if (m->optim.epsilon <= 0) return spec_error(c.label, find(c, "epsilon")->line, "'epsilon' must be above 0");
    return 0;
}

static int parse_loss(sec_t c, nn_model_t *m) {
    static const char *const keys[] = {"type", NULL};
    PASS(check_keys(c, "[loss]", keys));
    const spec_entry_t *e;
    if (lookup(c, "type", 1, &e) < 0) return -1;
    if (strcmp(e->value, "binary_crossentropy") != 0)
        return spec_error(c.label, e->line, "unknown loss '%s' (known: binary_crossentropy)", e->value);
    snprintf(m->loss, sizeof m->loss, "binary_crossentropy");
    return 0;
}

static int parse_training(sec_t c, nn_model_t *m) {
    static const char *const keys[] = {"batch_size", "steps_per_epoch", "epochs", "validation_steps", "seed", NULL};
    PASS(check_keys(c, "[training]", keys));
    nn_train_cfg_t *t = &m->train;
    PASS(get_int(c, "batch_size", 0, 1, 65536, &t->batch_size));
    PASS(get_int(c, "steps_per_epoch", 0, 0, 1000000000, &t->steps_per_epoch));
    PASS(get_int(c, "epochs", 0, 1, 1000000, &t->epochs));
    PASS(get_int(c, "validation_steps", 0, 0, 1000000000, &t->validation_steps));
    const spec_entry_t *e;
    int rc = lookup(c, "seed", 0, &e);
    if (rc < 0) return -1;
    if (rc) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(e->value, &end, 10);
        if (e->value[0] == '-' || end == e->value || *end || errno)
            return spec_error(c.label, e->line, "'seed' must be an integer in [0, 2^64), got '%s'", e->value);
        t->seed = v;
    }
    return 0;
}

static int parse_augmentation(sec_t c, nn_model_t *m) {
    static const char *const keys[] = {"rotation_range", "width_shift_range", "height_shift_range", "shear_range",
                                       "zoom_range", "horizontal_flip", "vertical_flip", "fill_mode", "cval", NULL};
    PASS(check_keys(c, "[augmentation]", keys));
    aug_params_t *a = &m->aug;
    a->enabled = 1;
    PASS(get_double(c, "rotation_range", 0, 0, 180, 0, &a->rotation_range));
    PASS(get_double(c, "width_shift_range", 0, 0, 1, 1, &a->width_shift_range));
    PASS(get_double(c, "height_shift_range", 0, 0, 1, 1, &a->height_shift_range));
    PASS(get_double(c, "shear_range", 0, 0, 90, 1, &a->shear_range));
    PASS(get_bool(c, "horizontal_flip", &a->horizontal_flip));
    PASS(get_bool(c, "vertical_flip", &a->vertical_flip));
    PASS(get_double(c, "cval", 0, 0, 255, 0, &a->cval));
    const spec_entry_t *e;
    int rc = lookup(c, "zoom_range", 0, &e);
    if (rc < 0) return -1;
    if (rc) {
        double v[3];
        int n = number_list(e->value, v, 3);
        if (n == 1 && v[0] >= 0 && v[0] < 1) a->zoom_lo = 1 - v[0], a->zoom_hi = 1 + v[0];
        else if (n == 2 && v[0] > 0 && v[0] <= v[1] && v[1] <= 100) a->zoom_lo = v[0], a->zoom_hi = v[1];
        else
            return spec_error(c.label, e->line,
                              "'zoom_range' must be r in [0, 1) (zoom in [1-r, 1+r]) or lo, hi with "
                              "0 < lo <= hi, got '%s'",
                              e->value);
    }
    rc = lookup(c, "fill_mode", 0, &e);
    if (rc < 0) return -1;
    if (rc && fill_mode_parse(e->value, &a->fill_mode))
        return spec_error(c.label, e->line, "unknown fill_mode '%s' (known: nearest, constant, reflect, wrap)",
                          e->value);
    return 0;
}

static int get_activation(sec_t c, nn_act_t *act) {
    const spec_entry_t *e;
    int rc = lookup(c, "activation", 0, &e);
    if (rc <= 0) return rc;
    if (!strcmp(e->value, "relu")) *act = NN_ACT_RELU;
    else if (!strcmp(e->value, "sigmoid")) *act = NN_ACT_SIGMOID;
    else if (!strcmp(e->value, "linear")) *act = NN_ACT_NONE;
    else return spec_error(c.label, e->line, "unknown activation '%s' (known: relu, sigmoid, linear)", e->value);
    return 0;
}

static int parse_layer(sec_t c, nn_model_t *m) {
    if (m->n_layers == NN_MAX_LAYERS)
        return spec_error(c.label, c.s->line, "too many layers (at most %d)", NN_MAX_LAYERS);
    nn_layer_t *l = &m->layers[m->n_layers];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", c.s->name);
    l->line = c.s->line;
    const spec_entry_t *e = find(c, "type");
    if (!e)
        return spec_error(c.label, c.s->line, "layer [%s] needs 'type' (conv2d, max_pooling2d, flatten, dropout, dense)",
                          c.s->name);
    const char *t = e->value;
    if (!strcmp(t, "conv2d")) {
        static const char *const keys[] = {"type", "filters", "kernel_size", "activation", NULL};
        l->type = NN_CONV2D;
        PASS(check_keys(c, "conv2d", keys));
        PASS(get_int(c, "filters", 1, 1, 65536, &l->filters));
        PASS(get_int(c, "kernel_size", 1, 1, 64, &l->kernel));
        PASS(get_activation(c, &l->act));
    } else if (!strcmp(t, "max_pooling2d")) {
        static const char *const keys[] = {"type", "pool_size", NULL};
        l->type = NN_MAXPOOL2D;
        l->pool = 2;
        PASS(check_keys(c, "max_pooling2d", keys));
        PASS(get_int(c, "pool_size", 0, 1, 64, &l->pool));
    } else if (!strcmp(t, "flatten")) {
        static const char *const keys[] = {"type", NULL};
        l->type = NN_FLATTEN;
        PASS(check_keys(c, "flatten", keys));
    } else if (!strcmp(t, "dropout")) {
        static const char *const keys[] = {"type", "rate", NULL};
        l->type = NN_DROPOUT;
        PASS(check_keys(c, "dropout", keys));
        PASS(get_double(c, "rate", 1, 0, 1, 1, &l->rate));
    } else if (!strcmp(t, "dense")) {
        static const char *const keys[] = {"type", "units", "activation", NULL};
        l->type = NN_DENSE;
        PASS(check_keys(c, "dense", keys));
        PASS(get_int(c, "units", 1, 1, 65536, &l->units));
        PASS(get_activation(c, &l->act));
    } else {
        return spec_error(c.label, e->line,
                          "unknown layer type '%s' (known: conv2d, max_pooling2d, flatten, dropout, dense)", t);
    }
    m->n_layers++;
    return 0;
}

/* The model name when [model] has none: the file's base name without its extension. */
static void default_name(const char *label, char *name) {
    const char *base = strrchr(label, '/');
    base = base ? base + 1 : label;
    size_t n = strcspn(base, ".");
    if (n == 0) base = "model", n = 5;
    if (n >= NN_NAME_MAX) {   /* cut at a character boundary: a checkpoint's header must be UTF-8 */
        n = NN_NAME_MAX - 1;
        while (n > 0 && ((unsigned char)base[n] & 0xC0) == 0x80) n--;
    }
    memcpy(name, base, n);
    name[n] = '\0';
}

static int interpret(const spec_ini_t *ini, const char *label, nn_model_t *m) {
    static const char *const reserved[] = {"model", "optimizer", "loss", "training", "augmentation"};
    static int (*const parse[])(sec_t, nn_model_t *) = {parse_model, parse_optimizer, parse_loss, parse_training,
                                                        parse_augmentation};
    int seen[5] = {0};
    for (int i = 0; i < ini->n; i++) {
        sec_t c = {label, &ini->s[i]};
        int k = 0;
        while (k < 5 && strcmp(c.s->name, reserved[k]) != 0) k++;
        if (k < 5) {
            seen[k] = 1;
            PASS(parse[k](c, m));
        } else {
            PASS(parse_layer(c, m));
        }
    }
    for (int k = 0; k < 3; k++)
        if (!seen[k]) return spec_error(label, 1, "missing [%s] section", reserved[k]);
    if (m->n_layers == 0) return spec_error(label, 1, "no layers (sections such as [conv2d_1] with type = conv2d)");
    return 0;
}

static void set_defaults(nn_model_t *m, const char *label) {
    memset(m, 0, sizeof *m);
    default_name(label, m->name);
    m->optim = (nn_optim_t){"rmsprop", 0.001, 0.9, 1e-7};   /* Keras' RMSprop defaults */
    m->train = (nn_train_cfg_t){.batch_size = 32, .steps_per_epoch = 0, .epochs = 1};
    m->aug = (aug_params_t){.enabled = 0, .zoom_lo = 1, .zoom_hi = 1, .fill_mode = FILL_NEAREST};
}

int nn_model_parse(const char *text, const char *label, nn_model_t *m) {
    if (!label) label = "spec";
    set_defaults(m, label);
    if (!text) return spec_error(label, 0, "no spec text");
    spec_ini_t *ini = malloc(sizeof *ini);
    if (!ini) return spec_error(label, 0, "out of memory");
    int rc = spec_ini_read(text, label, ini) || interpret(ini, label, m) || nn_model_infer(m, label) ? -1 : 0;
    free(ini);
    if (rc == 0 && !(m->spec_text = strdup(text))) rc = spec_error(label, 0, "out of memory");
    if (rc) memset(m, 0, sizeof *m);
    return rc;
}

int nn_model_load(const char *path, nn_model_t *m) {
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *text = malloc(SPEC_FILE_MAX + 1);
    size_t n = text ? fread(text, 1, SPEC_FILE_MAX + 1, f) : 0;
    int rc = -1;
    if (!text) err_set("%s: out of memory", path);
    else if (ferror(f)) err_set("%s: read error: %s", path, strerror(errno));
    else if (n > SPEC_FILE_MAX) err_set("%s: larger than %d bytes: not a model spec", path, SPEC_FILE_MAX);
    else {
        text[n] = '\0';
        const char *nul = memchr(text, '\0', n);
        if (nul) {
            int line = 1;
            for (const char *p = text; p < nul; p++) line += *p == '\n';
            spec_error(path, line, "NUL byte: not a text file");
        } else {
            rc = nn_model_parse(text, path, m);
        }
    }
    free(text);
    fclose(f);
    return rc;
}

void nn_model_free(nn_model_t *m) {
    if (!m) return;
    free(m->spec_text);
    m->spec_text = NULL;
}
