/* eval.c: configuration defaults, the scored image set, the report line, --checkpoint FILE. */
#include "evaluator/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "image/dataset.h"
#include "interop/keras.h"
#include "nn/checkpoint.h"
#include "proto/sock.h"

void evaluator_config_default(evaluator_config_t *c) {
    memset(c, 0, sizeof *c);
    c->checkpoints = SOCK_EP_CHECKPOINTS;
    c->split = "validation";
    c->backend = "cpu";
    c->precision = "fp32";
    c->validation_steps = -1;
    c->rcvhwm = 2;
    c->digits = 4;
}

static int64_t max_images_of(const evaluator_config_t *c, const nn_model_t *m) {
    int64_t steps = c->validation_steps >= 0 ? c->validation_steps : m->train.validation_steps;
    int64_t batch = m->train.batch_size > 0 ? m->train.batch_size : 1;
    return steps > 0 ? steps * batch : 0;
}

int eval_prepare_data(const evaluator_config_t *c, const scorer_t *s, valset_t *v) {
    CHECK(c->data_dir != NULL, "no data set: give --data DIR");
    const nn_model_t *m = &s->model;
    CHECK(m->in_c == 3, "model %s takes %d channels; images are RGB", m->name, m->in_c);
    int64_t max_images = max_images_of(c, m);
    if (valset_is(v, c->data_dir, c->split, m->in_h, m->in_w, max_images)) return 0;
    TRY(valset_load(v, c->data_dir, c->split, m->in_h, m->in_w, max_images));
    return 0;
}

void eval_print_line(FILE *out, const char *split, uint32_t epoch, uint64_t step, double loss, double accuracy,
                     const eval_metrics_t *m, double seconds) {
    /* Keras' prefix for validation metrics is val_; other splits are named by their folder */
    const char *p = split && strcmp(split, "validation") != 0 ? split : "val";
    fprintf(out,
            "epoch %u step %llu: loss %.4f accuracy %.4f %s_loss %.4f %s_accuracy %.4f "
            "%s_precision %.4f %s_recall %.4f %s_auc %.4f tn %lld fp %lld fn %lld tp %lld "
            "(%lld images, %.2f s)\n",
            epoch, (unsigned long long)step, loss, accuracy, p, m->loss, p, m->accuracy, p, m->precision, p,
            m->recall, p, m->auc, (long long)m->tn, (long long)m->fp, (long long)m->fn, (long long)m->tp,
            (long long)m->n, seconds);
    fflush(out);
}

int eval_class_names(const evaluator_config_t *c, char names[2][128]) {
    snprintf(names[0], 128, "cats");
    snprintf(names[1], 128, "dogs");
    if (c->classes) {
        const char *comma = strchr(c->classes, ',');
        CHECK(comma && comma > c->classes && comma[1] && !strchr(comma + 1, ',') &&
                  comma - c->classes < 128 && strlen(comma + 1) < 128,
              "--classes wants two names separated by a comma, e.g. cats,dogs; got '%s'", c->classes);
        snprintf(names[0], 128, "%.*s", (int)(comma - c->classes), c->classes);
        snprintf(names[1], 128, "%s", comma + 1);
        return 0;
    }
    if (c->data_dir) {
        ds_split_t ds = {0};
        int64_t ignored = 0;
        if (ds_index(c->data_dir, c->split, 2, &ds, &ignored) == 0 && ds.n_classes == 2) {
            snprintf(names[0], 128, "%s", ds.classes[0]);
            snprintf(names[1], 128, "%s", ds.classes[1]);
        }
        ds_free(&ds);
        err_clear();
    }
    return 0;
}

static double info_metric(const nn_ckpt_info_t *info, const char *name) {
    for (int i = 0; i < info->n_metrics; i++)
        if (strcmp(info->metric_names[i], name) == 0) return info->metric_values[i];
    return NAN;
}

int eval_load_checkpoint_file(const evaluator_config_t *c, const char *path, int batch, scorer_t *s,
                              uint32_t *epoch, uint64_t *step, double *loss, double *accuracy) {
    nn_model_t m = {0};
    nn_ckpt_info_t info = {0};
    float *params = NULL, *rms = NULL;
    TRY(model_file_load(path, &m, &info, &params, &rms));   /* a checkpoint or a Keras file */
    int rc = -1;
    TRY_GOTO(scorer_use_spec(s, m.spec_text, path, c->backend, c->precision, batch > 0 ? batch : c->batch_size), done);
    CHECK_GOTO(s->model.n_params == m.n_params, done);
    TRY_GOTO(scorer_set_params(s, params), done);
    if (epoch) *epoch = info.epoch;
    if (step) *step = info.step;
    if (loss) *loss = info_metric(&info, "loss");
    if (accuracy) *accuracy = info_metric(&info, "accuracy");
    rc = 0;
done:
    nn_model_free(&m);
    free(params);
    free(rms);
    return rc;
}

int evaluator_eval_file(const evaluator_config_t *c, const char *ckpt_path, eval_metrics_t *out) {
    scorer_t s = {0};
    valset_t v = {0};
    eval_metrics_t m;
    uint32_t epoch = 0;
    uint64_t step = 0;
    double loss = NAN, accuracy = NAN;
    int rc = -1;
    TRY_GOTO(eval_load_checkpoint_file(c, ckpt_path, 0, &s, &epoch, &step, &loss, &accuracy), done);
    TRY_GOTO(eval_prepare_data(c, &s, &v), done);
    double t0 = now_s();
    TRY_GOTO(scorer_eval(&s, &v, NULL, &m), done);
    LOG_I("%s: scored on %lld %s images", ckpt_path, (long long)m.n, c->split);
    eval_print_line(stdout, c->split, epoch, step, loss, accuracy, &m, now_s() - t0);
    if (out) *out = m;
    rc = 0;
done:
    valset_free(&v);
    scorer_free(&s);
    return rc;
}

int evaluator_export(const char *model_path, const char *out_path) {
    nn_model_t m = {0};
    nn_ckpt_info_t info = {0};
    float *params = NULL, *rms = NULL;
    TRY(model_file_load(model_path, &m, &info, &params, &rms));
    int rc = keras_export(out_path, &m, &info, params, rms);
    if (rc == 0)
        LOG_I("wrote %s: model %s, %zu parameters, epoch %u, step %llu", out_path, m.name, m.n_params, info.epoch,
              (unsigned long long)info.step);
    nn_model_free(&m);
    free(params);
    free(rms);
    return rc;
}
