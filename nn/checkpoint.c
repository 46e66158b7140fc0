/* checkpoint.c: saving and strictly loading checkpoints in the safetensors format (see checkpoint.h and
 * docs/model-spec.md): 8-byte little-endian header length, JSON header, then the raw float32 data. */
#include "nn/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "nn/json.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoints hold little-endian floats: a big-endian host would need byte swapping here"
#endif

#define CKPT_FORMAT "pawpipe-checkpoint-1"
#define CKPT_HEADER_MAX (16u << 20)
#define METRIC_PREFIX "metric."

/* ---- writing ---- */

static int add_meta(json_buf_t *b, const char *key, const char *value) {
    return json_buf_add(b, ",", 1) || json_buf_string(b, key, strlen(key)) || json_buf_add(b, ":", 1) ||
                   json_buf_string(b, value, strlen(value))
               ? -1
               : 0;
}

/* The JSON header, padded with spaces so that the data starts 8-byte aligned. */
static int build_header(const nn_model_t *m, const nn_ckpt_info_t *info, int with_rms, json_buf_t *b) {
    char num[64], key[80];
    if (json_buf_printf(b, "{\"__metadata__\":{\"format\":\"%s\"", CKPT_FORMAT) || add_meta(b, "model", m->name))
        return -1;
    snprintf(num, sizeof num, "%u", info->epoch);
    if (add_meta(b, "epoch", num)) return -1;
    snprintf(num, sizeof num, "%llu", (unsigned long long)info->step);
    if (add_meta(b, "step", num)) return -1;
    snprintf(num, sizeof num, "%llu", (unsigned long long)info->seed);
    if (add_meta(b, "seed", num)) return -1;
    for (int i = 0; i < info->n_metrics; i++) {
        snprintf(key, sizeof key, METRIC_PREFIX "%s", info->metric_names[i]);
        snprintf(num, sizeof num, "%.17g", info->metric_values[i]);
        if (add_meta(b, key, num)) return -1;
    }
    if (add_meta(b, "spec", m->spec_text) || json_buf_add(b, "}", 1)) return -1;

    nn_param_view_t views[NN_MAX_PARAM_VIEWS];
    int n = nn_param_views(m, views, NN_MAX_PARAM_VIEWS);
    ASSERT(n <= NN_MAX_PARAM_VIEWS);
    for (int part = 0; part <= with_rms; part++)
        for (int i = 0; i < n; i++) {
            const nn_param_view_t *v = &views[i];
            uint64_t begin = ((uint64_t)part * m->n_params + v->offset) * sizeof(float);
            uint64_t end = begin + (uint64_t)v->count * sizeof(float);
            if (json_buf_printf(b, ",\"%s%s\":{\"dtype\":\"F32\",\"shape\":[", v->name, part ? ".rms" : ""))
                return -1;
            for (int d = 0; d < v->ndim; d++)
                if (json_buf_printf(b, "%s%lld", d ? "," : "", (long long)v->shape[d])) return -1;
            if (json_buf_printf(b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)begin,
                                (unsigned long long)end))
                return -1;
        }
    if (json_buf_add(b, "}", 1)) return -1;
    while ((8 + b->len) % 8)
        if (json_buf_add(b, " ", 1)) return -1;
    return 0;
}

