/* main.c: the augmenter process: parses flags and runs the augmenter stage, or writes one of the two
 * augmentation previews (a grid of training images, or one image augmented several times). */
#include <stdio.h>

#include "augmenter/augmenter.h"
#include "augmenter/preview_cmd.h"
#include "common/check.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/proc.h"

int main(int argc, char **argv) {
    augmenter_config_t c;
    augmenter_config_default(&c);
    const char *log_level = "info", *grid = NULL, *augment = NULL, *data = NULL, *model = NULL;
    const cli_opt_t opts[] = {
        {"jobs", CLI_STR, &c.jobs, "PAWPIPE_JOBS", "ENDPOINT", "connect to the loader's job socket"},
        {"batches", CLI_STR, &c.batches, "PAWPIPE_BATCHES", "ENDPOINT", "connect to the trainer's batch socket"},
        {"cache-mb", CLI_INT, &c.cache_mb, "PAWPIPE_CACHE_MB", "MB",
         "memory limit of the decoded-image cache; over it, further images are decoded every epoch (0: no cache)"},
        {"cache-shared", CLI_STR, &c.cache_shared, "PAWPIPE_CACHE_SHARED", "auto|off|/NAME",
         "share the cache with this host's other augmenters through shared memory (auto: one per user and "
         "job endpoint; --cache-mb is then the host's total); off: a private cache per augmenter"},
        {"max-pixels", CLI_I64, &c.max_pixels, "PAWPIPE_MAX_PIXELS", "N",
         "skip images with more pixels than this (decompression bombs); every augmenter of a run must agree"},
        {"preview-grid", CLI_STR, &grid, NULL, "OUT.png",
         "write a grid of augmented training images of --data to OUT.png and exit"},
        {"preview-augment", CLI_STR, &augment, NULL, "IMAGE",
         "augment IMAGE several times into a grid written to the PNG named after the flags, and exit"},
        {"data", CLI_STR, &data, "PAWPIPE_DATA", "DIR", "data set folder of --preview-grid (DIR/train/<class>/...)"},
        {"model", CLI_STR, &model, "PAWPIPE_MODEL", "MODEL.ini",
         "augmentation settings and image size of the previews (default: models/model2.ini when it exists, "
         "else the Keras tutorial's settings at 150x150)"},
        {"control", CLI_STR, &c.control, "PAWPIPE_CONTROL", "ENDPOINT",
         "the loader's control socket, which announces the end of the run (then the augmenter exits 0)"},
        {"run-dir", CLI_STR, &c.run_dir, "PAWPIPE_RUN_DIR", "DIR",
         "the trainer's run folder, where it is shared: an idle augmenter that finds its END marker exits 0"},
        NET_OPT_KEY(&c.net),
        NET_OPT_LOADER_KEY(&c.net),
        NET_OPT_TRAINER_KEY(&c.net),
        NET_OPT_IO_THREADS(&c.net),
        {"log-level", CLI_STR, &log_level, "PAWPIPE_LOG_LEVEL", "LEVEL", "debug, info, warn or error"},
    };
    int first = 0;
    int rc = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
                       "[--jobs EP] [--batches EP] [options]\n"
                       "       augmenter --preview-grid OUT.png --data DIR [--model M]\n"
                       "       augmenter --preview-augment IMAGE OUT.png [--model M]",
                       "The augmenter stage of pawpipe: takes batch jobs from the loader, decodes each image once "
                       "(then keeps it in\nits cache), applies each sample's own random Keras transform "
                       "(drawn from the seed in the job) and\nsends the uint8 batch to the trainer. Everything "
                       "but the two endpoints travels in the jobs.", &first);
    if (rc == 1) return 0;
    if (rc < 0) return 2;
    if (log_setup("augmenter", log_level) != 0) return 2;
    if (img_init(argv[0]) != 0) {
        log_error();
        return 1;
    }
    if (grid || augment) {
        if (grid && augment) {
            fprintf(stderr, "error: --preview-grid and --preview-augment are exclusive\n");
            return 2;
        }
        if (grid && (!data || first != argc)) {
            fprintf(stderr, "error: usage: augmenter --preview-grid OUT.png --data DIR [--model M]\n");
            return 2;
        }
        if (augment && first != argc - 1) {
            fprintf(stderr, "error: usage: augmenter --preview-augment IMAGE OUT.png [--model M]\n");
            return 2;
        }
        rc = grid ? preview_cmd_grid(grid, data, model) : preview_cmd_augment(augment, argv[first], model);
        if (rc != 0) {
            log_error();
            return 1;
        }
        return 0;
    }
    if (first != argc) {
        fprintf(stderr, "error: unexpected argument '%s' (see --help)\n", argv[first]);
        return 2;
    }
    if (proc_keep_heap() != 0) LOG_W("%s: large frames will be mapped afresh", err_msg());
    if (proc_setup() != 0) {
        log_error();
        return 1;
    }
    if (augmenter_run(&c, &proc_stop, NULL) != 0) {
        log_error();
        return 1;
    }
    return proc_exit_status();
}
