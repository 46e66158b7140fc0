/* checkpoint.c: saving and strictly loading checkpoints in the safetensors format (see checkpoint.h and
 * docs/model-spec.md): 8-byte little-endian header length, JSON header, then the raw float32 data. */
#include "nn/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "common/fsutil.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoints hold little-endian floats: a big-endian host would need byte swapping here"
#endif

#define CKPT_FORMAT "pawpipe-checkpoint-1"
#define CKPT_HEADER_MAX (16u << 20)
#define METRIC_PREFIX "metric."

/* ---- writing ---- */

/* {"dtype":"F32","shape":[...],"data_offsets":[begin,end]}, or NULL (out of memory). Every reference is
 * handed on, failed calls included (jansson's _new functions take theirs even when they fail). */
static json_t *tensor_entry(const nn_param_view_t *v, uint64_t begin, uint64_t end) {
    json_t *t = json_object(), *shape = json_array(), *offsets = json_array();
    int bad = json_object_set_new(t, "dtype", json_string("F32"));
    for (int d = 0; d < v->ndim; d++) bad |= json_array_append_new(shape, json_integer(v->shape[d]));
    bad |= json_array_append_new(offsets, json_integer((json_int_t)begin));
    bad |= json_array_append_new(offsets, json_integer((json_int_t)end));
    bad |= json_object_set_new(t, "shape", shape);
    bad |= json_object_set_new(t, "data_offsets", offsets);
    if (!bad) return t;
    json_decref(t);
    return NULL;
}

/* The JSON header, padded with spaces so that the data starts 8-byte aligned; *out is malloc'ed.
 * jansson keeps an object's members in insertion order: __metadata__ (format, model, epoch, step,
 * seed, metric.*, spec) first, then the tensors in view order, the .rms twins last. Strings go out as
 * UTF-8 with '"', '\\' and control characters escaped, no spaces between tokens. */
static int build_header(const nn_model_t *m, const nn_ckpt_info_t *info, int with_rms, char **out, size_t *out_len) {
    char num[64], key[NN_NAME_MAX + 32];
    int rc = -1;
    json_t *root = json_object(), *meta = json_object();
    char bad[96] = "out of memory";   /* what a failed json_ call means below */
    if (json_object_set_new(root, "__metadata__", meta) || json_object_set_new(meta, "format", json_string(CKPT_FORMAT)))
        goto done;
    /* jansson takes UTF-8 only: the spec text was checked line by line (spec_ini.c), the name may come
     * from the spec's file name */
    snprintf(bad, sizeof bad, "the model name is not valid UTF-8");
    if (json_object_set_new(meta, "model", json_string(m->name))) goto done;
    snprintf(bad, sizeof bad, "out of memory");
    static const char *const counters[] = {"epoch", "step", "seed"};
    const unsigned long long counts[] = {info->epoch, (unsigned long long)info->step, (unsigned long long)info->seed};
    for (int k = 0; k < 3; k++) {
        snprintf(num, sizeof num, "%llu", counts[k]);
        if (json_object_set_new(meta, counters[k], json_string(num))) goto done;
    }
    for (int i = 0; i < info->n_metrics; i++) {
        size_t before = json_object_size(meta);
        snprintf(key, sizeof key, METRIC_PREFIX "%s", info->metric_names[i]);
        snprintf(num, sizeof num, "%.17g", info->metric_values[i]);
        snprintf(bad, sizeof bad, "metric %d: the name is not valid UTF-8", i);
        if (json_object_set_new(meta, key, json_string(num))) goto done;
        snprintf(bad, sizeof bad, "metric %d: the name '%s' is taken", i, info->metric_names[i]);
        if (json_object_size(meta) == before) goto done;
    }
    snprintf(bad, sizeof bad, "the spec text is not valid UTF-8");
    if (json_object_set_new(meta, "spec", json_string(m->spec_text))) goto done;
    snprintf(bad, sizeof bad, "out of memory");

    nn_param_view_t views[NN_MAX_PARAM_VIEWS];
    int n = nn_param_views(m, views, NN_MAX_PARAM_VIEWS);
    ASSERT(n <= NN_MAX_PARAM_VIEWS);
    for (int part = 0; part <= with_rms; part++)
        for (int i = 0; i < n; i++) {
            const nn_param_view_t *v = &views[i];
            uint64_t begin = ((uint64_t)part * m->n_params + v->offset) * sizeof(float);
            snprintf(key, sizeof key, "%.*s%s", (int)sizeof v->name, v->name, part ? ".rms" : "");
            if (json_object_set_new(root, key, tensor_entry(v, begin, begin + (uint64_t)v->count * sizeof(float))))
                goto done;
        }
    char *text = json_dumps(root, JSON_COMPACT);
    size_t len = text ? strlen(text) : 0, padded = len + (8 - (8 + len) % 8) % 8;
    char *grown = text ? realloc(text, padded) : NULL;
    if (!grown) {
        free(text);
        goto done;
    }
    memset(grown + len, ' ', padded - len);
    *out = grown, *out_len = padded;
    rc = 0;
done:
    if (rc) err_set("%s", bad);
    json_decref(root);
    return rc;
}

