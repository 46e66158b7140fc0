/* train.c: the trainer stage: takes batches in sequence order from the stream, trains one step on
 * each, checkpoints and publishes at epoch ends (and every N steps), and resumes from a checkpoint. */
#include "trainer/trainer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "common/log.h"
#include "common/rng.h"
#include "common/runend.h"
#include "common/timeutil.h"
#include "interop/keras.h"
#include "interop/tboard.h"
#include "nn/backend.h"
#include "nn/checkpoint.h"
#include "proto/sock.h"
#include "trainer/progress.h"
#include "trainer/publish.h"
#include "trainer/stream.h"

#define DROPOUT_TAG 0xD0   /* dropout seed of step s: rng_derive3(run seed, s, DROPOUT_TAG) */

/* The current epoch (over the steps this process trained). Loss and accuracy add up inside the
 * backend (on the GPU for cuda) and are read only when a progress line or a checkpoint needs them. */
typedef struct {
    int epoch;                 /* 0-based stream epoch; -1 before the first batch   */
    double loss_sum, acc_sum;  /* weighted by images, as last read from the backend */
    long images, steps;
    int last_pos;              /* position in the epoch of the last batch, 1-based  */
    unsigned skipped;
    double t_start, compute_s; /* compute_s: time in the backend's stage + step     */
} epoch_acc_t;

typedef struct {
    const trainer_config_t *c;
    nn_model_t m;
    const nn_backend_t *be;
    void *ctx;
    float *labels;             /* batch_size floats, reused every step              */
    uint64_t seed;             /* the run seed (the checkpoint's when resuming)     */
    uint64_t next_step;        /* global steps completed = next batch seq           */
    uint32_t epochs_done;
    int epochs;                /* length of the run                                 */
    int steps_known;           /* steps of an epoch; 0 while unknown                */
    char run_dir[PROTO_PATH_MAX - 64];
    net_t *net;
    tstream_t *ts;
    publisher_t *pub;
    progress_t prog;
    epoch_acc_t acc;
    double t_run, t_epoch_end; /* run start, end of the last epoch (its checkpoint included) */
    uint64_t steps_trained;
    double last_loss, last_acc, last_ms;
    const char *last_ckpt;
    double last_ckpt_ms;       /* time to copy out, write and publish it            */
    int epochs_ended;          /* epochs that ended in this run                     */
    const char *resume;        /* the checkpoint resumed from: --resume, or the run folder's latest
                                  with --resume-latest; NULL: a fresh start           */
    char latest[PROTO_PATH_MAX];
    int complete;              /* --resume-latest found the run complete: nothing to train */
    double t_first_batch;      /* when the first batch arrived (0: not yet)         */
    double wait_s;             /* time blocked for the next batch since then        */
    tboard_t tb;               /* run_dir/tensorboard/train; not open: none written */
    uint64_t images_trained;   /* in this process                                   */
    double tb_t_mark;          /* images/s of the batch values: since this time ...  */
    uint64_t tb_images_mark;   /* ... and this count (the last value or epoch end)  */
} trainer_t;

void trainer_config_default(trainer_config_t *c) {
    memset(c, 0, sizeof *c);
    c->epochs = 0;
    c->steps_per_epoch = -1;
    c->backend = "cpu";
    c->precision = "fp32";
    c->batches_bind = SOCK_EP_BATCHES_BIND;
    c->credits = SOCK_EP_CREDITS;
    c->checkpoints_bind = SOCK_EP_CHECKPOINTS_BIND;
    c->window = 8;
    c->stall_ms = TSTREAM_STALL_MS;
    c->progress = -1;
    c->tensorboard_every = 10;
}

/* --init-from MODEL: its weights, nothing else (RMSprop state zeros, step 0, the spec's seed). */
static int init_from_model(trainer_t *t) {
    const char *path = t->c->init_from;
    nn_model_t fm = {0};
    float *params = NULL;
    if (model_file_load(path, &fm, NULL, &params, NULL) != 0) {
        err_prepend("--init-from %s", path);
        return -1;
    }
    int rc = -1;
    if (nn_model_same_weights(&t->m, &fm) != 0) {
        err_prepend("--init-from %s: its layers differ from %s's", path, t->c->model_path);
        goto done;
    }
    if (t->be->set_params(t->ctx, params, NULL) != 0) {
        err_prepend("--init-from %s", path);
        goto done;
    }
    LOG_I("initialised %zu parameters from %s (weights only: fresh optimizer state, step 0)", t->m.n_params, path);
    rc = 0;
done:
    free(params);
    nn_model_free(&fm);
    return rc;
}

