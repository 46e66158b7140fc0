/* test_dataplane_pipeline.c: loader, augmenters and the trainer's batch stream as threads in one
 * process (inproc:// sockets, one ZeroMQ context): the dry-run output is byte-identical with 1 and 3
 * augmenters and when an augmenter vanishes with jobs in hand; a consumer that stops reading stops
 * the loader and the augmenters; a restarted trainer's START restarts the stream where it asks. */
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "augmenter/augmenter.h"
#include "common/check.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "dataplane_fixtures.h"
#include "loader/loader.h"
#include "proto/sock.h"
#include "test.h"
#include "testlib.h"
#include "trainer/stream.h"
#include "trainer/trainer.h"

#define MAX_AUG 4
#define WATCHDOG_MS 25000

static char g_dir[4096], g_spec[4200];
static void *g_zctx;
static net_t *g_net;   /* the stream tests' network, on g_zctx */
static int g_run;

typedef struct {
    char jobs[64], credits[64], batches[96], control[64];
} eps_t;

/* A free TCP port: bind a throwaway socket to port *, read which one it got, close it. */
static int free_port(void) {
    void *s = zmq_socket(g_zctx, ZMQ_PULL);
    char ep[128];
    size_t n = sizeof ep;
    int port = -1;
    if (s && zmq_bind(s, "tcp://127.0.0.1:*") == 0 && zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &n) == 0)
        port = atoi(strrchr(ep, ':') + 1);
    if (s) zmq_close(s);
    return port;
}

static void make_eps(eps_t *e, int tcp_batches) {
    g_run++;
    snprintf(e->jobs, sizeof e->jobs, "inproc://dp-jobs-%d", g_run);
    snprintf(e->credits, sizeof e->credits, "inproc://dp-credits-%d", g_run);
    snprintf(e->control, sizeof e->control, "inproc://dp-control-%d", g_run);
    if (tcp_batches)   /* a consumer that closes and binds again needs a transport that reconnects */
        snprintf(e->batches, sizeof e->batches, "tcp://127.0.0.1:%d", free_port());
    else
        snprintf(e->batches, sizeof e->batches, "inproc://dp-batches-%d", g_run);
}

/* --- stages as threads ------------------------------------------------------------------------ */

typedef struct {
    loader_config_t c;
    loader_stats_t st;
    volatile sig_atomic_t stop;
    int rc;
    pthread_t th;
} loader_th_t;

typedef struct {
    augmenter_config_t c;
    augmenter_stats_t st;
    volatile sig_atomic_t stop;
    int rc;
    pthread_t th;
} aug_th_t;

static void *loader_main(void *p) {
    loader_th_t *l = p;
    l->rc = loader_run(&l->c, &l->stop, &l->st);
    return NULL;
}

static void *aug_main(void *p) {
    aug_th_t *a = p;
    a->rc = augmenter_run(&a->c, &a->stop, &a->st);
    return NULL;
}

static const char *g_data = g_dir, *g_model = g_spec;   /* what start_loader uses */

static void start_loader(loader_th_t *l, const eps_t *e, int window, int resend_ms) {
    memset(l, 0, sizeof *l);
    loader_config_default(&l->c);
    l->c.data_dir = g_data;
    l->c.model_path = g_model;
    l->c.window = window;
    l->c.resend_ms = resend_ms;
    l->c.jobs_bind = e->jobs;
    l->c.credits_bind = e->credits;
    l->c.control_bind = e->control;
    l->c.zctx = g_zctx;
    pthread_create(&l->th, NULL, loader_main, l);
}

static char g_shared[64];   /* the run's shared cache: augmenter threads share it as processes would */

static void start_aug(aug_th_t *a, const eps_t *e, int i) {
    static const char *names[MAX_AUG] = {"augmenter1", "augmenter2", "augmenter3", "augmenter4"};
    memset(a, 0, sizeof *a);
    augmenter_config_default(&a->c);
    snprintf(g_shared, sizeof g_shared, "/pawpipe-test-%d-%d", (int)getpid(), g_run);
    a->c.cache_shared = g_shared;
    a->c.jobs = e->jobs;
    a->c.batches = e->batches;
    a->c.control = e->control;
    a->c.cache_mb = 16;
    a->c.zctx = g_zctx;
    a->c.name = names[i];
    pthread_create(&a->th, NULL, aug_main, a);
}

static void stop_aug(aug_th_t *a) {
    a->stop = 1;
    pthread_join(a->th, NULL);
}

/* An augmenter that takes jobs and vanishes without doing them (as a killed process would). */
typedef struct {
    const eps_t *e;
    int take;
    int taken;
    pthread_t th;
} hole_t;

