/* keras_h5.c: HDF5 for Keras files with libhdf5: the legacy .h5 of model.save (read and written whole)
 * and the weights of a .keras zip (model.weights.h5, for keras_zip.c). Everything read is checked
 * against the model the config describes: a dataset of another shape or type is refused by name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "interop/keras_internal.h"

#define MAX_NAMES 1024   /* entries of a layer_names / weight_names attribute we read */

void keras_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

typedef struct {
    char outer[160], inner[160];
} h5_err_t;

static herr_t walk_err(unsigned n, const H5E_error2_t *e, void *data) {
    h5_err_t *w = data;
    const char *d = e->desc && e->desc[0] ? e->desc : e->func_name;
    if (n == 0) snprintf(w->outer, sizeof w->outer, "%s", d);   /* the API call's */
    snprintf(w->inner, sizeof w->inner, "%s", d);                /* the last: where it was found */
    return 0;
}

int keras_h5_error(const char *what) {
    h5_err_t w = {"", ""};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_err, &w);
    if (!w.outer[0]) err_set("%s", what);
    else if (!strcmp(w.outer, w.inner)) err_set("%s: %s", what, w.outer);
    else err_set("%s: %s (%s)", what, w.outer, w.inner);
    H5Eclear2(H5E_DEFAULT);
    return -1;
}

/* Whether loc has an object at path ("a/b/c"): each link in turn, so a missing group on the way is
 * an answer, not an error. */
static int path_exists(hid_t loc, const char *path) {
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return 0;
    for (char *p = buf;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char c = *p;
        *p = '\0';
        htri_t ok = buf[0] ? H5Lexists(loc, buf, H5P_DEFAULT) : 1;
        *p = c;
        if (ok <= 0) {
            H5Eclear2(H5E_DEFAULT);
            return 0;
        }
        if (c == '\0') return 1;
    }
}

int keras_rename_into_place(const char *tmp, const char *path) {
    CHECK(rename(tmp, path) == 0, "renaming %s: %s", tmp, strerror(errno));
    return 0;
}

/* --- attributes ---------------------------------------------------------------------------------- */

/* Read a string-typed attribute of npoints strings into malloc'd copies. */
static int read_strings(hid_t a, hid_t type, hid_t space, hssize_t n, char **out, const char *name) {
    int rc = -1;
    hid_t mt = H5Tcopy(H5T_C_S1);
    if (H5Tis_variable_str(type) > 0) {
        char **p = calloc((size_t)n, sizeof *p);
        CHECK(p != NULL, "out of memory");
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(type));
        if (H5Aread(a, mt, p) < 0) keras_h5_error(name);
        else {
            rc = 0;
            for (hssize_t i = 0; i < n; i++)
                if (!(out[i] = strdup(p[i] ? p[i] : ""))) rc = -1;
            H5Dvlen_reclaim(mt, space, H5P_DEFAULT, p);
            if (rc) err_set("out of memory");
        }
        free(p);
    } else {
        size_t size = H5Tget_size(type);
        char *buf = size && size * (size_t)n <= (16u << 20) ? malloc(size * (size_t)n) : NULL;
        H5Tset_size(mt, size);
        if (!buf) err_set("attribute '%s' holds strings of %zu bytes each, more than a Keras file's", name, size);
        else if (H5Aread(a, mt, buf) < 0) keras_h5_error(name);
        else {
            rc = 0;
            for (hssize_t i = 0; i < n; i++)
                if (!(out[i] = strndup(buf + (size_t)i * size, size))) rc = -1;
            if (rc) err_set("out of memory");
        }
        free(buf);
    }
    H5Tclose(mt);
    return rc;
}

/* An attribute's strings: *n of them (0 for an empty array of any type, as Keras writes for layers
 * without weights). */