/* Parameters: Glorot from the run seed, the checkpoint resumed from (same model only), or the weights
 * of --init-from. */
static int init_params(trainer_t *t) {
    const trainer_config_t *c = t->c;
    const char *resume = t->resume;
    if (!resume && c->init_from) return init_from_model(t);
    if (!resume) {
        float *params = malloc(t->m.n_params * sizeof(float));
        CHECK(params != NULL, "out of memory");
        nn_init_params(&t->m, t->seed, params);
        int rc = t->be->set_params(t->ctx, params, NULL);
        free(params);
        TRY(rc);
        LOG_I("initialised %zu parameters (Glorot uniform, seed %" PRIu64 ")", t->m.n_params, t->seed);
        return 0;
    }
    nn_model_t cm;
    nn_ckpt_info_t info;
    float *params = NULL, *rms = NULL;
    memset(&cm, 0, sizeof cm);
    if (nn_ckpt_load(resume, &cm, &info, &params, &rms) != 0) {
        err_prepend("--resume %s: cannot resume from it", resume);
        return -1;
    }
    int rc = -1;
    if (nn_model_same(&t->m, &cm) != 0) {
        err_prepend("--resume %s: a checkpoint of another model than %s", resume, c->model_path);
        goto done;
    }
    if (t->be->set_params(t->ctx, params, rms) != 0) {
        err_prepend("--resume %s", resume);
        goto done;
    }
    if (info.seed != t->m.train.seed)
        LOG_W("--resume %s: run seed %" PRIu64 " differs from the spec's %" PRIu64 "; the loader must use %" PRIu64
              " for the same batches", resume, info.seed, t->m.train.seed, info.seed);
    if (info.epoch >= (uint32_t)t->epochs) {
        err_set("--resume %s: the checkpoint has already completed %u of %d epochs (raise --epochs to go on)",
                resume, info.epoch, t->epochs);
        goto done;
    }
    t->seed = info.seed;
    t->next_step = info.step;
    t->epochs_done = info.epoch;
    LOG_I("resuming from %s: epoch %u, step %" PRIu64 ", seed %" PRIu64, resume, info.epoch, info.step, info.seed);
    rc = 0;
done:
    free(params);
    free(rms);
    nn_model_free(&cm);
    return rc;
}

/* --resume, or with --resume-latest the run folder's latest checkpoint when there is one. A run whose
 * latest checkpoint has completed every epoch is complete: t->complete, nothing to train. */
static int choose_start(trainer_t *t) {
    const trainer_config_t *c = t->c;
    t->resume = c->resume;
    if (c->resume || !c->resume_latest) return 0;
    snprintf(t->latest, sizeof t->latest, "%s/latest.safetensors", t->run_dir);
    if (access(t->latest, F_OK) != 0) {
        LOG_I("--resume-latest: no checkpoint in %s yet: a fresh start", t->run_dir);
        return 0;
    }
    nn_model_t cm;
    nn_ckpt_info_t info;
    float *params = NULL, *rms = NULL;
    memset(&cm, 0, sizeof cm);
    if (nn_ckpt_load(t->latest, &cm, &info, &params, &rms) != 0) {
        err_prepend("--resume-latest: %s", t->latest);
        return -1;
    }
    free(params);
    free(rms);
    nn_model_free(&cm);
    if (info.epoch >= (uint32_t)t->epochs) {
        t->complete = 1;
        t->epochs_done = info.epoch;
        t->next_step = info.step;
        return 0;
    }
    t->resume = t->latest;
    return 0;
}

/* TensorBoard event files in run_dir/tensorboard/train, as Keras' TensorBoard callback writes them
 * (docs/tensorboard.md). Losing them must not cost the training: the first failure is a warning, and
 * the writer is closed, which makes the later calls do nothing. */