/* Make the rename durable: fsync the directory holding path. */
static int sync_dir(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(fd >= 0, "%s: cannot open the directory: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    CHECK(rc == 0 || e == EINVAL || e == EROFS, "%s: fsync: %s", dir, strerror(e));
    return 0;
}

int nn_ckpt_save(const char *path, const nn_model_t *m, const nn_ckpt_info_t *info, const float *params,
                 const float *rms) {
    CHECK(path && m && info && params && m->spec_text, "nn_ckpt_save: missing argument");
    CHECK(info->n_metrics >= 0 && info->n_metrics <= NN_CKPT_MAX_METRICS, "nn_ckpt_save: %d metrics",
          info->n_metrics);
    for (int i = 0; i < info->n_metrics; i++) {
        const char *name = info->metric_names[i];
        size_t len = strnlen(name, sizeof info->metric_names[i]);
        CHECK(len > 0 && len < sizeof info->metric_names[i], "nn_ckpt_save: metric %d has a bad name", i);
    }
    int rc = -1, fd = -1;
    char *header = NULL;
    size_t header_len = 0;
    char *tmp = malloc(strlen(path) + 5);
    CHECK_GOTO(tmp, done, "out of memory");
    sprintf(tmp, "%s.tmp", path);
    if (build_header(m, info, rms != NULL, &header, &header_len)) {
        err_prepend("%s: building the header", path);
        goto done;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK_GOTO(fd >= 0, done, "%s: cannot create: %s", tmp, strerror(errno));
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    size_t bytes = m->n_params * sizeof(float);
    int ok = fs_write_all(fd, len8, 8) == 0 && fs_write_all(fd, header, header_len) == 0 &&
             fs_write_all(fd, params, bytes) == 0 && (!rms || fs_write_all(fd, rms, bytes) == 0);
    CHECK_GOTO(ok, done, "%s: write: %s", tmp, strerror(errno));
    CHECK_GOTO(fsync(fd) == 0, done, "%s: fsync: %s", tmp, strerror(errno));
    int closed = close(fd);
    fd = -1;
    CHECK_GOTO(closed == 0, done, "%s: close: %s", tmp, strerror(errno));
    CHECK_GOTO(rename(tmp, path) == 0, done, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (sync_dir(path)) goto done;   /* its own message (a CHECK without one would say "internal error") */
    rc = 0;
done:
    if (fd >= 0) close(fd);
    if (rc && tmp) unlink(tmp);
    free(tmp);
    free(header);
    return rc;
}

/* ---- reading ---- */

typedef struct {
    const char *name;
    int view, is_rms;
    uint64_t begin, end;
} entry_t;

static int refuse(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(const char *path, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err_set("%s: %s", path, msg);
    return -1;
}

static int read_at(int fd, void *buf, size_t n, uint64_t off) {
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r, n -= (size_t)r, off += (uint64_t)r;
    }
    return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
    if (!s[0] || s[0] == '-' || s[0] == '+' || s[0] == ' ') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno) return -1;
    *out = v;
    return 0;
}

static void shape_text(const int64_t *shape, int ndim, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* A JSON integer in [0, limit), or -1. */
static int64_t count_of(const json_t *j, int64_t limit) {
    json_int_t v = json_is_integer(j) ? json_integer_value(j) : -1;
    return v >= 0 && v < limit ? (int64_t)v : -1;
}

/* Metadata: format tag, spec (-> m), epoch, step, seed, metric.*. */
static int read_metadata(const char *path, const json_t *root, nn_model_t *m, nn_ckpt_info_t *info) {
    json_t *meta = json_object_get(root, "__metadata__"), *value;
    const char *key;
    if (!meta) return refuse(path, "not a pawpipe checkpoint (a safetensors file without __metadata__)");
    if (!json_is_object(meta)) return refuse(path, "__metadata__ is not an object");
    json_object_foreach(meta, key, value)
        if (!json_is_string(value)) return refuse(path, "__metadata__ '%s' is not a string", key);
    const char *format = json_string_value(json_object_get(meta, "format"));
    if (!format || strcmp(format, CKPT_FORMAT) != 0)
        return refuse(path, "not a pawpipe checkpoint (format tag '%s', expected '%s')", format ? format : "",
                      CKPT_FORMAT);
    const char *spec = json_string_value(json_object_get(meta, "spec"));
    if (!spec) return refuse(path, "metadata has no 'spec'");
    char label[4200];
    snprintf(label, sizeof label, "%s[spec]", path);
    if (nn_model_parse(spec, label, m)) {
        err_prepend("%s: the model spec inside does not parse", path);
        return -1;
    }
    static const char *const keys[] = {"epoch", "step", "seed"};
    uint64_t v[3];
    for (int k = 0; k < 3; k++) {
        const char *text = json_string_value(json_object_get(meta, keys[k]));
        if (!text) return refuse(path, "metadata has no '%s'", keys[k]);
        if (parse_u64(text, &v[k]) || (k == 0 && v[k] > UINT32_MAX))
            return refuse(path, "metadata '%s' = '%s' is not a count", keys[k], text);
    }
    info->epoch = (uint32_t)v[0], info->step = v[1], info->seed = v[2];
    json_object_foreach(meta, key, value) {
        if (strncmp(key, METRIC_PREFIX, strlen(METRIC_PREFIX)) != 0) continue;   /* other keys: ignored */
        const char *name = key + strlen(METRIC_PREFIX), *text = json_string_value(value);
        if (!name[0] || strlen(name) >= sizeof info->metric_names[0])
            return refuse(path, "metadata '%s': bad metric name", key);
        if (info->n_metrics == NN_CKPT_MAX_METRICS) return refuse(path, "more than %d metrics", NN_CKPT_MAX_METRICS);
        char *end;
        double x = strtod(text, &end);
        if (end == text || *end) return refuse(path, "metadata '%s' = '%s' is not a number", key, text);
        snprintf(info->metric_names[info->n_metrics], sizeof info->metric_names[0], "%s", name);
        info->metric_values[info->n_metrics++] = x;
    }
    return 0;
}

/* One tensor entry, checked against the spec's view. */
static int read_entry(const char *path, const char *name, const json_t *t, const nn_param_view_t *views, int n_views,
                      entry_t *e) {
    e->name = name;
    e->view = -1;
    size_t klen = strlen(name);
    for (int i = 0; i < n_views && e->view < 0; i++) {
        size_t vlen = strlen(views[i].name);
        if (strcmp(name, views[i].name) == 0) e->view = i, e->is_rms = 0;
        else if (klen == vlen + 4 && strncmp(name, views[i].name, vlen) == 0 && strcmp(name + vlen, ".rms") == 0)
            e->view = i, e->is_rms = 1;
    }
    if (e->view < 0) return refuse(path, "unexpected tensor '%s' (the spec inside has no such parameter)", name);
    const nn_param_view_t *v = &views[e->view];
    json_t *dt = json_object_get(t, "dtype"), *sh = json_object_get(t, "shape"), *off = json_object_get(t, "data_offsets");
    if (!json_is_object(t) || !dt || !sh || !off || json_object_size(t) != 3)
        return refuse(path, "tensor '%s': needs exactly dtype, shape and data_offsets", name);
    if (!json_is_string(dt) || strcmp(json_string_value(dt), "F32") != 0)
        return refuse(path, "tensor '%s': dtype %s, expected \"F32\"", name,
                      json_is_string(dt) ? json_string_value(dt) : "(not a string)");
    int64_t shape[8];
    int ndim = (int)json_array_size(sh), ok = json_is_array(sh) && ndim <= 8;
    for (int d = 0; ok && d < ndim; d++) ok = (shape[d] = count_of(json_array_get(sh, (size_t)d), INT64_C(1) << 62)) >= 0;
    if (!ok) return refuse(path, "tensor '%s': shape is not a list of at most 8 sizes", name);
    int same = ndim == v->ndim;
    for (int d = 0; same && d < ndim; d++) same = shape[d] == v->shape[d];
    if (!same) {
        char got[128], want[128];
        shape_text(shape, ndim, got, sizeof got);
        shape_text(v->shape, v->ndim, want, sizeof want);
        return refuse(path, "tensor '%s': shape %s, but the spec inside says %s", name, got, want);
    }
    int64_t begin = -1, end = -1;
    if (json_array_size(off) == 2)
        begin = count_of(json_array_get(off, 0), INT64_MAX), end = count_of(json_array_get(off, 1), INT64_MAX);
    if (begin < 0 || end < begin)
        return refuse(path, "tensor '%s': data_offsets must be [begin, end] with begin <= end", name);
    e->begin = (uint64_t)begin, e->end = (uint64_t)end;
    if (e->end - e->begin != (uint64_t)v->count * sizeof(float))
        return refuse(path, "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, its shape needs %llu", name,
                      (unsigned long long)e->begin, (unsigned long long)e->end,
                      (unsigned long long)(e->end - e->begin), (unsigned long long)v->count * sizeof(float));
    return 0;
}

static int by_begin(const void *a, const void *b) {
    const entry_t *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

/* All tensors present (rms all or none), inside the data section, not overlapping, covering it. */
static int check_layout(const char *path, entry_t *es, int n_es, const nn_param_view_t *views, int n_views,
                        uint64_t data_size) {
    int have[NN_MAX_PARAM_VIEWS][2] = {{0}}, n_rms = 0;
    uint64_t need = 0, covered = 0;
    const char *last = NULL;
    for (int i = 0; i < n_es; i++) {
        have[es[i].view][es[i].is_rms] = 1;
        n_rms += es[i].is_rms;
        if (es[i].end > need) need = es[i].end, last = es[i].name;
        covered += es[i].end - es[i].begin;
    }
    for (int i = 0; i < n_views; i++)
        if (!have[i][0]) return refuse(path, "missing tensor '%s'", views[i].name);
    for (int i = 0; n_rms && i < n_views; i++)
        if (!have[i][1]) return refuse(path, "missing tensor '%s.rms' (the RMSprop state is partial)", views[i].name);
    if (need > data_size)
        return refuse(path, "truncated (or data_offsets out of range): tensor '%s' ends at byte %llu of the data, "
                      "the file has %llu", last, (unsigned long long)need, (unsigned long long)data_size);
    qsort(es, (size_t)n_es, sizeof *es, by_begin);
    for (int i = 1; i < n_es; i++)
        if (es[i].begin < es[i - 1].end) return refuse(path, "tensors '%s' and '%s' overlap", es[i - 1].name, es[i].name);
    if (covered != data_size)
        return refuse(path, "%llu bytes of data are not part of any tensor", (unsigned long long)(data_size - covered));
    return 0;
}

int nn_ckpt_load(const char *path, nn_model_t *m, nn_ckpt_info_t *info, float **params, float **rms) {
    nn_ckpt_info_t scratch;
    if (!info) info = &scratch;
    memset(m, 0, sizeof *m);
    memset(info, 0, sizeof *info);
    *params = NULL;
    if (rms) *rms = NULL;
    int rc = -1, fd = open(path, O_RDONLY | O_CLOEXEC);
    char *header = NULL;
    json_t *root = NULL;
    float *p = NULL, *r = NULL;
    if (fd < 0) return refuse(path, "cannot open: %s", strerror(errno));
    struct stat st;
    unsigned char len8[8];
    if (fstat(fd, &st) != 0) {
        refuse(path, "fstat: %s", strerror(errno));
        goto done;
    }
    uint64_t size = (uint64_t)st.st_size, hlen = 0;
    if (size < 8) {
        refuse(path, "truncated or not a checkpoint: %llu bytes, less than the 8-byte header length",
               (unsigned long long)size);
        goto done;
    }
    if (read_at(fd, len8, 8, 0)) {
        refuse(path, "read error: %s", strerror(errno));
        goto done;
    }
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | len8[i];
    if (hlen < 2 || hlen > CKPT_HEADER_MAX) {
        refuse(path, "not a safetensors checkpoint: header length %llu is implausible", (unsigned long long)hlen);
        goto done;
    }
    if (hlen > size - 8) {
        refuse(path, "truncated: the header needs %llu bytes, the file has %llu after the length",
               (unsigned long long)hlen, (unsigned long long)(size - 8));
        goto done;
    }
    header = malloc(hlen);
    if (!header || read_at(fd, header, hlen, 8)) {
        refuse(path, "cannot read the header: %s", header ? strerror(errno) : "out of memory");
        goto done;
    }
    if (header[0] != '{') {
        refuse(path, "not a safetensors checkpoint: the header does not start with '{'");
        goto done;
    }
    /* strict RFC 8259 (jansson): no trailing commas, comments, NaN or escaped NULs, UTF-8 only,
     * nesting at most 2048 deep, integers within int64; a repeated key is refused too */
    json_error_t jerr;
    root = json_loadb(header, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        refuse(path, "the header is not valid JSON: %s (byte %d)", jerr.text, jerr.position);
        goto done;
    }
    if (!json_is_object(root)) {
        refuse(path, "the header is not a JSON object");
        goto done;
    }
    if (read_metadata(path, root, m, info)) goto done;

    nn_param_view_t views[NN_MAX_PARAM_VIEWS];
    int n_views = nn_param_views(m, views, NN_MAX_PARAM_VIEWS), n_es = 0;
    entry_t es[2 * NN_MAX_PARAM_VIEWS];
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (strcmp(key, "__metadata__") == 0) continue;
        if (n_es == 2 * n_views) {
            refuse(path, "more tensors than the spec inside has parameters (and RMSprop state)");
            goto done;
        }
        if (read_entry(path, key, value, views, n_views, &es[n_es++])) goto done;
    }
    uint64_t data_size = size - 8 - hlen;
    if (check_layout(path, es, n_es, views, n_views, data_size)) goto done;

    p = malloc(m->n_params * sizeof *p);
    r = rms ? calloc(m->n_params, sizeof *r) : NULL;
    if (!p || (rms && !r)) {
        refuse(path, "out of memory for %zu parameters", m->n_params);
        goto done;
    }
    for (int i = 0; i < n_es; i++) {
        const nn_param_view_t *v = &views[es[i].view];
        if (es[i].is_rms && !r) continue;
        float *dst = (es[i].is_rms ? r : p) + v->offset;   /* absent RMSprop state stays zero (calloc) */
        errno = 0;
        if (read_at(fd, dst, v->count * sizeof(float), 8 + hlen + es[i].begin)) {
            refuse(path, "reading tensor '%s': %s", es[i].name, errno ? strerror(errno) : "unexpected end of file");
            goto done;
        }
    }
    *params = p;
    if (rms) *rms = r;
    p = r = NULL;
    rc = 0;
done:
    free(p);
    free(r);
    json_decref(root);
    free(header);
    close(fd);
    if (rc) {
        nn_model_free(m);
        memset(m, 0, sizeof *m);
        memset(info, 0, sizeof *info);
    }
    return rc;
}