static int attr_strings(hid_t obj, const char *name, char ***out, int *n) {
    *out = NULL, *n = 0;
    CHECK(H5Aexists(obj, name) > 0, "no '%s' attribute", name);
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return keras_h5_error(name);
    hid_t type = H5Aget_type(a), space = H5Aget_space(a);
    hssize_t count = H5Sget_simple_extent_npoints(space);
    int rc = -1;
    if (count == 0) rc = 0;
    else if (H5Tget_class(type) != H5T_STRING) err_set("attribute '%s' does not hold strings", name);
    else if (count < 0 || count > MAX_NAMES) err_set("attribute '%s' holds %lld strings, more than a Keras file's", name, (long long)count);
    else if ((*out = calloc((size_t)count, sizeof **out)) == NULL) err_set("out of memory");
    else if ((rc = read_strings(a, type, space, count, *out, name)) == 0) *n = (int)count;
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(a);
    if (rc) {
        for (hssize_t i = 0; *out && i < count; i++) free((*out)[i]);
        free(*out);
        *out = NULL;
    }
    return rc;
}

static void free_strings(char **s, int n) {
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

static char *attr_string(hid_t obj, const char *name) {
    char **s;
    int n;
    if (attr_strings(obj, name, &s, &n) != 0) return NULL;
    if (n != 1) {
        free_strings(s, n);
        err_set("attribute '%s' is not one string", name);
        return NULL;
    }
    char *one = s[0];
    free(s);
    return one;
}

static hid_t utf8_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static int set_attr_string(hid_t obj, const char *name, const char *value) {
    hid_t t = utf8_type(), s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a >= 0 && H5Awrite(a, t, &value) >= 0 ? 0 : keras_h5_error(name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    return rc;
}

static int set_attr_strings(hid_t obj, const char *name, const char *const *values, int n) {
    hsize_t dims[1] = {(hsize_t)n};
    /* no names: an empty float64 array, as h5py writes Keras' empty list */
    hid_t t = n ? utf8_type() : H5Tcopy(H5T_IEEE_F64LE), s = H5Screate_simple(1, dims, NULL);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    static const double none = 0;
    int rc = a >= 0 && H5Awrite(a, t, n ? (const void *)values : (const void *)&none) >= 0 ? 0 : keras_h5_error(name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    return rc;
}

/* --- datasets ------------------------------------------------------------------------------------ */

static void shape_text(int ndim, const int64_t *dims, char *out, size_t cap) {
    size_t k = (size_t)snprintf(out, cap, "(");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, i ? ", %lld" : "%lld", (long long)dims[i]);
    if (k < cap) snprintf(out + k, cap - k, ndim == 1 ? ",)" : ")");
}

/* Read the tensor t of params (its shape, at its offset) from dataset path under loc: the dataset must
 * have that shape (HDF5 converts other float types to float). -1 + err_msg() naming the dataset and
 * what differs. */
static int read_tensor(hid_t loc, const char *path, const nn_param_view_t *t, float *params) {
    int ndim = t->ndim;
    const int64_t *dims = t->shape;
    char what[300];
    snprintf(what, sizeof what, "dataset '%s'", path);
    CHECK(path_exists(loc, path), "%s is missing", what);
    hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
    if (d < 0) return keras_h5_error(what);
    hid_t space = H5Dget_space(d), type = H5Dget_type(d);
    hsize_t got[H5S_MAX_RANK];
    int rank = H5Sget_simple_extent_ndims(space);
    int known = rank >= 0 && rank <= H5S_MAX_RANK && H5Sget_simple_extent_dims(space, got, NULL) == rank;
    int same = known && rank == ndim;
    for (int i = 0; same && i < ndim; i++) same = got[i] == (hsize_t)dims[i];
    int rc = -1;
    if (H5Tget_class(type) != H5T_FLOAT) {
        err_set("%s does not hold floating-point numbers", what);
    } else if (!same) {
        char want[96], have[96] = "unknown";
        int64_t g64[H5S_MAX_RANK];
        for (int i = 0; known && i < rank; i++) g64[i] = (int64_t)got[i];
        if (known) shape_text(rank, g64, have, sizeof have);
        shape_text(ndim, dims, want, sizeof want);
        err_set("%s has shape %s; the model's config needs %s", what, have, want);
    } else if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, params + t->offset) < 0) {
        keras_h5_error(what);
    } else {
        rc = 0;
    }
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(d);
    return rc;
}