static void tb_lost(trainer_t *t) {
    LOG_W("%s; training goes on without TensorBoard event files", err_msg());
    tboard_close(&t->tb);
}

static void tb_open(trainer_t *t) {
    if (t->c->no_tensorboard) return;
    char dir[sizeof t->run_dir + 32];
    snprintf(dir, sizeof dir, "%s/tensorboard/train", t->run_dir);
    if (tboard_open(&t->tb, dir) != 0) tb_lost(t);
    else LOG_D("TensorBoard event file %s", t->tb.path);
}

static int setup(trainer_t *t) {
    const trainer_config_t *c = t->c;
    CHECK(c->model_path != NULL, "no model spec (--model MODEL.ini)");
    TRY(nn_model_load(c->model_path, &t->m));
    t->seed = t->m.train.seed;
    t->epochs = c->epochs > 0 ? c->epochs : t->m.train.epochs;
    CHECK(t->epochs > 0, "the run has no epochs (--epochs or [train] epochs)");
    CHECK(c->tensorboard_every >= 0, "--tensorboard-every %d: negative", c->tensorboard_every);
    int spe = c->steps_per_epoch >= 0 ? c->steps_per_epoch : t->m.train.steps_per_epoch;
    t->steps_known = spe > 0 ? spe : 0;
    int n = c->run_dir ? snprintf(t->run_dir, sizeof t->run_dir, "%s", c->run_dir)
                       : snprintf(t->run_dir, sizeof t->run_dir, "runs/%s", t->m.name);
    CHECK(n > 0 && n < (int)sizeof t->run_dir, "--run-dir: the name is longer than %zu bytes",
          sizeof t->run_dir - 1);
    TRY(choose_start(t));
    if (t->complete) return 0;
    /* a marker left by an earlier run in this folder would end the stages that look for it */
    TRY(runend_clear(t->run_dir));

    nn_options_t opts = {.autotune = c->autotune};
    if (nn_precision_parse(c->precision, &opts.precision) != 0) return -1;
    if (nn_backend_open(c->backend, &t->m, t->m.train.batch_size, &opts, &t->be, &t->ctx) != 0) {
        err_prepend("--backend");   /* err_msg() says why, or lists the backends there are */
        return -1;
    }
    char desc[400];
    t->be->describe(t->ctx, desc, sizeof desc);
    LOG_I("backend %s: %s", t->be->name, desc);
    t->labels = calloc((size_t)t->m.train.batch_size, sizeof(float));
    CHECK(t->labels != NULL, "out of memory");
    if (init_params(t) != 0) return -1;   /* its message already names --resume and the file */

    TRY(net_open(&c->net, c->zctx, "trainer", &t->net));
    TRY(publisher_new(t->net, c->checkpoints_bind, t->run_dir, &t->m, &t->pub));
    tstream_config_t sc = {
        .net = t->net,
        .batches_bind = c->batches_bind,
        .credits = c->credits,
        .start_seq = t->next_step,
        .epochs = (uint32_t)t->epochs,
        .steps_per_epoch = c->steps_per_epoch,
        .window = c->window,
        .stall_ms = c->stall_ms,
        .height = (uint32_t)t->m.in_h,
        .width = (uint32_t)t->m.in_w,
        .channels = (uint32_t)t->m.in_c,
        .max_batch = (uint32_t)t->m.train.batch_size,
    };
    TRY(tstream_open(&sc, &t->ts));
    progress_init(&t->prog, stdout, c->progress, t->epochs);
    tb_open(t);
    LOG_I("model %s: %zu parameters, backend %s, batch %d, %d epochs, run dir %s; batches on %s, "
          "checkpoints on %s", t->m.name, t->m.n_params, t->be->name, t->m.train.batch_size, t->epochs,
          t->run_dir, c->batches_bind, c->checkpoints_bind);
    return 0;
}

static void teardown(trainer_t *t) {
    if (tboard_close(&t->tb) != 0) LOG_W("%s", err_msg());
    tstream_close(&t->ts);
    publisher_destroy(&t->pub);
    net_close(&t->net);
    if (t->be) t->be->destroy(&t->ctx);
    free(t->labels);
    nn_model_free(&t->m);
}

