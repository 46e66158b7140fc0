/* main.c: the trainer process: parses flags into a trainer_config_t and runs the training loop,
 * or one of its side modes (--summary, --dry-run, --benchmark). */
#include <stdio.h>
#include <string.h>

#include "common/check.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/proc.h"
#include "nn/model.h"
#include "trainer/trainer.h"

static int parse_progress(const char *s, int *out) {
    if (strcmp(s, "auto") == 0) *out = -1;
    else if (strcmp(s, "plain") == 0) *out = 0;
    else if (strcmp(s, "bar") == 0) *out = 1;
    else return -1;
    return 0;
}

int main(int argc, char **argv) {
    trainer_config_t c;
    trainer_config_default(&c);
    const char *progress = "auto", *log_level = "info";
    int summary = 0, dry_run = 0, benchmark = 0, batch = 0;
    const cli_opt_t opts[] = {
        {"model", CLI_STR, &c.model_path, "PAWPIPE_MODEL", "MODEL.ini",
         "model spec: layers, optimizer, batch size, epochs, seed (required)"},
        {"summary", CLI_BOOL, &summary, NULL, NULL,
         "print the Keras-style summary of the model (layers, output shapes, parameter counts) and exit"},
        {"epochs", CLI_INT, &c.epochs, "PAWPIPE_EPOCHS", "N", "length of the run in epochs; 0: the spec's"},
        {"steps-per-epoch", CLI_INT, &c.steps_per_epoch, "PAWPIPE_STEPS_PER_EPOCH", "N",
         "batches per epoch, passed to the loader; -1: the spec's, 0: one pass over the training split"},
        {"backend", CLI_STR, &c.backend, "PAWPIPE_BACKEND", "NAME",
         "compute backend: ref (plain C reference), cpu (oneDNN; Winograd convolutions where they fit), cpu-direct (oneDNN, direct convolutions only) or cuda (cuDNN and cuBLAS on the GPU)"},
        {"precision", CLI_STR, &c.precision, "PAWPIPE_PRECISION", "fp32|tf32",
         "arithmetic: fp32 (float32 everywhere, the same results as the CPU backends within rounding) or tf32 (cuda only: tensor cores round products' inputs to TF32, faster)"},
        {"autotune", CLI_BOOL, &c.autotune, "PAWPIPE_AUTOTUNE", NULL,
         "cuda: time cuDNN's convolution algorithms at start-up and take the fastest, instead of its heuristics' choice; a resumed run may then differ from an uninterrupted one in the last bits"},
        {"run-dir", CLI_STR, &c.run_dir, "PAWPIPE_RUN_DIR", "DIR",
         "where checkpoints are written (default: runs/<model name>)"},
        {"batches-bind", CLI_STR, &c.batches_bind, "PAWPIPE_BATCHES_BIND", "ENDPOINT",
         "bind the PULL socket the augmenters send batches to"},
        {"credits", CLI_STR, &c.credits, "PAWPIPE_CREDITS", "ENDPOINT",
         "connect to the loader's credit socket (start position and one credit per batch taken)"},
        {"checkpoints-bind", CLI_STR, &c.checkpoints_bind, "PAWPIPE_CHECKPOINTS_BIND", "ENDPOINT",
         "bind the PUB socket that publishes checkpoints and metrics to evaluators"},
        NET_OPT_KEY(&c.net),
        NET_OPT_ALLOW(&c.net),
        NET_OPT_LOADER_KEY(&c.net),
        NET_OPT_INSECURE(&c.net),
        NET_OPT_IO_THREADS(&c.net),
        {"resume", CLI_STR, &c.resume, "PAWPIPE_RESUME", "CKPT",
         "continue from a checkpoint of the same model: weights, optimizer state, step and seed"},
        {"init-from", CLI_STR, &c.init_from, "PAWPIPE_INIT_FROM", "MODEL",
         "start from the weights of MODEL, a checkpoint or a Keras .h5 / .keras file of the same layers "
         "(e.g. a notebook's model to fine-tune): weights only, with fresh RMSprop state, at step 0 and "
         "epoch 0; --resume-latest still resumes a run that has checkpoints"},
        {"resume-latest", CLI_BOOL, &c.resume_latest, "PAWPIPE_RESUME_LATEST", NULL,
         "continue from the run folder's latest checkpoint when there is one (else start afresh); a run folder "
         "whose run is complete makes the trainer exit 0 at once: for restart policies"},
        {"checkpoint-every", CLI_INT, &c.checkpoint_every, "PAWPIPE_CHECKPOINT_EVERY", "N",
         "also checkpoint every N steps (ckpt-step-NNNNNN.safetensors); 0: only at epoch ends"},
        {"tensorboard-every", CLI_INT, &c.tensorboard_every, "PAWPIPE_TENSORBOARD_EVERY", "N",
         "TensorBoard: batch_loss, batch_accuracy and batch_images_per_second every N steps besides the "
         "epoch values (RUN/tensorboard/train); 0: the epoch values only"},
        {"no-tensorboard", CLI_BOOL, &c.no_tensorboard, "PAWPIPE_NO_TENSORBOARD", NULL,
         "write no TensorBoard event files"},
        {"window", CLI_INT, &c.window, "PAWPIPE_WINDOW", "W",
         "reorder window in batches; at least the loader's credit window"},
        {"stall-ms", CLI_INT, &c.stall_ms, "PAWPIPE_STALL_MS", "MS",
         "with no batch for MS ms mid-run, send START again at the current position, so that a restarted "
         "loader carries on from there"},
        {"progress", CLI_STR, &progress, "PAWPIPE_PROGRESS", "auto|bar|plain",
         "live progress bar, or one plain line per epoch; auto: a bar when stdout is a terminal"},
        {"dry-run", CLI_BOOL, &dry_run, NULL, NULL,
         "consume the run's batches in order without training; print 'seq epoch ids sha256' per batch"},
        {"benchmark", CLI_INT, &benchmark, NULL, "N",
         "time N training steps on random data after a warm-up, print the median ms/step, exit"},
        {"batch", CLI_INT, &batch, NULL, "B", "batch size of --benchmark; 0: the spec's"},
        {"log-level", CLI_STR, &log_level, "PAWPIPE_LOG_LEVEL", "LEVEL", "debug, info, warn or error"},
    };
    int rc = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), "--model MODEL.ini [options]",
                       "The trainer stage of pawpipe: takes augmented batches in sequence order, trains the "
                       "model one step per batch,\nwrites a checkpoint at each epoch end and publishes it to "
                       "evaluators.", NULL);
    if (rc == 1) return 0;
    if (rc < 0) return 2;
    if (log_setup("trainer", log_level) != 0) return 2;
    if (parse_progress(progress, &c.progress) != 0) {
        fprintf(stderr, "error: --progress: '%s' is not auto, bar or plain\n", progress);
        return 2;
    }
    if (!c.model_path) {
        fprintf(stderr, "error: --model MODEL.ini is required (see --help)\n");
        return 2;
    }
    if (c.init_from && c.resume) {
        fprintf(stderr, "error: --init-from and --resume exclude each other: --resume continues a run, "
                        "--init-from starts one (see --help)\n");
        return 2;
    }
    if (c.tensorboard_every < 0) {
        fprintf(stderr, "error: --tensorboard-every wants 0 or more (see --help)\n");
        return 2;
    }
    if (c.checkpoint_every < 0 || c.window < 1 || c.stall_ms < 1 || c.epochs < 0 || c.steps_per_epoch < -1 ||
        benchmark < 0 || batch < 0) {
        fprintf(stderr, "error: negative --checkpoint-every, --epochs, --benchmark or --batch, "
                        "--steps-per-epoch below -1, or --window or --stall-ms below 1\n");
        return 2;
    }

    if (summary || benchmark > 0) {
        nn_model_t m;
        memset(&m, 0, sizeof m);
        if (nn_model_load(c.model_path, &m) != 0) {
            fprintf(stderr, "error: %s\n", err_msg());
            return 2;
        }
        if (summary) {
            nn_model_summary(&m, stdout);
            rc = 0;
        } else {
            rc = trainer_benchmark(&m, c.backend, c.precision, c.autotune, benchmark, batch > 0 ? batch : m.train.batch_size);
            if (rc != 0) LOG_E("benchmark: %s", err_msg());
        }
        nn_model_free(&m);
        return rc == 0 ? 0 : 1;
    }

    /* The batches arrive as ~1 MB frames, one a step: keep their blocks in the heap. */
    if (proc_keep_heap() != 0) LOG_W("%s: large frames will be mapped afresh", err_msg());
    /* SIGINT/SIGTERM: stop cleanly after the current step; a second signal exits at once. */
    if (proc_setup() != 0) {
        log_error();
        return 1;
    }
    rc = dry_run ? trainer_dry_run(&c, &proc_stop) : trainer_run(&c, &proc_stop);
    if (rc != 0) {
        log_error();
        return 1;
    }
    return proc_exit_status();
}