static hid_t intermediate_groups(void) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    return lcpl;
}

static int write_dataset(hid_t loc, const char *path, hid_t file_type, hid_t mem_type, hid_t space, const void *src) {
    hid_t lcpl = intermediate_groups();
    hid_t d = H5Dcreate2(loc, path, file_type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int rc = d >= 0 && H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, src) >= 0 ? 0 : keras_h5_error(path);
    if (d >= 0) H5Dclose(d);
    H5Pclose(lcpl);
    return rc;
}

/* Write the tensor t of params (or of the RMSprop state: the same layout) as a float32 dataset. */
static int write_tensor(hid_t loc, const char *path, const nn_param_view_t *t, const float *params) {
    hsize_t d[4];
    for (int i = 0; i < t->ndim; i++) d[i] = (hsize_t)t->shape[i];
    hid_t space = H5Screate_simple(t->ndim, d, NULL);
    int rc = write_dataset(loc, path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, space, params + t->offset);
    H5Sclose(space);
    return rc;
}

static int write_scalar(hid_t loc, const char *path, hid_t type, const void *value) {
    hid_t space = H5Screate(H5S_SCALAR);
    int rc = write_dataset(loc, path, type, type, space, value);
    H5Sclose(space);
    return rc;
}

static hid_t make_group(hid_t loc, const char *path) {
    hid_t lcpl = intermediate_groups();
    hid_t g = H5Gcreate2(loc, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (g < 0) keras_h5_error(path);
    return g;
}

/* --- the weights of a layer ----------------------------------------------------------------------- */

/* Layer l's kernel and bias as the nn core lays them out (nn_param_views: HWIO or (in, out), then the
 * bias), which are Keras' shapes too. l has parameters. */
static void layer_tensors(const nn_model_t *m, int l, nn_param_view_t *kernel, nn_param_view_t *bias) {
    nn_param_view_t v[NN_MAX_PARAM_VIEWS];
    int n = nn_param_views(m, v, NN_MAX_PARAM_VIEWS);
    for (int i = 0; i + 1 < n; i += 2) {
        if (v[i].offset == m->layers[l].w_off) {
            *kernel = v[i], *bias = v[i + 1];
            return;
        }
    }
    ASSERT(0);
}

static int has_params(const nn_layer_t *l) { return l->w_count > 0; }

/* In a weight_names list, which is the kernel and which the bias: by name when the names say, else
 * by position (Keras saves kernel, then bias). */
static void kernel_first(char **names, int *k, int *b) {
    *k = 0, *b = 1;
    if (strstr(names[1], "kernel") && strstr(names[0], "bias")) *k = 1, *b = 0;
}

/* The weights of m from a legacy file's model_weights group (or a weights-only file's root): layer
 * groups in layer_names order, matched by order to m's layers with parameters, the datasets of each in
 * weight_names order (kernel, bias). */
static int read_legacy_weights(hid_t group, const nn_model_t *m, float *params) {
    char **layer_names;
    int n_names;
    if (attr_strings(group, "layer_names", &layer_names, &n_names) != 0) {
        err_prepend("the weights");
        return -1;
    }
    int rc = -1, l = -1, n_files = 0;
    for (int i = 0; i < n_names; i++) {
        const char *name = layer_names[i];
        CHECK_GOTO(path_exists(group, name), done, "the weights of layer '%s' are missing", name);
        hid_t g = H5Gopen2(group, name, H5P_DEFAULT);
        if (g < 0) {
            keras_h5_error(name);
            goto done;
        }
        char **wn;
        int n_w;
        int r = attr_strings(g, "weight_names", &wn, &n_w);
        if (r == 0 && n_w > 0) {
            n_files++;
            do l++;
            while (l < m->n_layers && !has_params(&m->layers[l]));
            if (l >= m->n_layers) {
                err_set("the file has weights for more layers than its config has layers with weights (from '%s')", name);
                r = -1;
            } else if (n_w != 2) {
                err_set("layer '%s' has %d weights; %s '%s' has a kernel and a bias", name, n_w,
                        nn_layer_class_name(m->layers[l].type), m->layers[l].name);
                r = -1;
            } else {
                nn_param_view_t kernel, bias;
                int k, b;
                layer_tensors(m, l, &kernel, &bias);
                kernel_first(wn, &k, &b);
                r = read_tensor(g, wn[k], &kernel, params);
                if (r == 0) r = read_tensor(g, wn[b], &bias, params);
                if (r) err_prepend("layer '%s'", name);
            }
        } else if (r) {
            err_prepend("layer '%s'", name);
        }
        if (r == 0) free_strings(wn, n_w);
        H5Gclose(g);
        if (r) goto done;
    }
    do l++;
    while (l < m->n_layers && !has_params(&m->layers[l]));
    CHECK_GOTO(l >= m->n_layers, done, "the file has weights for %d layers; its config has more layers with weights",
               n_files);
    rc = 0;
done:
    free_strings(layer_names, n_names);
    return rc;
}

/* Where Keras 3 keeps layer l's kernel and bias in model.weights.h5, and their shapes. */
typedef struct {
    char kernel_path[NN_NAME_MAX + 48], bias_path[NN_NAME_MAX + 48];
    nn_param_view_t kernel, bias;
} zip_vars_t;

static void zip_vars(const nn_model_t *m, int l, zip_vars_t *v) {
    char base[NN_NAME_MAX + 32];
    keras_zip_layer_path(m, l, base, sizeof base);
    snprintf(v->kernel_path, sizeof v->kernel_path, "%s/vars/0", base);
    snprintf(v->bias_path, sizeof v->bias_path, "%s/vars/1", base);
    layer_tensors(m, l, &v->kernel, &v->bias);
}

int keras_h5_read_zip_weights(hid_t file, const nn_model_t *m, float *params) {
    for (int l = 0; l < m->n_layers; l++) {
        const nn_layer_t *ly = &m->layers[l];
        if (!has_params(ly)) continue;
        zip_vars_t v;
        zip_vars(m, l, &v);
        TRY(read_tensor(file, v.kernel_path, &v.kernel, params));
        TRY(read_tensor(file, v.bias_path, &v.bias, params));
    }
    return 0;
}

int keras_h5_write_zip_weights(hid_t file, const nn_model_t *m, const nn_ckpt_info_t *info, const float *params,
                               const float *rms) {
    char base[NN_NAME_MAX + 32], path[NN_NAME_MAX + 48];
    for (int l = 0; l < m->n_layers; l++) {
        const nn_layer_t *ly = &m->layers[l];
        keras_zip_layer_path(m, l, base, sizeof base);
        snprintf(path, sizeof path, "%s/vars", base);
        hid_t g = make_group(file, path);
        if (g < 0) return -1;
        int rc = set_attr_string(g, "name", ly->name);
        H5Gclose(g);
        TRY(rc);
        if (!has_params(ly)) continue;
        zip_vars_t v;
        zip_vars(m, l, &v);
        TRY(write_tensor(file, v.kernel_path, &v.kernel, params));
        TRY(write_tensor(file, v.bias_path, &v.bias, params));
    }
    hid_t g = make_group(file, "vars");
    if (g < 0) return -1;
    int rc = set_attr_string(g, "name", m->name);
    H5Gclose(g);
    TRY(rc);
    if (!rms) return 0;
    /* Keras 3's RMSprop variables: iterations, learning_rate, then one velocity per trainable
     * variable in model order. */
    g = make_group(file, "optimizer/vars");
    if (g < 0) return -1;
    rc = set_attr_string(g, "name", "rmsprop");
    H5Gclose(g);
    TRY(rc);
    int64_t iterations = info ? (int64_t)info->step : 0;
    float lr = (float)m->optim.learning_rate;
    TRY(write_scalar(file, "optimizer/vars/0", H5T_STD_I64LE, &iterations));
    TRY(write_scalar(file, "optimizer/vars/1", H5T_IEEE_F32LE, &lr));
    nn_param_view_t t[NN_MAX_PARAM_VIEWS];
    int n = nn_param_views(m, t, NN_MAX_PARAM_VIEWS);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "optimizer/vars/%d", 2 + i);
        TRY(write_tensor(file, path, &t[i], rms));
    }
    return 0;
}

