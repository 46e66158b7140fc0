/* run.c: evaluator_run: follow the trainer's checkpoint stream and score every checkpoint, or only the
 * newest of those queued when scoring falls behind; history.csv and curves.png after each one. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/check.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/runend.h"
#include "common/timeutil.h"
#include "evaluator/curves.h"
#include "evaluator/eval.h"
#include "evaluator/history.h"
#include "image/dataset.h"
#include "interop/tboard.h"
#include "nn/backend.h"
#include "proto/sock.h"

#define POLL_MS 200           /* how often a waiting evaluator looks at *stop                       */
#define CATCH_UP_IDLE_MS 2000  /* idle this long: look for a checkpoint file that never arrived      */

typedef struct {
    const evaluator_config_t *c;
    net_t *net;
    evaluator_stats_t stats;
    scorer_t scorer;
    valset_t valset;
    char history[1024], curves[1024], latest[1024];
    int have_last;
    uint32_t last_epoch;     /* of the last checkpoint received                              */
    int have_seen;
    uint64_t max_step;       /* the furthest step received or scored                          */
    char last_file[PROTO_PATH_MAX];   /* file name of the last checkpoint received, or tried  */
    int have_scored;
    uint32_t scored_epoch;   /* the last checkpoint scored                                    */
    uint64_t scored_step;
    int tb_state;            /* run_dir/tensorboard/validation: 0 not opened yet, 1 open, -1 given up */
    tboard_t tb;
} session_t;

static void progress(session_t *s) {
    if (s->c->on_progress) s->c->on_progress(&s->stats, s->c->progress_arg);
}

/* Where the numbering of received checkpoints jumps, say why. */
static void note_sequence(session_t *s, const proto_checkpoint_t *ck) {
    const char *why = "dropped at the high-water mark while we were busy, or published while we were "
                      "disconnected";
    if (s->have_last && ck->epoch == s->last_epoch + 2)
        LOG_W("no checkpoint of epoch %u arrived (%s)", s->last_epoch + 1, why);
    else if (s->have_last && ck->epoch > s->last_epoch + 2)
        LOG_W("no checkpoint of epochs %u to %u arrived (%s)", s->last_epoch + 1, ck->epoch - 1, why);
    else if (s->have_last && ck->epoch < s->last_epoch)
        LOG_I("epoch %u follows epoch %u: the trainer restarted or resumed from an earlier checkpoint",
              ck->epoch, s->last_epoch);
    s->have_last = 1;
    s->last_epoch = ck->epoch;
}

/* Remember a checkpoint as seen: its step, and its file name (compared with latest.safetensors). */
static void note_seen(session_t *s, uint64_t step, const char *path) {
    if (!s->have_seen || step > s->max_step) s->max_step = step;
    s->have_seen = 1;
    const char *slash = strrchr(path, '/');
    snprintf(s->last_file, sizeof s->last_file, "%s", slash ? slash + 1 : path);
}

/* Account for what sock_recv (returning r) gave: -1 the socket failed (fatal); 0 nothing to score
 * (a bad frame, counted and logged, or metrics, which the checkpoint carries); 1 a checkpoint,
 * counted and noted. */
static int take_frame(session_t *s, int r, const proto_msg_t *m) {
    if (r == -2) {
        err_prepend("checkpoints socket %s", s->c->checkpoints);
        return -1;
    }
    if (r == -1) {
        s->stats.bad_frames++;
        net_rejected(s->net, "checkpoints", "%s", err_msg());
        progress(s);
        return 0;
    }
    if (m->kind != PROTO_CHECKPOINT) return 0;
    s->stats.received++;
    note_sequence(s, &m->checkpoint);
    note_seen(s, m->checkpoint.step, m->checkpoint.path);
    return 1;
}

/* 1 unless the checkpoint file (path or name) is one taken mid-epoch, ckpt-step-NNNNNN.safetensors. */
static int is_epoch_end(const char *path) {
    const char *slash = strrchr(path, '/');
    return strncmp(slash ? slash + 1 : path, "ckpt-step-", 10) != 0;
}

