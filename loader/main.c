/* main.c: the loader process: parses flags into a loader_config_t and runs the loader stage. */
#include <stdio.h>

#include "common/check.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/proc.h"
#include "loader/loader.h"

int main(int argc, char **argv) {
    loader_config_t c;
    loader_config_default(&c);
    const char *log_level = "info";
    const cli_opt_t opts[] = {
        {"data", CLI_STR, &c.data_dir, "PAWPIPE_DATA", "DIR",
         "data set folder: DIR/train/<class>/*.jpg|png (required; validation/ and test/ are counted when present)"},
        {"model", CLI_STR, &c.model_path, "PAWPIPE_MODEL", "MODEL.ini",
         "model spec: batch size, steps per epoch, epochs, seed, input size, augmentation (required)"},
        {"epochs", CLI_INT, &c.epochs, "PAWPIPE_EPOCHS", "N",
         "epochs of the run; 0: the spec's (the trainer's START overrides it)"},
        {"steps-per-epoch", CLI_INT, &c.steps_per_epoch, "PAWPIPE_STEPS_PER_EPOCH", "N",
         "batches per epoch; -1: the spec's, 0: one pass over the training split (the trainer's START overrides it)"},
        {"window", CLI_INT, &c.window, "PAWPIPE_WINDOW", "W",
         "batch jobs in flight at most (credit window); the trainer's --window must be at least this"},
        {"resend-ms", CLI_INT, &c.resend_ms, "PAWPIPE_RESEND_MS", "T",
         "send a job again when no credit came T ms after it was sent (then 2T, 4T, 8T) and it is the oldest "
         "in flight or a later one was credited"},
        {"jobs-bind", CLI_STR, &c.jobs_bind, "PAWPIPE_JOBS_BIND", "ENDPOINT",
         "bind the PUSH socket the augmenters take jobs from"},
        {"credits-bind", CLI_STR, &c.credits_bind, "PAWPIPE_CREDITS_BIND", "ENDPOINT",
         "bind the PULL socket the trainer sends START and credits to"},
        {"control-bind", CLI_STR, &c.control_bind, "PAWPIPE_CONTROL_BIND", "ENDPOINT",
         "bind the PUB socket that announces the end of the run to the augmenters"},
        {"run-dir", CLI_STR, &c.run_dir, "PAWPIPE_RUN_DIR", "DIR",
         "the trainer's run folder, where it is shared: a loader waiting for a run whose END marker is there exits"},
        NET_OPT_KEY(&c.net),
        NET_OPT_ALLOW(&c.net),
        NET_OPT_INSECURE(&c.net),
        NET_OPT_IO_THREADS(&c.net),
        {"log-level", CLI_STR, &log_level, "PAWPIPE_LOG_LEVEL", "LEVEL", "debug, info, warn or error"},
    };
    int rc = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), "--data DIR --model MODEL.ini [options]",
                       "The loader stage of pawpipe: indexes DIR/train, decides the members and seeds of every "
                       "batch (Keras'\nshuffled iterator, deterministic from the spec's seed), and sends batch "
                       "jobs with the encoded images to\nthe augmenters, at most W in flight, from where the "
                       "trainer's START says; it exits once the trainer\nhas taken the end of the run, "
                       "announcing the end to every augmenter.",
                       NULL);
    if (rc == 1) return 0;
    if (rc < 0) return 2;
    if (log_setup("loader", log_level) != 0) return 2;
    if (!c.data_dir || !c.model_path) {
        fprintf(stderr, "error: --data DIR and --model MODEL.ini are required (see --help)\n");
        return 2;
    }
    if (proc_keep_heap() != 0) LOG_W("%s: large frames will be mapped afresh", err_msg());
    if (proc_setup() != 0) {
        log_error();
        return 1;
    }
    if (loader_run(&c, &proc_stop, NULL) != 0) {
        log_error();
        return 1;
    }
    return proc_exit_status();
}
