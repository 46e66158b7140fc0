/* scorer.c: build a model from a checkpoint's spec, fit its tensors, score images in batches. */
#include "evaluator/scorer.h"

#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/log.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "tensors travel little-endian");

static void drop_model(scorer_t *s) {
    if (s->be && s->ctx) s->be->destroy(&s->ctx);
    if (s->have_model) nn_model_free(&s->model);
    free(s->params);
    s->params = NULL;
    s->have_model = 0;
    s->be = NULL;
    s->ctx = NULL;
}

void scorer_free(scorer_t *s) {
    drop_model(s);
    free(s->logits);
    free(s->pairs);
    memset(s, 0, sizeof *s);
}

int scorer_use_spec(scorer_t *s, const char *spec_text, const char *label, const char *backend, const char *precision,
                    int batch) {
    nn_options_t opts = {0};
    if (nn_precision_parse(precision, &opts.precision) != 0) return -1;
    if (s->have_model && strcmp(s->model.spec_text, spec_text) == 0 && strcmp(s->backend_name, backend) == 0 &&
        s->opts.precision == opts.precision && (batch == 0 || batch == s->batch))
        return 0;
    drop_model(s);
    const nn_backend_t *be = nn_backend_usable(backend);
    if (!be) return -1;   /* err_msg() names the backends there are, or says why this one cannot run */
    TRY(nn_model_parse(spec_text, label, &s->model));
    s->have_model = 1;
    s->batch = batch > 0 ? batch : s->model.train.batch_size > 0 ? s->model.train.batch_size : 32;
    s->n_views = nn_param_views(&s->model, s->views, (int)(sizeof s->views / sizeof s->views[0]));
    CHECK_GOTO(s->n_views > 0 && s->n_views <= (int)(sizeof s->views / sizeof s->views[0]), fail,
               "model %s: %d parameter tensors", s->model.name, s->n_views);
    s->params = malloc(s->model.n_params * sizeof(float));
    CHECK_GOTO(s->params != NULL, fail, "out of memory for %zu parameters", s->model.n_params);
    TRY_GOTO(be->create(&s->model, s->batch, &opts, &s->ctx), fail);
    s->be = be;
    s->opts = opts;
    snprintf(s->backend_name, sizeof s->backend_name, "%s", backend);
    LOG_I("model %s (%zu parameters, input %dx%dx%d) on backend %s, batches of %d", s->model.name,
          s->model.n_params, s->model.in_h, s->model.in_w, s->model.in_c, be->name, s->batch);
    return 0;
fail:
    drop_model(s);
    return -1;
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* "(3,3,3,32)" */
static void format_shape(char *buf, size_t cap, uint32_t ndim, const uint64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (uint32_t d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%llu", d ? "," : "", (unsigned long long)shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, ")");
}

int scorer_set_tensors(scorer_t *s, const proto_checkpoint_t *c) {
    CHECK(s->have_model && s->ctx);
    for (int i = 0; i < s->n_views; i++) {
        const nn_param_view_t *v = &s->views[i];
        const proto_tensor_t *t = proto_tensor_find(c, v->name);
        CHECK(t != NULL, "the checkpoint has no tensor %s", v->name);
        CHECK(t->dtype == PROTO_F32, "tensor %s has dtype %d, the spec needs float32 (%d)", v->name,
              (int)t->dtype, (int)PROTO_F32);
        uint64_t want[4];
        int same_shape = t->ndim == (uint32_t)v->ndim;
        for (int d = 0; d < v->ndim; d++) {
            want[d] = (uint64_t)v->shape[d];
            same_shape = same_shape && t->shape[d] == want[d];
        }
        if (!same_shape || t->len != v->count * sizeof(float)) {
            char got_s[96], want_s[96];
            format_shape(got_s, sizeof got_s, t->ndim, t->shape);
            format_shape(want_s, sizeof want_s, (uint32_t)v->ndim, want);
            err_set("tensor %s is %s (%zu bytes), the spec needs %s", v->name, got_s, t->len, want_s);
            return -1;
        }
        memcpy(s->params + v->offset, t->data, t->len);
    }
    for (uint32_t j = 0; j < c->n_tensors; j++) {
        const char *name = c->tensors[j].name;
        if (has_suffix(name, ".rms")) continue;
        int known = 0;
        for (int i = 0; i < s->n_views && !known; i++) known = strcmp(s->views[i].name, name) == 0;
        CHECK(known, "the checkpoint has a tensor %s that model %s does not", name, s->model.name);
    }
    TRY(s->be->set_params(s->ctx, s->params, NULL));
    return 0;
}

int scorer_set_params(scorer_t *s, const float *params) {
    CHECK(s->have_model && s->ctx);
    memcpy(s->params, params, s->model.n_params * sizeof(float));
    TRY(s->be->set_params(s->ctx, s->params, NULL));
    return 0;
}

static int reserve(scorer_t *s, int64_t n) {
    if (n <= s->cap) return 0;
    free(s->logits);
    free(s->pairs);
    s->logits = malloc((size_t)n * sizeof *s->logits);
    s->pairs = malloc((size_t)n * sizeof *s->pairs);
    s->cap = s->logits && s->pairs ? n : 0;
    CHECK(s->cap == n, "out of memory for %lld scores", (long long)n);
    return 0;
}

int scorer_logits(scorer_t *s, const uint8_t *images, int64_t n, const volatile sig_atomic_t *stop) {
    CHECK(s->have_model && s->ctx);
    TRY(reserve(s, n));
    size_t image_bytes = (size_t)s->model.in_h * (size_t)s->model.in_w * (size_t)s->model.in_c;
    for (int64_t off = 0; off < n; off += s->batch) {
        if (stop && *stop) return 1;
        int nb = (int)(n - off < s->batch ? n - off : s->batch);
        CHECK(s->be->predict(s->ctx, images + (size_t)off * image_bytes, nb, s->logits + off) == 0,
              "forward pass of images %lld..%lld on %s", (long long)off, (long long)(off + nb - 1),
              s->be->name);
    }
    return 0;
}

int scorer_eval(scorer_t *s, const valset_t *v, const volatile sig_atomic_t *stop, eval_metrics_t *out) {
    CHECK(s->have_model && v->h == s->model.in_h && v->w == s->model.in_w && s->model.in_c == 3,
          "images are %dx%dx3, the model takes %dx%dx%d", v->w, v->h, s->model.in_w, s->model.in_h,
          s->model.in_c);
    int rc = scorer_logits(s, v->images, v->n, stop);
    if (rc != 0) return rc;
    metrics_compute(s->logits, v->labels, v->n, s->pairs, out);
    return 0;
}