static void *hole_main(void *p) {
    hole_t *h = p;
    void *s = sock_connect(g_zctx, ZMQ_PULL, h->e->jobs, 1);
    if (!s) return NULL;
    for (int i = 0; i < h->take; i++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        int t = 5000;
        zmq_setsockopt(s, ZMQ_RCVTIMEO, &t, sizeof t);
        if (zmq_msg_recv(&m, s, 0) >= 0) h->taken++;
        zmq_msg_close(&m);
    }
    sock_close(&s);
    return NULL;
}

/* --- consumers -------------------------------------------------------------------------------- */

static volatile sig_atomic_t g_consumer_stop;

static void *watchdog_main(void *p) {
    volatile int *done = p;
    for (int t = 0; t < WATCHDOG_MS && !*done; t += 20) sleep_ms(20);
    if (!*done) {
        fprintf(stderr, "  watchdog: the run did not finish in %d ms: stopping the consumer\n", WATCHDOG_MS);
        g_consumer_stop = 1;
    }
    return NULL;
}

static void dry_config(trainer_config_t *c, const eps_t *e, int window) {
    memset(c, 0, sizeof *c);
    c->model_path = g_spec;
    c->steps_per_epoch = -1;
    c->window = window;
    c->batches_bind = e->batches;
    c->credits = e->credits;
    c->zctx = g_zctx;
}

/* trainer_dry_run with its stdout captured into a malloc'd string. */
static int capture_dry_run(const trainer_config_t *c, char **text) {
    char path[4300];
    snprintf(path, sizeof path, "%s/dry-%d.txt", g_dir, g_run);
    fflush(stdout);
    int saved = dup(1), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (saved < 0 || fd < 0) return -1;
    dup2(fd, 1);
    close(fd);
    int done = 0;
    pthread_t wd;
    g_consumer_stop = 0;
    pthread_create(&wd, NULL, watchdog_main, &done);
    int rc = trainer_dry_run(c, &g_consumer_stop);
    done = 1;
    pthread_join(wd, NULL);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    if (rc != 0) fprintf(stderr, "  dry run: %s\n", err_msg());
    size_t n = 0;
    char *all = tl_read_file(path, &n);
    *text = all ? calloc(1, n + 1) : NULL;
    if (!*text) return free(all), -1;
    /* keep the dry run's lines: the loader thread's "Found N images" went to the same stdout */
    size_t len = 0;
    for (const char *line = all; *line;) {
        const char *nl = strchr(line, '\n');
        size_t l = nl ? (size_t)(nl - line) + 1 : strlen(line);
        if (line[0] >= '0' && line[0] <= '9') memcpy(*text + len, line, l), len += l;
        line += l;
    }
    free(all);
    return g_consumer_stop ? -1 : rc;
}

/* The dry run's line for a batch, for consumers written here. */
static void batch_line(const proto_batch_t *b, char *out, size_t cap) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    EVP_Digest(b->images, b->images_len, md, &md_len, EVP_sha256(), NULL);
    int n = snprintf(out, cap, "%" PRIu64 " %u ", b->seq, b->epoch);
    for (uint32_t i = 0; i < b->n; i++) n += snprintf(out + n, cap - (size_t)n, i ? ",%u" : "%u", b->ids[i]);
    out[n++] = ' ';
    for (unsigned i = 0; i < md_len; i++) n += snprintf(out + n, cap - (size_t)n, "%02x", md[i]);
    snprintf(out + n, cap - (size_t)n, "\n");
}

/* The stream of the tests' data set (2 epochs of 16x16x3 images) on e's sockets. */
static tstream_config_t stream_config(const eps_t *e, int window, uint32_t max_batch) {
    return (tstream_config_t){.net = g_net, .batches_bind = e->batches, .credits = e->credits, .epochs = 2,
                              .steps_per_epoch = -1, .window = window, .height = 16, .width = 16, .channels = 3,
                              .max_batch = max_batch};
}

/* The next batch, past the ends of epochs: TS_BATCH with *b, or how the stream ended. */
static int next_batch(tstream_t *ts, const proto_batch_t **b) {
    const proto_control_t *k;
    int ev;
    while ((ev = tstream_next(ts, &g_consumer_stop, b, &k)) == TS_END_EPOCH) {}
    return ev;
}

/* --- one whole run ---------------------------------------------------------------------------- */

typedef struct {
    int n_aug, window, resend_ms, hole;
    loader_stats_t lstats;
    uint64_t aug_jobs[MAX_AUG], aug_decodes[MAX_AUG];
    int hole_taken;
} run_t;