static double acc_loss(const epoch_acc_t *a) { return a->images ? a->loss_sum / (double)a->images : 0.0; }
static double acc_accuracy(const epoch_acc_t *a) { return a->images ? a->acc_sum / (double)a->images : 0.0; }

/* The epoch's loss and accuracy sums from the backend (waits for the steps launched so far). */
static int read_sums(trainer_t *t) {
    nn_sums_t s;
    TRY(t->be->sums(t->ctx, &s, 0));
    t->acc.loss_sum = s.loss_sum;
    t->acc.acc_sum = s.correct;
    return 0;
}

/* Keras' batch values every --tensorboard-every steps, at step = steps done: the epoch's running
 * loss and accuracy (what Keras logs as batch_loss and batch_accuracy), and the images trained per
 * second since the last value or epoch end. The sums are read only here and for the bar: on the GPU
 * a read waits for the steps launched. */
static int tb_batch(trainer_t *t) {
    int every = t->c->tensorboard_every;
    if (every <= 0 || t->next_step % (uint64_t)every != 0 || !tboard_ok(&t->tb)) return 0;
    TRY(read_sums(t));
    double now = now_s(), span = now - t->tb_t_mark;
    double ips = span > 0 ? (double)(t->images_trained - t->tb_images_mark) / span : 0.0;
    t->tb_t_mark = now;
    t->tb_images_mark = t->images_trained;
    int64_t step = (int64_t)t->next_step;
    if (tboard_scalar(&t->tb, "batch_loss", step, acc_loss(&t->acc)) != 0 ||
        tboard_scalar(&t->tb, "batch_accuracy", step, acc_accuracy(&t->acc)) != 0 ||
        tboard_scalar(&t->tb, "batch_images_per_second", step, ips) != 0 || tboard_flush(&t->tb) != 0)
        tb_lost(t);
    return 0;
}

/* Keras' epoch values at step = the 0-based epoch: the metrics the epoch's checkpoint carries (and
 * history.csv's loss and accuracy), and the learning rate, as Keras 3 adds it. */
static void tb_epoch(trainer_t *t, int epoch) {
    t->tb_t_mark = now_s();   /* the checkpoint's time is not training time */
    t->tb_images_mark = t->images_trained;
    if (!tboard_ok(&t->tb)) return;
    if (tboard_scalar(&t->tb, "epoch_loss", epoch, acc_loss(&t->acc)) != 0 ||
        tboard_scalar(&t->tb, "epoch_accuracy", epoch, acc_accuracy(&t->acc)) != 0 ||
        tboard_scalar(&t->tb, "epoch_learning_rate", epoch, t->m.optim.learning_rate) != 0 ||
        tboard_flush(&t->tb) != 0)
        tb_lost(t);
}

/* Writes and publishes a checkpoint with the running metrics of the current epoch. */
static int checkpoint(trainer_t *t, const char *file_name, uint32_t epochs_done, double ms_per_step) {
    nn_ckpt_info_t info;
    memset(&info, 0, sizeof info);
    info.epoch = epochs_done;
    info.step = t->next_step;
    info.seed = t->seed;
    TRY(read_sums(t));
    const char *names[] = {"loss", "accuracy", "ms_per_step", "compute_ms_per_step"};
    double values[] = {acc_loss(&t->acc), acc_accuracy(&t->acc), ms_per_step,
                       t->acc.steps ? t->acc.compute_s * 1000.0 / (double)t->acc.steps : 0.0};
    for (int i = 0; i < 4; i++) {
        snprintf(info.metric_names[i], sizeof info.metric_names[i], "%s", names[i]);
        info.metric_values[i] = values[i];
    }
    info.n_metrics = 4;
    double t0 = now_s();
    TRY(publisher_checkpoint(t->pub, t->be, t->ctx, file_name, &info, &t->last_ckpt));
    t->last_ckpt_ms = (now_s() - t0) * 1000.0;
    return 0;
}

