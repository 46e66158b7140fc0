/* keras_zip.c: the .keras file of Keras 3 (and tf.keras 2.13+), a zip (libzip) of config.json,
 * metadata.json and model.weights.h5. The weights file is read and written in memory, as an HDF5 file
 * image: no temporary files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zip.h>

#include "common/check.h"
#include "interop/keras_internal.h"

#define MAX_CONFIG_BYTES (16u << 20)
#define MAX_WEIGHTS_BYTES ((zip_uint64_t)8 << 30)

/* A whole member of the zip into a malloc'd buffer (NUL-terminated), at most max bytes. */
static int read_member(zip_t *z, const char *path, const char *name, zip_uint64_t max, char **out, size_t *len) {
    *out = NULL;
    zip_stat_t st;
    zip_stat_init(&st);
    CHECK(zip_stat(z, name, 0, &st) == 0, "%s: no %s in the zip: not a .keras file", path, name);
    CHECK(st.valid & ZIP_STAT_SIZE, "%s: %s has no size", path, name);
    CHECK(st.size <= max, "%s: %s is %llu bytes, more than a model's", path, name, (unsigned long long)st.size);
    char *buf = malloc((size_t)st.size + 1);
    CHECK(buf != NULL, "out of memory");
    zip_file_t *f = zip_fopen(z, name, 0);
    zip_int64_t got = f ? zip_fread(f, buf, st.size) : -1;
    if (!f || got != (zip_int64_t)st.size) {
        err_set("%s: reading %s: %s", path, name, zip_strerror(z));
        if (f) zip_fclose(f);
        free(buf);
        return -1;
    }
    /* zip_fclose reports a CRC mismatch of what was read */
    if (zip_fclose(f) != 0) {
        err_set("%s: %s: %s", path, name, zip_strerror(z));
        free(buf);
        return -1;
    }
    buf[st.size] = '\0';
    *out = buf;
    *len = (size_t)st.size;
    return 0;
}

static int zip_open_error(const char *path, int code) {
    zip_error_t e;
    zip_error_init_with_code(&e, code);
    err_set("%s: cannot be read as a zip: %s", path, zip_error_strerror(&e));
    zip_error_fini(&e);
    return -1;
}

/* Open an HDF5 file image held in memory, read-only. */
static hid_t open_image(void *buf, size_t len) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 20, 0);
    H5Pset_file_image(fapl, buf, len);
    hid_t f = H5Fopen("model.weights.h5", H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    return f;
}

static int load_members(zip_t *z, const char *path, nn_model_t *m, float **params) {
    char *ctext = NULL, *weights = NULL;
    size_t clen, wlen;
    TRY(read_member(z, path, "config.json", MAX_CONFIG_BYTES, &ctext, &clen));
    json_error_t je;
    json_t *config = json_loadb(ctext, clen, 0, &je);
    free(ctext);
    CHECK(config != NULL, "%s: config.json is not JSON: %s (line %d)", path, je.text, je.line);
    int rc = keras_model_from_config(config, json_object_get(config, "compile_config"), path, m, params);
    json_decref(config);
    TRY(rc);
    rc = read_member(z, path, "model.weights.h5", MAX_WEIGHTS_BYTES, &weights, &wlen);
    if (rc == 0) {
        hid_t f = open_image(weights, wlen);
        if (f < 0) {
            char what[600];
            snprintf(what, sizeof what, "%s: model.weights.h5 cannot be read as HDF5", path);
            rc = keras_h5_error(what);
        } else {
            rc = keras_h5_read_zip_weights(f, m, *params);
            if (rc) err_prepend("%s: model.weights.h5", path);
            H5Fclose(f);
        }
        free(weights);
    }
    if (rc) {
        nn_model_free(m);
        free(*params);
        *params = NULL;
    }
    return rc;
}