static int run_dry(run_t *r, char **text) {
    eps_t e;
    make_eps(&e, 0);
    loader_th_t l;
    aug_th_t a[MAX_AUG];
    hole_t h = {&e, 3, 0, 0};
    start_loader(&l, &e, r->window, r->resend_ms);
    if (r->hole) pthread_create(&h.th, NULL, hole_main, &h);
    for (int i = 0; i < r->n_aug; i++) start_aug(&a[i], &e, i);
    trainer_config_t c;
    dry_config(&c, &e, r->window);
    int rc = capture_dry_run(&c, text);
    l.stop = 1;   /* the loader has returned by itself after END_RUN: this only matters on failure */
    pthread_join(l.th, NULL);
    if (r->hole) pthread_join(h.th, NULL);
    for (int i = 0; i < r->n_aug; i++) {
        stop_aug(&a[i]);
        r->aug_jobs[i] = atomic_load(&a[i].st.jobs);
        r->aug_decodes[i] = atomic_load(&a[i].st.decodes);
    }
    r->hole_taken = h.taken;
    r->lstats.resent = atomic_load(&l.st.resent);
    r->lstats.max_in_flight = atomic_load(&l.st.max_in_flight);
    if (l.rc != 0) fprintf(stderr, "  loader: %s\n", err_msg());
    return rc == 0 && l.rc == 0 ? 0 : -1;
}

/* Data set: 2 classes x 13 images of 40x30, target 16x16, batches of 4 (7 per pass, the last of 2),
 * 2 epochs of one pass each, with augmentation. */
#define N_FILES 26
#define BATCH 4
#define PER_PASS 7

static int count_lines(const char *t) {
    int n = 0;
    for (; *t; t++) n += *t == '\n';
    return n;
}

static char *g_ref;   /* the 1-augmenter output, the reference of the other tests */

TEST(one_augmenter_gives_the_keras_stream) {
    run_t r = {.n_aug = 1, .window = 4, .resend_ms = 10000};
    char *text = NULL;
    REQUIRE(run_dry(&r, &text) == 0);
    EXPECT(count_lines(text) == 2 * PER_PASS);
    /* seq, epoch and members: every epoch is one pass, a permutation of the 26 files */
    int seen[2][N_FILES];
    memset(seen, 0, sizeof seen);
    const char *p = text;
    for (int i = 0; i < 2 * PER_PASS && *p; i++) {
        unsigned long long seq;
        unsigned epoch;
        int off = 0;
        REQUIRE(sscanf(p, "%llu %u %n", &seq, &epoch, &off) == 2);
        EXPECT(seq == (unsigned long long)i);
        EXPECT(epoch == (unsigned)(i / PER_PASS));
        p += off;
        int members = 0;
        while (*p && *p != ' ') {
            unsigned id = (unsigned)strtoul(p, (char **)&p, 10);
            if (id < N_FILES && epoch < 2) seen[epoch][id]++;
            members++;
            if (*p == ',') p++;
        }
        EXPECT(members == (i % PER_PASS == PER_PASS - 1 ? N_FILES - (PER_PASS - 1) * BATCH : BATCH));
        p = strchr(p, '\n');
        REQUIRE(p != NULL);
        p++;
    }
    for (int e = 0; e < 2; e++)
        for (int k = 0; k < N_FILES; k++) EXPECT(seen[e][k] == 1);
    EXPECT(r.lstats.max_in_flight <= 4);
    g_ref = text;
}

TEST(three_augmenters_give_the_same_bytes) {
    REQUIRE(g_ref != NULL);
    run_t r = {.n_aug = 3, .window = 6, .resend_ms = 10000};
    char *text = NULL;
    REQUIRE(run_dry(&r, &text) == 0);
    EXPECT(strcmp(text, g_ref) == 0);
    int busy = 0;
    for (int i = 0; i < 3; i++) busy += r.aug_jobs[i] > 0;
    fprintf(stderr, "  jobs per augmenter: %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", r.aug_jobs[0], r.aug_jobs[1],
            r.aug_jobs[2]);
    EXPECT(busy >= 2);   /* the work was shared */
    /* and so was the cache: each image decoded about once between the three, not once by each */
    uint64_t decodes = r.aug_decodes[0] + r.aug_decodes[1] + r.aug_decodes[2];
    fprintf(stderr, "  decodes by the three: %" PRIu64 " for %d images\n", decodes, N_FILES);
    EXPECT(decodes >= N_FILES && decodes <= N_FILES + 6);
    free(text);
}