/* The row's validation metrics in run_dir/tensorboard/validation, as Keras' TensorBoard callback writes
 * them (docs/tensorboard.md): epoch_loss and epoch_accuracy at step = the 0-based epoch, for an epoch
 * end's checkpoint only (one taken mid-epoch carries the same epoch count), and for every checkpoint
 * evaluation_loss_vs_iterations and evaluation_accuracy_vs_iterations at step = its training steps.
 * The file is made at the first row (an evaluator with nothing to score leaves none). A failure is a
 * warning, once: the files are lost, not the evaluation. */
static void tb_record(session_t *s, const history_row_t *row, int epoch_end) {
    const evaluator_config_t *c = s->c;
    if (!c->run_dir || c->no_tensorboard || s->tb_state < 0) return;
    if (s->tb_state == 0) {
        char dir[1100];
        snprintf(dir, sizeof dir, "%s/tensorboard/validation", c->run_dir);
        s->tb_state = tboard_open(&s->tb, dir) == 0 ? 1 : -1;
    }
    tboard_t *w = &s->tb;
    int64_t step = (int64_t)row->step, epoch = (int64_t)row->epoch - 1;
    if (s->tb_state < 0 ||
        tboard_scalar(w, "evaluation_loss_vs_iterations", step, row->val.loss) != 0 ||
        tboard_scalar(w, "evaluation_accuracy_vs_iterations", step, row->val.accuracy) != 0 ||
        (epoch_end && epoch >= 0 &&
         (tboard_scalar(w, "epoch_loss", epoch, row->val.loss) != 0 ||
          tboard_scalar(w, "epoch_accuracy", epoch, row->val.accuracy) != 0)) ||
        tboard_flush(w) != 0) {
        LOG_W("%s; going on without TensorBoard event files", err_msg());
        tboard_close(w);
        s->tb_state = -1;
    }
}

/* Score the model in s->scorer (weights loaded) and record it: the line, history.csv, curves.png, the
 * TensorBoard values. epoch_end: a checkpoint of an epoch's end (not one taken mid-epoch).
 * 0 scored, 1 failed (logged; go on), 2 stopped, -1 fatal. */
static int score_loaded(session_t *s, uint32_t epoch, uint64_t step, double loss, double accuracy,
                        int epoch_end, const volatile sig_atomic_t *stop) {
    const evaluator_config_t *c = s->c;
    TRY(eval_prepare_data(c, &s->scorer, &s->valset));
    double t0 = now_s();
    eval_metrics_t m;
    int rc = scorer_eval(&s->scorer, &s->valset, stop, &m);
    if (rc == 1) return 2;
    if (rc != 0) {
        LOG_E("checkpoint of epoch %u step %llu: %s", epoch, (unsigned long long)step, err_msg());
        return 1;
    }
    s->have_scored = 1;
    s->scored_epoch = epoch;
    s->scored_step = step;
    history_row_t row = {.epoch = epoch, .step = step, .loss = loss, .accuracy = accuracy, .val = m};
    eval_print_line(stdout, c->split, epoch, step, loss, accuracy, &m, now_s() - t0);
    if (c->run_dir) {
        /* A full disk or a removed run folder costs the files, not the evaluation. */
        if (history_append(s->history, &row) != 0)
            log_error();
        else if (curves_from_history(s->history, s->curves) != 0)
            LOG_E("curves: %s", err_msg());
        tb_record(s, &row, epoch_end);
    }
    return 0;
}