/* --- the legacy file, whole ---------------------------------------------------------------------- */

/* Parse a JSON attribute; NULL with err_msg() when it is not JSON. */
static json_t *json_attr(hid_t file, const char *name) {
    char *text = attr_string(file, name);
    if (!text) return NULL;
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    free(text);
    if (!j) err_set("attribute '%s' is not JSON: %s (at character %d)", name, je.text, je.position);
    return j;
}

static int load_open(hid_t f, const char *path, nn_model_t *m, float **params) {
    char *version = H5Aexists(f, "keras_version") > 0 ? attr_string(f, "keras_version") : NULL;
    int keras1 = version && version[0] == '1';
    free(version);
    CHECK(!keras1, "%s: written by Keras 1, whose kernels are laid out otherwise: not supported", path);
    CHECK(H5Aexists(f, "model_config") > 0,
          "%s: no 'model_config' attribute: a weights-only file (model.save_weights)? pawpipe needs the whole "
          "model (model.save)", path);
    json_t *config = json_attr(f, "model_config");
    if (!config) {
        err_prepend("%s", path);
        return -1;
    }
    json_t *training = H5Aexists(f, "training_config") > 0 ? json_attr(f, "training_config") : NULL;
    err_clear();   /* a training config that does not parse only costs the optimizer settings */
    int rc = keras_model_from_config(config, training, path, m, params);
    json_decref(config);
    json_decref(training);
    TRY(rc);
    hid_t g = path_exists(f, "model_weights") ? H5Gopen2(f, "model_weights", H5P_DEFAULT) : H5Gopen2(f, "/", H5P_DEFAULT);
    rc = g >= 0 ? read_legacy_weights(g, m, *params) : keras_h5_error("model_weights");
    if (g >= 0) H5Gclose(g);
    if (rc) {
        err_prepend("%s", path);
        nn_model_free(m);
        free(*params);
        *params = NULL;
    }
    return rc;
}