static int begin_epoch(trainer_t *t, int epoch) {
    TRY(t->be->sums(t->ctx, NULL, 1));   /* new sums for the new epoch */
    memset(&t->acc, 0, sizeof t->acc);
    t->acc.epoch = epoch;
    /* The clock of an epoch starts when the previous one ended (data waits count, as in Keras);
     * the first epoch of this process starts at its first batch, not at process start. */
    t->acc.t_start = t->steps_trained ? t->t_epoch_end : now_s();
    progress_begin_epoch(&t->prog, epoch + 1, t->steps_known, t->acc.t_start);
    return 0;
}

static int train_step(trainer_t *t, const proto_batch_t *b) {
    CHECK(b->n >= 1 && (int)b->n <= t->m.train.batch_size, "batch %" PRIu64 " has %u images", b->seq, b->n);
    if (t->acc.epoch != (int)b->epoch) TRY(begin_epoch(t, (int)b->epoch));
    for (uint32_t i = 0; i < b->n; i++) t->labels[i] = (float)b->labels[i];
    uint64_t dropout_seed = rng_derive3(t->seed, b->seq, DROPOUT_TAG);
    double t0 = now_s();
    /* cuda: the step runs on the device while the loop receives and stages the next batch */
    TRY(t->be->stage(t->ctx, b->images, t->labels, (int)b->n, dropout_seed));
    TRY(t->be->step(t->ctx, t->m.optim.learning_rate));
    t->acc.compute_s += now_s() - t0;
    t->acc.images += b->n;
    t->acc.steps++;
    t->acc.last_pos = (int)b->step + 1;
    t->acc.skipped += b->skipped;
    t->steps_trained++;
    t->images_trained += b->n;
    t->next_step = b->seq + 1;
    if (progress_due(&t->prog, (int)b->step + 1)) {   /* a bar redraw: with tb_batch, the only reads mid-epoch */
        TRY(read_sums(t));
        progress_step(&t->prog, (int)b->step + 1, acc_loss(&t->acc), acc_accuracy(&t->acc));
    }
    TRY(tb_batch(t));

    int every = t->c->checkpoint_every;
    if (every > 0 && t->next_step % (uint64_t)every == 0) {
        char name[64];
        snprintf(name, sizeof name, "ckpt-step-%06" PRIu64 ".safetensors", t->next_step);
        double ms = (now_s() - t->acc.t_start) * 1000.0 / (double)t->acc.steps;
        TRY(checkpoint(t, name, b->epoch, ms));
        LOG_D("checkpoint %s (step %" PRIu64 ", %.0f ms)", t->last_ckpt, t->next_step, t->last_ckpt_ms);
    }
    return 0;
}

static int end_epoch(trainer_t *t, const proto_control_t *ctrl) {
    if (t->acc.epoch != (int)ctrl->epoch || t->acc.steps == 0) {
        /* e.g. resumed from a step checkpoint that fell on an epoch boundary */
        LOG_D("end of epoch %u with no batch trained in this process: nothing to report", ctrl->epoch + 1);
        return 0;
    }
    /* steps of the epoch = position of its last batch + 1 (a resumed epoch counts its earlier steps) */
    int done = t->acc.last_pos;
    double ms = (now_s() - t->acc.t_start) * 1000.0 / (double)t->acc.steps;
    unsigned skipped = ctrl->skipped ? ctrl->skipped : t->acc.skipped;
    TRY(read_sums(t));
    progress_end_epoch(&t->prog, done, acc_loss(&t->acc), acc_accuracy(&t->acc), ms, skipped);
    if (t->steps_known == 0) t->steps_known = (int)t->acc.steps;   /* one-pass epochs: learnt from the first */
    t->epochs_done = ctrl->epoch + 1;
    char name[64];
    snprintf(name, sizeof name, "ckpt-epoch-%03u.safetensors", t->epochs_done);
    TRY(checkpoint(t, name, t->epochs_done, ms));
    LOG_I("epoch %u/%d: checkpoint %s (step %" PRIu64 ", written and published in %.0f ms)", t->epochs_done,
          t->epochs, t->last_ckpt, t->next_step, t->last_ckpt_ms);
    t->last_loss = acc_loss(&t->acc);
    t->last_acc = acc_accuracy(&t->acc);
    t->last_ms = ms;
    tb_epoch(t, (int)ctrl->epoch);
    t->t_epoch_end = now_s();
    t->epochs_ended++;
    return 0;
}

