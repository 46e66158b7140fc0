/* test_dataplane_dryrun.c: the dry-run consumer as its own small process for the data-plane tests:
 * trainer_dry_run (as `trainer --dry-run` runs it), or, with --pause-after N, a consumer that takes N
 * batches, stops reading for --pause-ms while the loader and augmenters are measured, then finishes
 * the run. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "common/check.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/timeutil.h"
#include "nn/model.h"
#include "trainer/stream.h"
#include "trainer/trainer.h"

/* Take N batches, sleep (reading nothing, crediting nothing), then drain the rest of the run. */
static int pausing_consumer(const trainer_config_t *c, int after, int pause_ms) {
    nn_model_t m;
    memset(&m, 0, sizeof m);
    TRY(nn_model_load(c->model_path, &m));
    net_t *net = NULL;
    TRY(net_open(&c->net, NULL, "dry-run", &net));
    tstream_config_t sc = {.net = net, .batches_bind = c->batches_bind, .credits = c->credits,
                           .epochs = (uint32_t)(c->epochs > 0 ? c->epochs : m.train.epochs),
                           .steps_per_epoch = c->steps_per_epoch, .window = c->window,
                           .height = (uint32_t)m.in_h, .width = (uint32_t)m.in_w, .channels = 3,
                           .max_batch = (uint32_t)m.train.batch_size};
    tstream_t *ts = NULL;
    int rc = tstream_open(&sc, &ts), taken = 0;
    while (rc == 0) {
        const proto_batch_t *b;
        const proto_control_t *k;
        int ev = tstream_next(ts, &proc_stop, &b, &k);
        if (ev < 0) rc = -1;
        if (ev <= 0 || ev == TS_END_RUN) break;
        if (ev == TS_BATCH && ++taken == after) {
            printf("pause %d\n", pause_ms);   /* the test measures the other processes now */
            fflush(stdout);
            sleep_ms(pause_ms);
            printf("resume\n");
            fflush(stdout);
        }
    }
    tstream_stats_t st;
    if (ts) {
        tstream_stats(ts, &st);
        printf("taken %d received %" PRIu64 " duplicates %" PRIu64 "\n", taken, st.received, st.duplicates);
    }
    tstream_close(&ts);
    net_close(&net);
    nn_model_free(&m);
    return rc;
}

int main(int argc, char **argv) {
    trainer_config_t c;
    trainer_config_default(&c);
    int pause_after = 0, pause_ms = 0;
    const cli_opt_t opts[] = {
        {"model", CLI_STR, &c.model_path, NULL, "MODEL.ini", "model spec (required)"},
        {"epochs", CLI_INT, &c.epochs, NULL, "N", "epochs; 0: the spec's"},
        {"steps-per-epoch", CLI_INT, &c.steps_per_epoch, NULL, "N", "-1: the spec's, 0: one pass"},
        {"batches-bind", CLI_STR, &c.batches_bind, NULL, "ENDPOINT", "bind the batch socket here"},
        {"credits", CLI_STR, &c.credits, NULL, "ENDPOINT", "the loader's credit socket"},
        {"window", CLI_INT, &c.window, NULL, "W", "reorder window"},
        {"pause-after", CLI_INT, &pause_after, NULL, "N", "stop reading after N batches (0: plain dry run)"},
        {"pause-ms", CLI_INT, &pause_ms, NULL, "MS", "for this long"},
    };
    int rc = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), "--model M [options]",
                       "Dry-run consumer of the data-plane tests.", NULL);
    if (rc == 1) return 0;
    if (rc < 0 || !c.model_path) return 2;
    log_init("dry-run", NULL);
    if (proc_setup() != 0) return 1;
    rc = pause_after > 0 ? pausing_consumer(&c, pause_after, pause_ms) : trainer_dry_run(&c, &proc_stop);
    if (rc != 0) {
        log_error();
        return 1;
    }
    return 0;
}