TEST(jobs_lost_with_a_vanished_augmenter_are_resent) {
    REQUIRE(g_ref != NULL);
    run_t r = {.n_aug = 2, .window = 6, .resend_ms = 300, .hole = 1};
    char *text = NULL;
    REQUIRE(run_dry(&r, &text) == 0);
    EXPECT(strcmp(text, g_ref) == 0);   /* no batch missing, none twice, same bytes */
    fprintf(stderr, "  the vanished augmenter took %d jobs; the loader resent %" PRIu64 "\n", r.hole_taken,
            (uint64_t)r.lstats.resent);
    EXPECT(r.hole_taken == 3);
    EXPECT(r.lstats.resent >= 3);
    free(text);
}

/* A consumer that takes 3 batches and then reads nothing for a while: the loader stops at its window,
 * the augmenters stop taking jobs. */
TEST(a_consumer_that_stops_reading_stops_the_pipeline) {
    REQUIRE(g_ref != NULL);
    eps_t e;
    make_eps(&e, 0);
    loader_th_t l;
    aug_th_t a[2];
    const int W = 3;
    start_loader(&l, &e, W, 10000);
    for (int i = 0; i < 2; i++) start_aug(&a[i], &e, i);
    tstream_config_t sc = stream_config(&e, W, BATCH);
    tstream_t *ts = NULL;
    REQUIRE(tstream_open(&sc, &ts) == 0);
    char *text = calloc(1, 65536), line[4096];
    int taken = 0, ev;
    uint64_t sent_a = 0, sent_b = 0, aug_a = 0, aug_b = 0;
    int in_flight_max_pause = 0;
    const proto_batch_t *b;
    while ((ev = next_batch(ts, &b)) == TS_BATCH) {
        batch_line(b, line, sizeof line);
        strcat(text, line);
        if (++taken == 3) {
            sleep_ms(300);   /* let the pipeline fill up to its limits */
            sent_a = atomic_load(&l.st.jobs_sent);
            aug_a = atomic_load(&a[0].st.jobs) + atomic_load(&a[1].st.jobs);
            for (int t = 0; t < 10; t++) {
                sleep_ms(100);
                int f = atomic_load(&l.st.in_flight);
                if (f > in_flight_max_pause) in_flight_max_pause = f;
            }
            sent_b = atomic_load(&l.st.jobs_sent);
            aug_b = atomic_load(&a[0].st.jobs) + atomic_load(&a[1].st.jobs);
        }
    }
    EXPECT(ev == TS_END_RUN);
    tstream_close(&ts);
    pthread_join(l.th, NULL);
    for (int i = 0; i < 2; i++) stop_aug(&a[i]);
    fprintf(stderr, "  during the pause: jobs sent %" PRIu64 " -> %" PRIu64 ", batches made %" PRIu64 " -> %" PRIu64
            ", jobs in flight at most %d (window %d)\n", sent_a, sent_b, aug_a, aug_b, in_flight_max_pause, W);
    EXPECT(sent_a == sent_b);                /* nothing more was sent while nobody read */
    EXPECT(aug_a == aug_b);                  /* nothing more was made */
    EXPECT(sent_a <= 3 + 2 * (uint64_t)W);   /* taken 3, at most W held by the consumer, W in flight */
    EXPECT(in_flight_max_pause <= W);
    EXPECT(atomic_load(&l.st.max_in_flight) <= W);
    EXPECT(strcmp(text, g_ref) == 0);        /* and the run completed with the same batches */
    free(text);
}

/* A trainer that dies after 5 batches and a new one that STARTs at seq 3 (its checkpoint): the loader
 * restarts its stream there, and the new trainer sees exactly the reference batches from 3 on. */
TEST(a_new_start_restarts_the_stream_where_the_trainer_asks) {
    REQUIRE(g_ref != NULL);
    eps_t e;
    make_eps(&e, 1);
    loader_th_t l;
    aug_th_t a[2];
    const int W = 4;
    start_loader(&l, &e, W, 10000);
    for (int i = 0; i < 2; i++) start_aug(&a[i], &e, i);
    char *text = calloc(1, 65536), line[4096];
    int ev = 0;
    for (int round = 0; round < 2; round++) {
        tstream_config_t sc = stream_config(&e, W, BATCH);
        sc.start_seq = round ? 3 : 0;
        tstream_t *ts = NULL;
        for (int t = 0; t < 50 && tstream_open(&sc, &ts) != 0; t++) sleep_ms(50);   /* the old socket lets go of the port */
        REQUIRE(ts != NULL);
        int taken = 0;
        const proto_batch_t *b;
        while ((ev = next_batch(ts, &b)) == TS_BATCH) {
            if (round == 1) {
                batch_line(b, line, sizeof line);
                strcat(text, line);
            }
            if (round == 0 && ++taken == 5) break;   /* dies here */
        }
        tstream_close(&ts);
    }
    EXPECT(ev == TS_END_RUN);
    pthread_join(l.th, NULL);
    for (int i = 0; i < 2; i++) stop_aug(&a[i]);
    const char *from3 = g_ref;
    for (int i = 0; i < 3; i++) from3 = strchr(from3, '\n') + 1;
    EXPECT(strcmp(text, from3) == 0);
    EXPECT(atomic_load(&l.st.starts) == 2);
    free(text);
}

