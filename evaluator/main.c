/* main.c: the evaluator process: parses flags into an evaluator_config_t and follows the checkpoint
 * stream, or runs one of the one-shot commands (--checkpoint, --feature-maps, --predict). */
#include <stdio.h>
#include <string.h>

#include "common/check.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/proc.h"
#include "evaluator/evaluator.h"
#include "image/image.h"

static int usage_error(const char *msg) {
    fprintf(stderr, "error: %s (see --help)\n", msg);
    return 2;
}

int main(int argc, char **argv) {
    evaluator_config_t c;
    evaluator_config_default(&c);
    const char *log_level = "info", *checkpoint = NULL, *feature_maps = NULL, *out_dir = NULL, *export_path = NULL;
    int predict = 0;
    const cli_opt_t opts[] = {
        {"checkpoints", CLI_STR, &c.checkpoints, "PAWPIPE_CHECKPOINTS", "ENDPOINT",
         "the trainer's checkpoint PUB socket to subscribe to; the evaluator may start before or after "
         "the trainer, and reconnects when either restarts"},
        {"data", CLI_STR, &c.data_dir, "PAWPIPE_DATA", "DIR",
         "data set folder: images are read from DIR/<split>/<class>/*.{jpg,png} (required to score)"},
        {"split", CLI_STR, &c.split, "PAWPIPE_EVAL_SPLIT", "NAME",
         "split to score on: validation or test"},
        {"backend", CLI_STR, &c.backend, "PAWPIPE_BACKEND", "NAME",
         "compute backend: ref (plain C reference), cpu (oneDNN; Winograd convolutions where they fit), cpu-direct (oneDNN, direct convolutions only) or cuda (cuDNN and cuBLAS on the GPU)"},
        {"precision", CLI_STR, &c.precision, "PAWPIPE_PRECISION", "fp32|tf32",
         "arithmetic of the forward passes: fp32, or tf32 (cuda only: tensor cores round products' inputs to TF32)"},
        {"run-dir", CLI_STR, &c.run_dir, "PAWPIPE_RUN_DIR", "DIR",
         "append a row per checkpoint to DIR/history.csv, redraw DIR/curves.png and write TensorBoard event files to DIR/tensorboard/validation (none: print only)"},
        {"no-tensorboard", CLI_BOOL, &c.no_tensorboard, "PAWPIPE_NO_TENSORBOARD", NULL,
         "with --run-dir: write no TensorBoard event files (DIR/tensorboard/validation)"},
        {"validation-steps", CLI_INT, &c.validation_steps, "PAWPIPE_VALIDATION_STEPS", "N",
         "score N x the spec's batch_size images (spread over the split); -1: the spec's "
         "validation_steps, 0: every image"},
        {"batch-size", CLI_INT, &c.batch_size, "PAWPIPE_EVAL_BATCH_SIZE", "N",
         "images per forward pass; 0: the spec's batch_size"},
        {"rcvhwm", CLI_INT, &c.rcvhwm, "PAWPIPE_EVAL_RCVHWM", "N",
         "checkpoints queued for this evaluator while it is busy (ZMQ_RCVHWM); when it falls behind it "
         "scores the newest and skips the rest"},
        {"max-checkpoints", CLI_INT, &c.max_checkpoints, "PAWPIPE_EVAL_MAX_CHECKPOINTS", "N",
         "exit after scoring N checkpoints; 0: run until stopped (SIGINT/SIGTERM)"},
        {"checkpoint", CLI_STR, &checkpoint, NULL, "FILE",
         "score this checkpoint file, or Keras .h5 / .keras file, on --split, print the metrics and exit; "
         "with --feature-maps, --predict or --export: the model to use"},
        {"export", CLI_STR, &export_path, NULL, "OUT.h5|OUT.keras",
         "write the --checkpoint model with its weights and RMSprop state as a Keras file (legacy HDF5 "
         "or Keras 3's .keras, by the name's ending) for keras.models.load_model, then exit"},
        {"feature-maps", CLI_STR, &feature_maps, NULL, "IMAGE",
         "write the input and one grid of channel images per conv/pooling layer for IMAGE to --out"},
        {"out", CLI_STR, &out_dir, "PAWPIPE_EVAL_OUT", "DIR", "where --feature-maps writes its PNGs"},
        {"predict", CLI_BOOL, &predict, NULL, NULL,
         "print the class and probability of each IMAGE given after the flags, then exit"},
        {"digits", CLI_INT, &c.digits, NULL, "N",
         "decimals of the probabilities --predict prints; 9 shows a float's full precision"},
        {"classes", CLI_STR, &c.classes, "PAWPIPE_CLASSES", "A,B",
         "names of class 0 and class 1 for --predict (default: the folder names under --data, else "
         "cats,dogs)"},
        NET_OPT_KEY(&c.net),
        NET_OPT_TRAINER_KEY(&c.net),
        NET_OPT_IO_THREADS(&c.net),
        {"log-level", CLI_STR, &log_level, "PAWPIPE_LOG_LEVEL", "LEVEL", "debug, info, warn or error"},
    };
    int first = 0;
    int rc = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
                       "[--data DIR] [--run-dir DIR] [options]\n"
                       "       evaluator --checkpoint FILE --data DIR [--split validation|test]\n"
                       "       evaluator --checkpoint FILE --feature-maps IMAGE --out DIR\n"
                       "       evaluator --checkpoint FILE --predict IMAGE...\n"
                       "       evaluator --checkpoint FILE --export OUT.h5|OUT.keras",
                       "The evaluator stage of pawpipe: subscribes to the trainer's checkpoints and scores "
                       "each one on the validation\nsplit (loss, accuracy, precision, recall, ROC AUC, "
                       "confusion matrix), appending to history.csv and\nredrawing the learning curves. "
                       "When it falls behind it scores only the newest checkpoint queued.",
                       &first);
    if (rc == 1) return 0;
    if (rc < 0) return 2;
    if (log_setup("evaluator", log_level) != 0) return 2;
    if (strcmp(c.split, "validation") != 0 && strcmp(c.split, "test") != 0)
        return usage_error("--split wants validation or test");
    if (c.validation_steps < -1 || c.batch_size < 0 || c.rcvhwm < 1 || c.max_checkpoints < 0)
        return usage_error("--validation-steps below -1, a negative --batch-size or --max-checkpoints, "
                           "or --rcvhwm below 1");
    if (first < argc && !predict) return usage_error("unexpected argument; images go with --predict");
    if ((feature_maps || predict || export_path) && !checkpoint)
        return usage_error("--feature-maps, --predict and --export need --checkpoint FILE");
    if (!!feature_maps + predict + !!export_path > 1)
        return usage_error("--feature-maps, --predict and --export are separate commands");
    if (c.digits < 0 || c.digits > 17) return usage_error("--digits wants 0 to 17");
    if (feature_maps && !out_dir) return usage_error("--feature-maps needs --out DIR");
    if (predict && first >= argc) return usage_error("--predict needs at least one IMAGE");
    if (!feature_maps && !predict && !export_path && !c.data_dir)
        return usage_error("--data DIR is required to score checkpoints");
    if (export_path) {
        rc = evaluator_export(checkpoint, export_path);
        if (rc != 0) log_error();
        return rc == 0 ? 0 : 1;
    }
    if (img_init(argv[0]) != 0) {
        log_error();
        return 1;
    }

    if (predict) {
        int n_ok = 0;
        rc = evaluator_predict(&c, checkpoint, argv + first, argc - first, &n_ok);
        if (rc != 0) log_error();
        else if (n_ok < argc - first) LOG_W("%d of %d images could not be read", argc - first - n_ok, argc - first);
        return rc == 0 && n_ok > 0 ? 0 : 1;
    }
    if (feature_maps) rc = evaluator_feature_maps(&c, checkpoint, feature_maps, out_dir);
    else if (checkpoint) rc = evaluator_eval_file(&c, checkpoint, NULL);
    if (feature_maps || checkpoint) {
        if (rc != 0) log_error();
        return rc == 0 ? 0 : 1;
    }

    /* Checkpoints arrive as frames of megabytes: keep their blocks in the heap. */
    if (proc_keep_heap() != 0) LOG_W("%s: large frames will be mapped afresh", err_msg());
    /* SIGINT/SIGTERM: stop cleanly (between batches of a scoring pass); a second signal exits at once. */
    if (proc_setup() != 0) {
        log_error();
        return 1;
    }
    rc = evaluator_run(&c, &proc_stop);
    if (rc != 0) {
        log_error();
        return 1;
    }
    return proc_exit_status();
}
