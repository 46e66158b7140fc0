/* dryrun.c: trainer --dry-run: consume the run's batches in sequence order without training, credit
 * them, and print "seq epoch id,id,... sha256" per batch (stdout) and per-epoch counts (stderr), so
 * two runs can be compared byte for byte. */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "proto/sock.h"
#include "trainer/stream.h"
#include "trainer/trainer.h"

/* The clock of the first epoch starts at the run's first batch (start-up and connection time are not
 * data-path time), so its rate counts the images after that batch; later epochs run from the end of
 * the previous one. */
typedef struct {
    uint64_t batches, images, uncounted;   /* uncounted: images of the run's first batch */
    double work_ms, t0;
} epoch_sums_t;

static int print_batch(const proto_batch_t *b) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    CHECK(EVP_Digest(b->images, b->images_len, md, &md_len, EVP_sha256(), NULL) == 1, "EVP_Digest(SHA-256) failed");
    char line[PROTO_MAX_MEMBERS * 11 + 256];
    int n = snprintf(line, sizeof line, "%" PRIu64 " %u ", b->seq, b->epoch);
    for (uint32_t i = 0; i < b->n; i++) n += snprintf(line + n, sizeof line - (size_t)n, i ? ",%u" : "%u", b->ids[i]);
    line[n++] = ' ';
    for (unsigned i = 0; i < md_len; i++) n += snprintf(line + n, sizeof line - (size_t)n, "%02x", md[i]);
    line[n++] = '\n';
    /* one line at a time, so whoever reads the output (a test, a pipe) sees the run's progress */
    CHECK(fwrite(line, 1, (size_t)n, stdout) == (size_t)n && fflush(stdout) == 0, "writing to stdout failed");
    return 0;
}

static void print_epoch(const proto_control_t *k, const epoch_sums_t *e) {
    double dt = now_s() - e->t0;
    uint64_t timed = e->batches - (e->uncounted ? 1 : 0);
    fprintf(stderr,
            "dry-run: epoch %u: %" PRIu64 " batches, %" PRIu64 " images, %u skipped, %.3f s, %.1f images/s, "
            "augmenter work %.2f ms/batch, interval %.2f ms/batch\n",
            k->epoch + 1, e->batches, e->images, k->skipped, dt,
            dt > 0 ? (double)(e->images - e->uncounted) / dt : 0.0, e->batches ? e->work_ms / (double)e->batches : 0.0,
            timed ? dt * 1000.0 / (double)timed : 0.0);
    fflush(stderr);
}

/* Where the run starts: 0, or the step of the --resume checkpoint. */
static int start_step(const trainer_config_t *c, uint64_t *step) {
    *step = 0;
    if (!c->resume) return 0;
    nn_model_t m;
    nn_ckpt_info_t info;
    float *params = NULL, *rms = NULL;
    memset(&m, 0, sizeof m);
    TRY(nn_ckpt_load(c->resume, &m, &info, &params, &rms));
    *step = info.step;
    free(params);
    free(rms);
    nn_model_free(&m);
    return 0;
}

static int consume(tstream_t *ts, const volatile sig_atomic_t *stop) {
    epoch_sums_t e = {0};
    int first = 1;
    for (;;) {
        const proto_batch_t *b = NULL;
        const proto_control_t *k = NULL;
        int ev = tstream_next(ts, stop, &b, &k);
        switch (ev) {
        case TS_BATCH:
            if (first) {
                e.t0 = now_s();
                e.uncounted = b->n;
                first = 0;
            }
            TRY(print_batch(b));
            e.batches++;
            e.images += b->n;
            e.work_ms += b->work_ms;
            break;
        case TS_END_EPOCH:
            fflush(stdout);
            print_epoch(k, &e);
            memset(&e, 0, sizeof e);
            e.t0 = now_s();
            first = 0;
            break;
        case TS_END_RUN:
            fflush(stdout);
            fprintf(stderr, "dry-run: END_RUN at seq %" PRIu64 "\n", k->seq);
            return 0;
        case TS_STOPPED:
            fflush(stdout);
            LOG_W("dry run stopped before the end of the run");
            return 0;
        default:
            err_prepend("batch stream");
            return -1;
        }
    }
}

int trainer_dry_run(const trainer_config_t *c, const volatile sig_atomic_t *stop) {
    log_set_thread_name("dry-run");
    nn_model_t m;
    memset(&m, 0, sizeof m);
    CHECK(c->model_path != NULL, "no model spec (--model)");
    TRY(nn_model_load(c->model_path, &m));
    uint64_t step = 0;
    if (start_step(c, &step) != 0) {
        nn_model_free(&m);
        return -1;
    }
    net_t *net = NULL;
    int rc = -1;
    tstream_t *ts = NULL;
    if (net_open(&c->net, c->zctx, "trainer", &net) != 0) goto done;
    tstream_config_t sc = {
        .net = net,
        .batches_bind = c->batches_bind,
        .credits = c->credits,
        .start_seq = step,
        .epochs = (uint32_t)(c->epochs > 0 ? c->epochs : m.train.epochs),
        .steps_per_epoch = c->steps_per_epoch,
        .window = c->window,
        .stall_ms = c->stall_ms,
        .height = (uint32_t)m.in_h,
        .width = (uint32_t)m.in_w,
        .channels = (uint32_t)m.in_c,
        .max_batch = (uint32_t)m.train.batch_size,
    };
    if (tstream_open(&sc, &ts) != 0) goto done;
    LOG_I("dry run of %s: batch %d of %dx%dx%d, %u epochs, from seq %" PRIu64, c->model_path, m.train.batch_size,
          m.in_h, m.in_w, m.in_c, sc.epochs, step);
    rc = consume(ts, stop);
done:
    tstream_close(&ts);
    net_close(&net);
    nn_model_free(&m);
    return rc;
}
