/* benchmark.c: trainer --benchmark: time training steps (forward_backward + update) of a model on a
 * backend with random images, and print the per-step statistics ("median ms/step: X"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/rng.h"
#include "common/timeutil.h"
#include "nn/backend.h"
#include "trainer/trainer.h"

#define WARMUP_STEPS 2   /* the first step touches every page; the second is already steady */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run(const nn_model_t *m, const nn_backend_t *be, void *ctx, int steps, int batch, uint8_t *images,
               float *labels, double *ms) {
    rng_t r;
    rng_init(&r, 0x62656e6368ull, 0);   /* fixed data: runs are comparable */
    size_t image_bytes = (size_t)batch * m->in_h * m->in_w * m->in_c;
    for (size_t i = 0; i < image_bytes; i++) images[i] = (uint8_t)(rng_u32(&r) >> 24);
    for (int i = 0; i < batch; i++) labels[i] = (float)(rng_u32(&r) >> 31);
    for (int s = -WARMUP_STEPS; s < steps; s++) {
        nn_stats_t st;
        double t0 = now_s();
        TRY(be->forward_backward(ctx, images, labels, batch, rng_derive(7, (uint64_t)(s + WARMUP_STEPS)), &st));
        TRY(be->update(ctx, m->optim.learning_rate));
        double t1 = now_s();
        CHECK(isfinite(st.loss), "benchmark: loss %g at step %d", st.loss, s);
        if (s >= 0) ms[s] = (t1 - t0) * 1e3;
    }
    return 0;
}

int trainer_benchmark(const nn_model_t *m, const char *backend, int steps, int batch) {
    CHECK(m && steps > 0 && batch > 0, "benchmark: needs a model, steps > 0 and batch > 0");
    const nn_backend_t *be = nn_backend_find(backend);
    if (!be) return -1;
    void *ctx = NULL;
    size_t image_bytes = (size_t)batch * m->in_h * m->in_w * m->in_c;
    uint8_t *images = malloc(image_bytes);
    float *labels = malloc(sizeof(float) * batch);
    float *params = malloc(sizeof(float) * (m->n_params ? m->n_params : 1));
    double *ms = malloc(sizeof(double) * steps);
    int rc = -1;
    CHECK_GOTO(images && labels && params && ms, out, "benchmark: out of memory");
    nn_init_params(m, 1, params);
    double t0 = now_s();
    if (be->create(m, batch, &ctx) != 0) goto out;
    double t_create = now_s() - t0;
    if (be->set_params(ctx, params, NULL) != 0) goto out;
    if (run(m, be, ctx, steps, batch, images, labels, ms) != 0) goto out;

    double sum = 0.0;
    for (int i = 0; i < steps; i++) sum += ms[i];
    qsort(ms, steps, sizeof(double), cmp_double);
    double median = steps % 2 ? ms[steps / 2] : 0.5 * (ms[steps / 2 - 1] + ms[steps / 2]);
    const char *threads = getenv("OMP_NUM_THREADS");
    printf("benchmark: model %s (%zu parameters), backend %s, batch %d, %d steps after %d warm-up, "
           "OMP_NUM_THREADS=%s, create %.0f ms\n",
           m->name, m->n_params, be->name, batch, steps, WARMUP_STEPS, threads ? threads : "(unset)", t_create * 1e3);
    printf("min ms/step: %.2f\n", ms[0]);
    printf("mean ms/step: %.2f\n", sum / steps);
    printf("images/s: %.1f\n", batch * 1e3 / median);
    printf("median ms/step: %.2f\n", median);
    fflush(stdout);
    rc = 0;
out:
    if (ctx) be->destroy(&ctx);
    free(images);
    free(labels);
    free(params);
    free(ms);
    return rc;
}