static void final_summary(trainer_t *t, const char *how) {
    char took[32], last[160] = "";
    progress_format_duration(now_s() - t->t_run, took, sizeof took);
    if (t->epochs_ended)   /* the metrics of the last epoch that ended in this run */
        snprintf(last, sizeof last, " - loss: %.4f - accuracy: %.4f - %.0f ms/step", t->last_loss, t->last_acc,
                 t->last_ms);
    double span = t->t_first_batch > 0 ? now_s() - t->t_first_batch : 0.0;
    char waited[64] = "";
    if (span > 0)   /* from the first batch on: how much of the run the trainer had no batch to train on */
        snprintf(waited, sizeof waited, " - waited for data %.1f%% of the time", 100.0 * t->wait_s / span);
    printf("%s after %u/%d epochs, %" PRIu64 " steps (%" PRIu64 " in this run) in %s%s%s - last checkpoint: %s\n",
           how, t->epochs_done, t->epochs, t->next_step, t->steps_trained, took, last, waited,
           t->last_ckpt ? t->last_ckpt : "none");
    fflush(stdout);   /* the batch stream's counts follow when it closes (tstream_close) */
}

/* The run is complete: the END marker in the run folder (for stages that join later), then the
 * announcement to the evaluators, after the last checkpoint on the same socket. */
static int end_run(trainer_t *t) {
    const char *ckpt = t->last_ckpt ? strrchr(t->last_ckpt, '/') : NULL;
    TRY(runend_write(t->run_dir, t->epochs_done, t->next_step, ckpt ? ckpt + 1 : t->last_ckpt));
    return publisher_announce_end(t->pub, t->next_step, t->epochs_done);
}

static int loop(trainer_t *t, const volatile sig_atomic_t *stop) {
    t->acc.epoch = -1;
    for (;;) {
        const proto_batch_t *batch = NULL;
        const proto_control_t *ctrl = NULL;
        /* checked here too: the stream returns TS_STOPPED only while it waits, and a fast loader
         * keeps it from ever waiting */
        double t0 = now_s();
        int ev = *stop ? TS_STOPPED : tstream_next(t->ts, stop, &batch, &ctrl);
        if (t->t_first_batch > 0) t->wait_s += now_s() - t0;
        else if (ev == TS_BATCH) t->t_first_batch = t->tb_t_mark = now_s();
        switch (ev) {
        case TS_BATCH:
            TRY(train_step(t, batch));
            break;
        case TS_END_EPOCH:
            TRY(end_epoch(t, ctrl));
            break;
        case TS_END_RUN:
            final_summary(t, "Done");
            return end_run(t);
        case TS_STOPPED:
            if (t->prog.bar && t->acc.steps) putchar('\n');
            final_summary(t, "Stopped");
            LOG_W("stopped at step %" PRIu64 "; resume with --resume %s", t->next_step,
                  t->last_ckpt ? t->last_ckpt : t->c->resume ? t->c->resume : "(no checkpoint yet)");
            return 0;
        default:
            err_prepend("batch stream");
            return -1;
        }
    }
}

int trainer_run(const trainer_config_t *c, const volatile sig_atomic_t *stop) {
    log_set_thread_name("trainer");
    trainer_t *t = calloc(1, sizeof *t);
    CHECK(t != NULL, "out of memory");
    t->c = c;
    t->t_run = now_s();
    int rc = setup(t);
    if (rc == 0 && t->complete) {
        printf("The run in %s is complete: %u of %d epochs, %" PRIu64 " steps - nothing to train\n", t->run_dir,
               t->epochs_done, t->epochs, t->next_step);
        fflush(stdout);
        if (!runend_exists(t->run_dir)) rc = runend_write(t->run_dir, t->epochs_done, t->next_step, "latest.safetensors");
    } else if (rc == 0) {
        rc = loop(t, stop);
    }
    teardown(t);
    free(t);
    return rc;
}