/* Score one checkpoint message. Same returns as score_loaded; 1 also for a checkpoint refused. */
static int score_message(session_t *s, const proto_checkpoint_t *ck, const volatile sig_atomic_t *stop) {
    const evaluator_config_t *c = s->c;
    char label[64];
    snprintf(label, sizeof label, "checkpoint epoch %u", ck->epoch);
    if (scorer_use_spec(&s->scorer, ck->spec, label, c->backend, c->precision, c->batch_size) != 0 ||
        scorer_set_tensors(&s->scorer, ck) != 0) {
        LOG_E("refusing the checkpoint of epoch %u step %llu: %s", ck->epoch,
              (unsigned long long)ck->step, err_msg());
        return 1;
    }
    return score_loaded(s, ck->epoch, ck->step, proto_metric_get(ck->metrics, ck->n_metrics, "loss"),
                        proto_metric_get(ck->metrics, ck->n_metrics, "accuracy"), is_epoch_end(ck->path),
                        stop);
}

/* The trainer also writes each checkpoint to its run folder and points latest.safetensors at it. When
 * the evaluator shares that folder and has been idle a while, a newer checkpoint named there than any
 * received has been lost on the way (a trainer that exits right after publishing its last one, a
 * message dropped at a high-water mark, an evaluator started after the run): score the file.
 * Returns 1 when nothing was scored, else as score_loaded. */
static int catch_up(session_t *s, const volatile sig_atomic_t *stop) {
    char target[PROTO_PATH_MAX];
    ssize_t n = readlink(s->latest, target, sizeof target - 1);
    if (n <= 0) return 1;
    target[n] = '\0';
    const char *slash = strrchr(target, '/');
    const char *name = slash ? slash + 1 : target;
    if (strcmp(name, s->last_file) == 0) return 1;   /* received, or tried already */
    snprintf(s->last_file, sizeof s->last_file, "%s", name);
    uint32_t epoch;
    uint64_t step;
    double loss, accuracy;
    if (eval_load_checkpoint_file(s->c, s->latest, 0, &s->scorer, &epoch, &step, &loss, &accuracy) != 0) {
        LOG_W("%s: %s", s->latest, err_msg());
        return 1;
    }
    if (s->have_seen && step <= s->max_step) return 1;
    LOG_W("%s (%s, epoch %u step %llu) never arrived on the checkpoint stream: scoring the file", s->latest,
          name, epoch, (unsigned long long)step);
    note_seen(s, step, name);
    return score_loaded(s, epoch, step, loss, accuracy, is_epoch_end(name), stop);
}

/* 1 when history.csv has a row for epoch (an epoch-end checkpoint was scored), else 0. */
static int in_history(const history_row_t *rows, int n, uint32_t epoch) {
    for (int i = 0; i < n; i++)
        if (rows[i].epoch == epoch) return 1;
    return 0;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The epochs of the ckpt-epoch-NNN.safetensors files in dir, sorted, into *epochs (malloc'ed). */
static int epoch_files(const char *dir, uint32_t **epochs, int *n) {
    *epochs = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    CHECK(d, "cannot read %s: %s", dir, strerror(errno));
    int cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        unsigned epoch;
        char tail[32];
        if (sscanf(e->d_name, "ckpt-epoch-%u%31s", &epoch, tail) != 2 || strcmp(tail, ".safetensors") != 0) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            uint32_t *grown = realloc(*epochs, sizeof **epochs * cap);
            if (!grown) {
                closedir(d);
                err_set("out of memory");
                return -1;
            }
            *epochs = grown;
        }
        (*epochs)[(*n)++] = epoch;
    }
    closedir(d);
    if (*n) qsort(*epochs, *n, sizeof **epochs, cmp_u32);
    return 0;
}

/* The run is over: score, from its file, each epoch checkpoint of the run folder whose epoch
 * history.csv does not have yet (missed on the stream: dropped while we were busy, or published before
 * we started), in epoch order. Returns 0, 2 when stopped, -1 fatal. */