int keras_h5_load(const char *path, nn_model_t *m, float **params) {
    keras_h5_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        char what[600];
        snprintf(what, sizeof what, "%s: cannot be read as HDF5", path);
        return keras_h5_error(what);
    }
    int rc = load_open(f, path, m, params);
    H5Fclose(f);
    return rc;
}

/* The weights of one layer at model_weights/<layer>/<model>/<layer>/{kernel,bias}, as Keras 3 names them. */
static int save_layer(hid_t mw, const nn_model_t *m, int l, const float *params) {
    const nn_layer_t *ly = &m->layers[l];
    hid_t g = make_group(mw, ly->name);
    if (g < 0) return -1;
    int rc = -1;
    if (!has_params(ly)) {
        rc = set_attr_strings(g, "weight_names", NULL, 0);
    } else {
        char kn[2 * NN_NAME_MAX + 16], bn[2 * NN_NAME_MAX + 16];
        snprintf(kn, sizeof kn, "%s/%s/kernel", m->name, ly->name);
        snprintf(bn, sizeof bn, "%s/%s/bias", m->name, ly->name);
        const char *names[2] = {kn, bn};
        nn_param_view_t kernel, bias;
        layer_tensors(m, l, &kernel, &bias);
        rc = set_attr_strings(g, "weight_names", names, 2) || write_tensor(g, kn, &kernel, params) ||
                     write_tensor(g, bn, &bias, params)
                 ? -1
                 : 0;
    }
    H5Gclose(g);
    return rc;
}

/* optimizer_weights as Keras 3 writes them: iteration, learning_rate, then the RMSprop velocities in
 * model order. (Keras 3 restores the first two from a legacy file; tf.keras expects another list and
 * says it starts with a fresh optimizer.) */