int keras_zip_load(const char *path, nn_model_t *m, float **params) {
    keras_h5_quiet();
    int code = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (!z) return zip_open_error(path, code);
    int rc = load_members(z, path, m, params);
    zip_discard(z);
    return rc;
}

/* The weights file, made in memory: a malloc'd image. */
static int weights_image(const nn_model_t *m, const nn_ckpt_info_t *info, const float *params, const float *rms,
                         void **image, size_t *len) {
    *image = NULL;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 4 << 20, 0);
    hid_t f = H5Fcreate("model.weights.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0) return keras_h5_error("model.weights.h5 in memory");
    int rc = keras_h5_write_zip_weights(f, m, info, params, rms);
    if (rc == 0 && H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) rc = keras_h5_error("model.weights.h5");
    ssize_t size = rc == 0 ? H5Fget_file_image(f, NULL, 0) : -1;
    if (rc == 0 && size <= 0) rc = keras_h5_error("model.weights.h5: its image");
    if (rc == 0 && !(*image = malloc((size_t)size))) rc = -1, err_set("out of memory");
    if (rc == 0 && H5Fget_file_image(f, *image, (size_t)size) != size) rc = keras_h5_error("model.weights.h5: its image");
    H5Fclose(f);
    if (rc) {
        free(*image);
        *image = NULL;
        return -1;
    }
    *len = (size_t)size;
    return 0;
}

/* Add a buffer (kept by the caller until zip_close) as a stored member, as Keras stores them. */
static int add_member(zip_t *z, const char *name, const void *data, size_t len) {
    zip_source_t *src = zip_source_buffer(z, data, len, 0);
    zip_int64_t i = src ? zip_file_add(z, name, src, ZIP_FL_ENC_UTF_8) : -1;
    if (i < 0) {
        if (src) zip_source_free(src);
        err_set("adding %s: %s", name, zip_strerror(z));
        return -1;
    }
    CHECK(zip_set_file_compression(z, (zip_uint64_t)i, ZIP_CM_STORE, 0) == 0, "%s: %s", name, zip_strerror(z));
    return 0;
}

int keras_zip_save(const char *path, const nn_model_t *m, const nn_ckpt_info_t *info, const float *params,
                   const float *rms) {
    keras_h5_quiet();
    char tmp[4096], date[32];
    CHECK(snprintf(tmp, sizeof tmp, "%s.tmp", path) < (int)sizeof tmp, "%s: name too long", path);
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", localtime_r(&now, &tm));
    json_t *config = keras_zip_config(m);
    json_t *meta = json_pack("{ss ss}", "keras_version", KERAS_VERSION_WRITTEN, "date_saved", date);
    char *ctext = config ? json_dumps(config, JSON_COMPACT) : NULL, *mtext = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(config);
    json_decref(meta);
    void *image = NULL;
    size_t image_len = 0;
    zip_t *z = NULL;
    int rc = -1, code = 0;
    CHECK_GOTO(ctext && mtext, done, "out of memory");
    TRY_GOTO(weights_image(m, info, params, rms, &image, &image_len), done);
    z = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &code);
    if (!z) {
        zip_error_t e;
        zip_error_init_with_code(&e, code);
        err_set("%s: cannot be created: %s", tmp, zip_error_strerror(&e));
        zip_error_fini(&e);
        goto done;
    }
    if (add_member(z, "metadata.json", mtext, strlen(mtext)) || add_member(z, "config.json", ctext, strlen(ctext)) ||
        add_member(z, "model.weights.h5", image, image_len)) {
        zip_discard(z);
        goto done;
    }
    if (zip_close(z) != 0) {
        err_set("writing %s: %s", tmp, zip_strerror(z));
        zip_discard(z);
        goto done;
    }
    rc = keras_rename_into_place(tmp, path);
done:
    if (rc) {
        err_prepend("%s", path);
        remove(tmp);
    }
    free(image);
    free(ctext);
    free(mtext);
    return rc;
}