static int score_remaining(session_t *s, const volatile sig_atomic_t *stop) {
    const evaluator_config_t *c = s->c;
    if (!c->run_dir) return 0;
    history_row_t *rows = NULL;
    uint32_t *epochs = NULL;
    int n = 0, cap = 0, n_epochs = 0, rc = 0;
    if (access(s->history, F_OK) == 0 && history_read(s->history, &rows, &n, &cap) != 0) {
        LOG_W("%s: %s; scoring every checkpoint of the run folder", s->history, err_msg());
        n = 0;
    }
    if (epoch_files(c->run_dir, &epochs, &n_epochs) != 0) {
        LOG_W("%s", err_msg());
        n_epochs = 0;
    }
    for (int k = 0; k < n_epochs && rc == 0; k++) {
        if (in_history(rows, n, epochs[k])) continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/ckpt-epoch-%03u.safetensors", c->run_dir, epochs[k]);
        uint32_t e;
        uint64_t step;
        double loss, accuracy;
        if (eval_load_checkpoint_file(c, path, 0, &s->scorer, &e, &step, &loss, &accuracy) != 0) {
            LOG_W("%s: %s", path, err_msg());
            continue;
        }
        LOG_I("scoring %s, which the stream did not bring", path);
        rc = score_loaded(s, e, step, loss, accuracy, 1, stop);
        if (rc == 0) s->stats.evaluated++, s->stats.from_files++;
        if (rc == 1) rc = 0;
        progress(s);
    }
    free(rows);
    free(epochs);
    return rc;
}

/* Fail at start-up, not at the first checkpoint, when the data or the backend cannot be had. */
static int check_setup(const evaluator_config_t *c) {
    CHECK(c->data_dir != NULL, "no data set: give --data DIR (DIR/%s/<class>/*.jpg)", c->split);
    if (!nn_backend_usable(c->backend)) return -1;   /* err_msg() names the backends there are, or says why not */
    ds_split_t ds = {0};
    int64_t ignored = 0;
    int rc = ds_index(c->data_dir, c->split, 2, &ds, &ignored);
    ds_free(&ds);
    return rc;
}

