/* bench_step.c: time training steps of a model spec on a backend: trainer_benchmark without the rest
 * of the trainer (no ZeroMQ, no images). Prints "median ms/step: X", "TFLOP/s: T" among its statistics. */
#include <stdio.h>

#include "common/check.h"
#include "common/cli.h"
#include "common/log.h"
#include "nn/model.h"
#include "trainer/trainer.h"

int main(int argc, char **argv) {
    log_init("bench_step", NULL);
    const char *backend = "cpu", *precision = "fp32";
    int steps = 20, batch = 0, first = 0, autotune = 0;
    const cli_opt_t opts[] = {
        {"backend", CLI_STR, &backend, NULL, "NAME", "backend: ref, cpu, cpu-direct or cuda (those this build has)"},
        {"precision", CLI_STR, &precision, NULL, "fp32|tf32", "arithmetic precision (tf32: cuda only)"},
        {"autotune", CLI_BOOL, &autotune, NULL, NULL, "cuda: time cuDNN's convolution algorithms instead of its heuristics"},
        {"steps", CLI_INT, &steps, NULL, "N", "timed training steps, after the warm-up"},
        {"batch", CLI_INT, &batch, NULL, "B", "images per step; 0: the spec's batch size"},
    };
    int rc = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), "bench_step [flags] MODEL.ini",
                       "Median, min and mean time of a training step (forward, backward, update) on random data.",
                       &first);
    if (rc != 0) return rc > 0 ? 0 : 2;
    if (first != argc - 1) {
        fprintf(stderr, "error: give one model spec (see --help)\n");
        return 2;
    }
    nn_model_t m;
    if (nn_model_load(argv[first], &m) != 0) {
        log_error();
        return 1;
    }
    rc = trainer_benchmark(&m, backend, precision, autotune, steps, batch > 0 ? batch : m.train.batch_size);
    if (rc != 0) LOG_E("benchmark: %s", err_msg());
    nn_model_free(&m);
    return rc == 0 ? 0 : 1;
}