static int write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
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
        CHECK(len > 0 && len < sizeof info->metric_names[i] && utf8_valid(name, len),
              "nn_ckpt_save: metric %d has a bad name", i);
    }
    int rc = -1, fd = -1;
    json_buf_t header = {0};
    char *tmp = malloc(strlen(path) + 5);
    CHECK_GOTO(tmp, done, "out of memory");
    sprintf(tmp, "%s.tmp", path);
    CHECK_GOTO(build_header(m, info, rms != NULL, &header) == 0, done, "%s: building the header", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK_GOTO(fd >= 0, done, "%s: cannot create: %s", tmp, strerror(errno));
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)header.len >> (8 * i));
    size_t bytes = m->n_params * sizeof(float);
    int ok = write_all(fd, len8, 8) == 0 && write_all(fd, header.data, header.len) == 0 &&
             write_all(fd, params, bytes) == 0 && (!rms || write_all(fd, rms, bytes) == 0);
    CHECK_GOTO(ok, done, "%s: write: %s", tmp, strerror(errno));
    CHECK_GOTO(fsync(fd) == 0, done, "%s: fsync: %s", tmp, strerror(errno));
    int closed = close(fd);
    fd = -1;
    CHECK_GOTO(closed == 0, done, "%s: close: %s", tmp, strerror(errno));
    CHECK_GOTO(rename(tmp, path) == 0, done, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    CHECK_GOTO(sync_dir(path) == 0, done);
    rc = 0;
done:
    if (fd >= 0) close(fd);
    if (rc && tmp) unlink(tmp);
    free(tmp);
    json_buf_free(&header);
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

/* Metadata: format tag, spec (-> m), epoch, step, seed, metric.*. */
static int read_metadata(const char *path, const json_doc_t *doc, nn_model_t *m, nn_ckpt_info_t *info) {
    int meta = json_member(doc, 0, "__metadata__");
    if (meta < 0) return refuse(path, "not a pawpipe checkpoint (a safetensors file without __metadata__)");
    if (doc->nodes[meta].type != JSON_OBJECT) return refuse(path, "__metadata__ is not an object");
    for (int c = doc->nodes[meta].first; c >= 0; c = doc->nodes[c].next)
        if (doc->nodes[c].type != JSON_STRING)
            return refuse(path, "__metadata__ '%s' is not a string", doc->nodes[c].key);
    int f = json_member(doc, meta, "format");
    if (f < 0 || strcmp(doc->nodes[f].str, CKPT_FORMAT) != 0)
        return refuse(path, "not a pawpipe checkpoint (format tag '%s', expected '%s')", f < 0 ? "" : doc->nodes[f].str,
                      CKPT_FORMAT);
    int spec = json_member(doc, meta, "spec");
    if (spec < 0) return refuse(path, "metadata has no 'spec'");
    char label[4200];
    snprintf(label, sizeof label, "%s[spec]", path);
    if (nn_model_parse(doc->nodes[spec].str, label, m)) {
        err_prepend("%s: the model spec inside does not parse", path);
        return -1;
    }
    static const char *const keys[] = {"epoch", "step", "seed"};
    uint64_t v[3];
    for (int k = 0; k < 3; k++) {
        int i = json_member(doc, meta, keys[k]);
        if (i < 0) return refuse(path, "metadata has no '%s'", keys[k]);
        if (parse_u64(doc->nodes[i].str, &v[k]) || (k == 0 && v[k] > UINT32_MAX))
            return refuse(path, "metadata '%s' = '%s' is not a count", keys[k], doc->nodes[i].str);
    }
    info->epoch = (uint32_t)v[0], info->step = v[1], info->seed = v[2];
    for (int c = doc->nodes[meta].first; c >= 0; c = doc->nodes[c].next) {
        const json_node_t *nd = &doc->nodes[c];
        if (strncmp(nd->key, METRIC_PREFIX, strlen(METRIC_PREFIX)) != 0) continue;   /* other keys: ignored */
        const char *name = nd->key + strlen(METRIC_PREFIX);
        if (!name[0] || strlen(name) >= sizeof info->metric_names[0])
            return refuse(path, "metadata '%s': bad metric name", nd->key);
        if (info->n_metrics == NN_CKPT_MAX_METRICS) return refuse(path, "more than %d metrics", NN_CKPT_MAX_METRICS);
        char *end;
        double x = strtod(nd->str, &end);
        if (end == nd->str || *end) return refuse(path, "metadata '%s' = '%s' is not a number", nd->key, nd->str);
        snprintf(info->metric_names[info->n_metrics], sizeof info->metric_names[0], "%s", name);
        info->metric_values[info->n_metrics++] = x;
    }
    return 0;
}

/* One tensor entry, checked against the spec's view. */
static int read_entry(const char *path, const json_doc_t *doc, int node, const nn_param_view_t *views, int n_views,
                      entry_t *e) {
    const json_node_t *nd = &doc->nodes[node];
    e->name = nd->key;
    e->view = -1;
    size_t klen = strlen(nd->key);
    for (int i = 0; i < n_views && e->view < 0; i++) {
        size_t vlen = strlen(views[i].name);
        if (strcmp(nd->key, views[i].name) == 0) e->view = i, e->is_rms = 0;
        else if (klen == vlen + 4 && strncmp(nd->key, views[i].name, vlen) == 0 && strcmp(nd->key + vlen, ".rms") == 0)
            e->view = i, e->is_rms = 1;
    }
    if (e->view < 0) return refuse(path, "unexpected tensor '%s' (the spec inside has no such parameter)", nd->key);
    const nn_param_view_t *v = &views[e->view];
    int dt = json_member(doc, node, "dtype"), sh = json_member(doc, node, "shape");
    int off = json_member(doc, node, "data_offsets");
    if (nd->type != JSON_OBJECT || dt < 0 || sh < 0 || off < 0 || nd->count != 3)
        return refuse(path, "tensor '%s': needs exactly dtype, shape and data_offsets", nd->key);
    if (doc->nodes[dt].type != JSON_STRING || strcmp(doc->nodes[dt].str, "F32") != 0)
        return refuse(path, "tensor '%s': dtype %s, expected \"F32\"", nd->key,
                      doc->nodes[dt].type == JSON_STRING ? doc->nodes[dt].str : "(not a string)");
    int64_t shape[8];
    int ndim = 0, ok = doc->nodes[sh].type == JSON_ARRAY && doc->nodes[sh].count <= 8;
    for (int c = ok ? doc->nodes[sh].first : -1; c >= 0; c = doc->nodes[c].next) {
        ok &= doc->nodes[c].type == JSON_NUMBER && doc->nodes[c].is_uint && doc->nodes[c].u < ((uint64_t)1 << 62);
        shape[ndim++] = (int64_t)doc->nodes[c].u;
    }
    if (!ok) return refuse(path, "tensor '%s': shape is not a list of at most 8 sizes", nd->key);
    int same = ndim == v->ndim;
    for (int d = 0; same && d < ndim; d++) same = shape[d] == v->shape[d];
    if (!same) {
        char got[128], want[128];
        shape_text(shape, ndim, got, sizeof got);
        shape_text(v->shape, v->ndim, want, sizeof want);
        return refuse(path, "tensor '%s': shape %s, but the spec inside says %s", nd->key, got, want);
    }
    const json_node_t *o = &doc->nodes[off];
    const json_node_t *b = o->type == JSON_ARRAY && o->count == 2 ? &doc->nodes[o->first] : NULL, *en = b ? &doc->nodes[b->next] : NULL;
    if (!b || b->type != JSON_NUMBER || !b->is_uint || en->type != JSON_NUMBER ||
        !en->is_uint || b->u > en->u)
        return refuse(path, "tensor '%s': data_offsets must be [begin, end] with begin <= end", nd->key);
    e->begin = b->u, e->end = en->u;
    if (e->end - e->begin != (uint64_t)v->count * sizeof(float))
        return refuse(path, "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, its shape needs %llu", nd->key,
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
    json_doc_t doc = {0};
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
    if (json_parse(header, hlen, &doc)) {
        err_prepend("%s: the header is not valid JSON", path);
        goto done;
    }
    if (doc.nodes[0].type != JSON_OBJECT) {
        refuse(path, "the header is not a JSON object");
        goto done;
    }
    if (read_metadata(path, &doc, m, info)) goto done;

    nn_param_view_t views[NN_MAX_PARAM_VIEWS];
    int n_views = nn_param_views(m, views, NN_MAX_PARAM_VIEWS), n_es = 0;
    entry_t es[2 * NN_MAX_PARAM_VIEWS];
    for (int c = doc.nodes[0].first; c >= 0; c = doc.nodes[c].next) {
        if (strcmp(doc.nodes[c].key, "__metadata__") == 0) continue;
        if (n_es == 2 * n_views) {
            refuse(path, "more tensors than the spec inside has parameters (and RMSprop state)");
            goto done;
        }
        if (read_entry(path, &doc, c, views, n_views, &es[n_es++])) goto done;
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
    json_free(&doc);
    free(header);
    close(fd);
    if (rc) {
        nn_model_free(m);
        memset(m, 0, sizeof *m);
        memset(info, 0, sizeof *info);
    }
    return rc;
}