int evaluator_run(const evaluator_config_t *c, const volatile sig_atomic_t *stop) {
    session_t s = {.c = c};
    TRY(check_setup(c));
    if (c->run_dir) {
        TRY(mkdir_p(c->run_dir));
        CHECK(snprintf(s.history, sizeof s.history, "%s/history.csv", c->run_dir) < (int)sizeof s.history &&
                  snprintf(s.curves, sizeof s.curves, "%s/curves.png", c->run_dir) < (int)sizeof s.curves &&
                  snprintf(s.latest, sizeof s.latest, "%s/latest.safetensors", c->run_dir) < (int)sizeof s.latest,
              "run directory name too long");
    }
    int rc = -1;
    TRY(net_open(&c->net, c->zctx, "evaluator", &s.net));
    void *sub = NULL;
    proto_msg_t *msgs = calloc(2, sizeof *msgs);   /* the one being scored and the next (large: heap) */
    zmq_msg_t frames[2];
    zmq_msg_init(&frames[0]);
    zmq_msg_init(&frames[1]);
    proto_limits_t lim;
    proto_limits_default(&lim);
    CHECK_GOTO(msgs != NULL, done, "out of memory");
    /* A small receive high-water mark: a checkpoint is megabytes and only the newest matters. */
    sub = net_connect(s.net, ZMQ_SUB, c->checkpoints, c->rcvhwm, NET_TRAINER, "checkpoints");
    if (!sub) {
        err_prepend("checkpoints socket %s", c->checkpoints);
        goto done;
    }
    /* Frames over the decoder's limit are refused by ZeroMQ before it allocates them. */
    int64_t max_size = (int64_t)lim.max_message;
    CHECK_GOTO(zmq_setsockopt(sub, ZMQ_MAXMSGSIZE, &max_size, sizeof max_size) == 0, done,
               "ZMQ_MAXMSGSIZE: %s", zmq_strerror(zmq_errno()));
    CHECK_GOTO(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0) == 0, done, "ZMQ_SUBSCRIBE: %s",
               zmq_strerror(zmq_errno()));
    LOG_I("waiting for checkpoints on %s (scoring on %s/%s with backend %s)", c->checkpoints,
          c->data_dir, c->split, c->backend);
    int cur = 0, ended = 0;
    int64_t last_activity = now_ms(), last_work = now_ms(), t_checked = 0;   /* last_work: a message or a score */
    while (!*stop && !ended && (c->max_checkpoints <= 0 || s.stats.evaluated < (uint64_t)c->max_checkpoints)) {
        int r = sock_recv(sub, &frames[cur], &lim, &msgs[cur], POLL_MS);
        if (r == 1 && sock_is_run_end(&msgs[cur])) {   /* after the last checkpoint, on the same socket */
            if (c->stay_after_end) continue;
            LOG_I("the trainer announced the end of the run");
            ended = 1;
            break;
        }
        if (r == 0) {
            if (net_check(s.net) != 0) goto done;   /* the trainer refused our key */
            if (!c->stay_after_end && runend_seen(c->run_dir, last_work, &t_checked)) {
                LOG_I("%s/%s: the run is over", c->run_dir, RUNEND_FILE);
                ended = 1;
                break;
            }
            if (!c->run_dir || now_ms() - last_activity < CATCH_UP_IDLE_MS) continue;
            int sr = catch_up(&s, stop);
            if (sr < 0) goto done;
            if (sr == 0) {
                s.stats.evaluated++;
                s.stats.from_files++;
                progress(&s);
                last_work = now_ms();
            }
            last_activity = now_ms();
            continue;
        }
        last_activity = last_work = now_ms();
        int took = take_frame(&s, r, &msgs[cur]);
        if (took < 0) goto done;
        if (took == 0) continue;
        /* Drain: whatever queued up while we were busy, keep only the newest checkpoint. */
        uint64_t skipped = 0;
        uint32_t first_skipped = msgs[cur].checkpoint.epoch;
        for (;;) {
            int nx = 1 - cur;
            r = sock_recv(sub, &frames[nx], &lim, &msgs[nx], 0);
            if (r == 0) break;
            took = take_frame(&s, r, &msgs[nx]);
            if (took < 0) goto done;
            if (took == 0) continue;
            skipped++;
            cur = nx;
        }
        const proto_checkpoint_t *ck = &msgs[cur].checkpoint;
        if (skipped) {
            s.stats.skipped += skipped;
            LOG_W("fell behind: skipping %llu queued checkpoint(s) (epoch %u onwards), scoring the newest, "
                  "epoch %u step %llu", (unsigned long long)skipped, first_skipped, ck->epoch,
                  (unsigned long long)ck->step);
        }
        if (s.have_scored && ck->epoch == s.scored_epoch && ck->step == s.scored_step) {
            LOG_I("epoch %u step %llu: already scored from its file", ck->epoch, (unsigned long long)ck->step);
            continue;
        }
        int sr = score_message(&s, ck, stop);
        if (sr < 0) goto done;
        if (sr == 0) s.stats.evaluated++;
        if (sr == 1) s.stats.refused++;
        progress(&s);
    }
    if (ended && score_remaining(&s, stop) < 0) goto done;
    rc = 0;
done:
    if (c->stats) *c->stats = s.stats;
    LOG_I("stopping: %llu checkpoint(s) received, %llu scored (%llu from files), %llu skipped, %llu refused",
          (unsigned long long)s.stats.received, (unsigned long long)s.stats.evaluated,
          (unsigned long long)s.stats.from_files, (unsigned long long)s.stats.skipped,
          (unsigned long long)s.stats.refused);
    sock_close(&sub);
    zmq_msg_close(&frames[0]);
    zmq_msg_close(&frames[1]);
    free(msgs);
    scorer_free(&s.scorer);
    valset_free(&s.valset);
    net_close(&s.net);
    if (tboard_close(&s.tb) != 0) LOG_W("%s", err_msg());
    return rc;
}