/* Batches of one image from a folder where half the files are unusable: those batches have no
 * usable member; the stream drops them (credited, counted as skipped) and the run still completes. */
TEST(a_batch_without_a_usable_file_is_dropped_not_stuck) {
    char dir[4096], spec[4200], path[4300];
    REQUIRE(tl_tmpdir(dir, sizeof dir, "dataplane-allbad") == 0);
    REQUIRE(dpf_write_split(dir, "train", 2, 2, 40, 30) == 0);
    snprintf(path, sizeof path, "%s/train/cats/img_0000.jpg", dir);
    REQUIRE(tl_write_text(path, "") == 0);
    snprintf(path, sizeof path, "%s/train/cats/img_0001.jpg", dir);
    REQUIRE(tl_write_text(path, "not a JPEG") == 0);
    snprintf(spec, sizeof spec, "%s/spec.ini", dir);
    REQUIRE(dpf_write_spec(spec, 16, 16, 1, 0, 2, 3, 0) == 0);
    g_data = dir, g_model = spec;
    eps_t e;
    make_eps(&e, 0);
    loader_th_t l;
    aug_th_t a;
    start_loader(&l, &e, 3, 300);
    start_aug(&a, &e, 0);
    tstream_config_t sc = stream_config(&e, 3, 1);
    tstream_t *ts = NULL;
    REQUIRE(tstream_open(&sc, &ts) == 0);
    int batches = 0, epochs = 0, ev;
    unsigned skipped[2] = {0, 0};
    for (;;) {
        const proto_batch_t *b;
        const proto_control_t *k;
        ev = tstream_next(ts, &g_consumer_stop, &b, &k);
        if (ev == TS_BATCH) {
            batches++;
            EXPECT(b->ids[0] >= 2 && b->skipped == 0);   /* only the dogs */
        } else if (ev == TS_END_EPOCH) {
            if (epochs < 2) skipped[epochs] = k->skipped;
            epochs++;
        } else {
            break;
        }
    }
    EXPECT(ev == TS_END_RUN);
    tstream_close(&ts);
    pthread_join(l.th, NULL);
    stop_aug(&a);
    g_data = g_dir, g_model = g_spec;
    EXPECT(batches == 4 && epochs == 2);
    EXPECT(skipped[0] == 2 && skipped[1] == 2);
    EXPECT(l.rc == 0);
    tl_tmpdir_done(dir);
}

int main(int argc, char **argv) {
    (void)argc;
    log_init("test", NULL);
    if (img_init(argv[0]) != 0) {
        fprintf(stderr, "img_init: %s\n", err_msg());
        return 1;
    }
    if (tl_tmpdir(g_dir, sizeof g_dir, "dataplane") != 0 || dpf_write_split(g_dir, "train", 2, 13, 40, 30) != 0) {
        fprintf(stderr, "cannot write the test data set\n");
        return 1;
    }
    snprintf(g_spec, sizeof g_spec, "%s/spec.ini", g_dir);
    if (dpf_write_spec(g_spec, 16, 16, BATCH, 0, 2, 7, 1) != 0) return 1;
    g_zctx = zmq_ctx_new();
    net_config_t plain = {0};
    if (net_open(&plain, g_zctx, "test", &g_net) != 0) {
        fprintf(stderr, "%s\n", err_msg());
        return 1;
    }
    RUN(one_augmenter_gives_the_keras_stream);
    RUN(three_augmenters_give_the_same_bytes);
    RUN(jobs_lost_with_a_vanished_augmenter_are_resent);
    RUN(a_consumer_that_stops_reading_stops_the_pipeline);
    RUN(a_new_start_restarts_the_stream_where_the_trainer_asks);
    RUN(a_batch_without_a_usable_file_is_dropped_not_stuck);
    net_close(&g_net);
    zmq_ctx_term(g_zctx);
    free(g_ref);
    tl_tmpdir_done(g_dir);
    return TEST_SUMMARY();
}