static int save_optimizer(hid_t f, const nn_model_t *m, const nn_ckpt_info_t *info, const float *rms) {
    hid_t g = make_group(f, "optimizer_weights");
    if (g < 0) return -1;
    char (*names)[2 * NN_NAME_MAX + 32] = calloc(2 * NN_MAX_LAYERS + 2, sizeof *names);
    const char *ptrs[2 * NN_MAX_LAYERS + 2];
    int n = 0, rc = -1;
    if (!names) {
        err_set("out of memory");
        goto done;
    }
    int64_t it = info ? (int64_t)info->step : 0;
    float lr = (float)m->optim.learning_rate;
    snprintf(names[0], sizeof names[0], "rmsprop/iteration");
    snprintf(names[1], sizeof names[1], "rmsprop/learning_rate");
    ptrs[0] = names[0], ptrs[1] = names[1];
    if (write_scalar(g, names[0], H5T_STD_I64LE, &it) || write_scalar(g, names[1], H5T_IEEE_F32LE, &lr))
        goto done;
    n = 2;
    nn_param_view_t t[NN_MAX_PARAM_VIEWS];
    int n_t = nn_param_views(m, t, NN_MAX_PARAM_VIEWS);
    for (int i = 0; i < n_t; i++, n++) {   /* "conv2d_1.kernel": rmsprop/<model>_conv2d_1_kernel_velocity */
        char *dot = strrchr(t[i].name, '.');
        snprintf(names[n], sizeof names[n], "rmsprop/%s_%.*s_%s_velocity", m->name, (int)(dot - t[i].name), t[i].name,
                 dot + 1);
        ptrs[n] = names[n];
        if (write_tensor(g, names[n], &t[i], rms) != 0) goto done;
    }
    rc = set_attr_strings(g, "weight_names", ptrs, n);
done:
    free(names);
    H5Gclose(g);
    return rc;
}

static int save_open(hid_t f, const nn_model_t *m, const nn_ckpt_info_t *info, const float *params,
                     const float *rms) {
    json_t *config = keras_h5_model_config(m), *training = keras_h5_training_config(m);
    char *ctext = config ? json_dumps(config, JSON_COMPACT) : NULL;
    char *ttext = training ? json_dumps(training, JSON_COMPACT) : NULL;
    json_decref(config);
    json_decref(training);
    int rc = -1;
    hid_t mw = -1;
    const char *names[NN_MAX_LAYERS];
    CHECK_GOTO(ctext && ttext, done, "out of memory");
    if (set_attr_string(f, "backend", "tensorflow") || set_attr_string(f, "keras_version", KERAS_VERSION_WRITTEN) ||
        set_attr_string(f, "model_config", ctext) || set_attr_string(f, "training_config", ttext))
        goto done;
    if ((mw = make_group(f, "model_weights")) < 0) goto done;
    for (int l = 0; l < m->n_layers; l++) names[l] = m->layers[l].name;
    if (set_attr_string(mw, "backend", "tensorflow") || set_attr_string(mw, "keras_version", KERAS_VERSION_WRITTEN) ||
        set_attr_strings(mw, "layer_names", names, m->n_layers))
        goto done;
    for (int l = 0; l < m->n_layers; l++)
        if (save_layer(mw, m, l, params) != 0) goto done;
    if (rms && save_optimizer(f, m, info, rms) != 0) goto done;
    rc = 0;
done:
    if (mw >= 0) H5Gclose(mw);
    free(ctext);
    free(ttext);
    return rc;
}

int keras_h5_save(const char *path, const nn_model_t *m, const nn_ckpt_info_t *info, const float *params,
                  const float *rms) {
    keras_h5_quiet();
    char tmp[4096];
    CHECK(snprintf(tmp, sizeof tmp, "%s.tmp", path) < (int)sizeof tmp, "%s: name too long", path);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        char what[4200];
        snprintf(what, sizeof what, "%s: cannot be created", tmp);
        return keras_h5_error(what);
    }
    int rc = save_open(f, m, info, params, rms);
    if (H5Fclose(f) < 0 && rc == 0) rc = keras_h5_error(tmp);
    if (rc == 0) rc = keras_rename_into_place(tmp, path);
    if (rc) {
        err_prepend("%s", path);
        remove(tmp);
    }
    return rc;
}
