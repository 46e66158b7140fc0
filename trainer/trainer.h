/* trainer.h: the trainer stage. main.c parses flags into a trainer_config_t and calls one of these;
 * tests call them directly (as threads over inproc:// endpoints). */
#ifndef PAWPIPE_TRAINER_H
#define PAWPIPE_TRAINER_H

#include <signal.h>

#include "nn/model.h"
#include "proto/net.h"

typedef struct {
    const char *model_path;        /* --model MODEL.ini                                        */
    int epochs;                    /* --epochs N (0: the spec's)                               */
    int steps_per_epoch;           /* --steps-per-epoch N (-1: the spec's; 0: one pass)        */
    const char *backend;           /* --backend ref|cpu|cpu-direct|cuda                        */
    const char *precision;         /* --precision fp32|tf32 (tf32: cuda only)                  */
    int autotune;                  /* --autotune: cuda times cuDNN's algorithms at start-up    */
    const char *run_dir;           /* --run-dir DIR: checkpoints are written here              */
    const char *batches_bind;      /* --batches-bind ENDPOINT                                  */
    const char *credits;           /* --credits ENDPOINT (the loader's)                        */
    const char *checkpoints_bind;  /* --checkpoints-bind ENDPOINT                              */
    const char *resume;            /* --resume CKPT                                            */
    const char *init_from;         /* --init-from MODEL: start from its weights (a checkpoint or
                                      a Keras file); fresh optimizer state, step 0              */
    int resume_latest;             /* --resume-latest: from run_dir/latest.safetensors if any  */
    int checkpoint_every;          /* --checkpoint-every N steps (0: only at epoch ends)       */
    int tensorboard_every;         /* --tensorboard-every N: batch_* values every N steps      */
    int no_tensorboard;            /* --no-tensorboard: no run_dir/tensorboard event files     */
    int window;                    /* reorder window, = the loader's credit window             */
    int stall_ms;                  /* --stall-ms: START again after this long without a batch  */
    int progress;                  /* -1 auto (bar on a terminal), 0 plain lines, 1 bar        */
    net_config_t net;              /* keys, allow-list, --insecure, I/O threads (proto/net.h) */
    void *zctx;                    /* ZeroMQ context to use; NULL: the stage makes its own     */
} trainer_config_t;

void trainer_config_default(trainer_config_t *c);

/* Train over the batch stream until the loader's END_RUN marker or *stop. 0 / -1 + err_msg(). */
int trainer_run(const trainer_config_t *c, const volatile sig_atomic_t *stop);

/* --dry-run: consume the batches of the run in order without training, return credits, and print
 * "seq epoch id,id,... sha256hex" per batch on stdout; returns 0 after END_RUN. */
int trainer_dry_run(const trainer_config_t *c, const volatile sig_atomic_t *stop);

/* --benchmark N: N training steps on random data after a warm-up; prints "median ms/step: X". */
int trainer_benchmark(const nn_model_t *m, const char *backend, const char *precision, int autotune, int steps,
                      int batch);

#endif
