/* benchmark.c: trainer --benchmark (and bench_step): time training steps (stage + step: forward,
 * backward, update) of a model on a backend with random images, and print the per-step statistics
 * ("median ms/step: X"), the work per step and the rate (GFLOP/step, TFLOP/s).
 *
 * Per-step times come from the host clock for the synchronous CPU backends, and from the device's
 * own clock (CUDA events around the step) where the backend has one, each step then waited for.
 * Where steps are asynchronous, a second, pipelined run (nothing waited for until the end) gives the
 * throughput the trainer sees: "pipelined ms/step". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/rng.h"
#include "common/timeutil.h"
#include "nn/backend.h"
#include "trainer/trainer.h"

#define WARMUP_STEPS 3   /* the first step touches every page (cuda: loads kernels, then captures) */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const nn_model_t *m;
    const nn_backend_t *be;
    void *ctx;
    int batch;
    uint8_t *images;
    float *labels;
} bench_t;

static int one_step(const bench_t *b, int s) {
    TRY(b->be->stage(b->ctx, b->images, b->labels, b->batch, rng_derive(7, (uint64_t)s)));
    TRY(b->be->step(b->ctx, b->m->optim.learning_rate));
    return 0;
}

/* Warm-up, then `steps` timed steps into ms[]; the loss stays finite. */
static int timed_steps(const bench_t *b, int steps, double *ms) {
    for (int s = -WARMUP_STEPS; s < steps; s++) {
        double t0 = now_s();
        TRY(one_step(b, s + WARMUP_STEPS));
        double t = (now_s() - t0) * 1e3;
        if (b->be->last_step_ms) TRY(b->be->last_step_ms(b->ctx, &t));
        if (s >= 0) ms[s] = t;
    }
    nn_sums_t sums;
    TRY(b->be->sums(b->ctx, &sums, 1));
    CHECK(isfinite(sums.loss_sum), "benchmark: the loss is not finite (%g)", sums.loss_sum);
    return 0;
}

/* Steps launched back to back, waited for once at the end: ms per step as the trainer sees it. */
static int pipelined_steps(const bench_t *b, int steps, double *ms_per_step) {
    double t0 = now_s();
    for (int s = 0; s < steps; s++) TRY(one_step(b, s));
    TRY(b->be->sums(b->ctx, NULL, 1));
    *ms_per_step = (now_s() - t0) * 1e3 / steps;
    return 0;
}

int trainer_benchmark(const nn_model_t *m, const char *backend, const char *precision, int autotune, int steps,
                      int batch) {
    CHECK(m && steps > 0 && batch > 0, "benchmark: needs a model, steps > 0 and batch > 0");
    nn_options_t opts = {.autotune = autotune};
    if (nn_precision_parse(precision, &opts.precision) != 0) return -1;
    bench_t b = {.m = m, .batch = batch};
    size_t image_bytes = (size_t)batch * m->in_h * m->in_w * m->in_c;
    b.images = malloc(image_bytes);
    b.labels = malloc(sizeof(float) * batch);
    float *params = malloc(sizeof(float) * (m->n_params ? m->n_params : 1));
    double *ms = malloc(sizeof(double) * steps);
    int rc = -1;
    CHECK_GOTO(b.images && b.labels && params && ms, out, "benchmark: out of memory");
    rng_t r;
    rng_init(&r, 0x62656e6368ull, 0);   /* fixed data: runs are comparable */
    for (size_t i = 0; i < image_bytes; i++) b.images[i] = (uint8_t)(rng_u32(&r) >> 24);
    for (int i = 0; i < batch; i++) b.labels[i] = (float)(rng_u32(&r) >> 31);
    nn_init_params(m, 1, params);
    double t0 = now_s();
    if (nn_backend_open(backend, m, batch, &opts, &b.be, &b.ctx) != 0) goto out;
    double t_create = now_s() - t0;
    if (b.be->set_params(b.ctx, params, NULL) != 0 || timed_steps(&b, steps, ms) != 0) goto out;
    double pipelined = 0.0;
    if (b.be->last_step_ms && pipelined_steps(&b, steps, &pipelined) != 0) goto out;

    double sum = 0.0;
    for (int i = 0; i < steps; i++) sum += ms[i];
    qsort(ms, steps, sizeof(double), cmp_double);
    double median = steps % 2 ? ms[steps / 2] : 0.5 * (ms[steps / 2 - 1] + ms[steps / 2]);
    double gflop = nn_train_flops(m, batch) / 1e9;
    char desc[400];
    b.be->describe(b.ctx, desc, sizeof desc);
    const char *threads = getenv("OMP_NUM_THREADS");
    printf("benchmark: model %s (%zu parameters), backend %s (%s), batch %d, %d steps after %d warm-up, "
           "OMP_NUM_THREADS=%s, create %.0f ms\n",
           m->name, m->n_params, b.be->name, desc, batch, steps, WARMUP_STEPS, threads ? threads : "(unset)",
           t_create * 1e3);
    printf("timed by: %s\n", b.be->last_step_ms ? "device events, each step waited for" : "host clock");
    printf("min ms/step: %.3f\n", ms[0]);
    printf("mean ms/step: %.3f\n", sum / steps);
    if (b.be->last_step_ms) printf("pipelined ms/step: %.3f\n", pipelined);
    printf("images/s: %.1f\n", batch * 1e3 / median);
    printf("GFLOP/step: %.2f\n", gflop);
    printf("TFLOP/s: %.2f\n", gflop / median);
    printf("median ms/step: %.3f\n", median);
    fflush(stdout);
    rc = 0;
out:
    if (b.ctx) b.be->destroy(&b.ctx);
    free(b.images);
    free(b.labels);
    free(params);
    free(ms);
    return rc;
}
