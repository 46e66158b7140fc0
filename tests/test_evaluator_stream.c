/* test_evaluator_stream.c: the evaluator following a checkpoint stream. The test plays the trainer: it
 * publishes PROTO_CHECKPOINT messages as the trainer does (spec, epoch, step, metrics, tensors named as
 * nn_param_views) on an XPUB socket, which also tells it when a subscriber has joined. The evaluator
 * runs as a thread over inproc:// in the test's ZeroMQ context, or as a process over tcp://. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>
#include <zmq.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "evaluator/evaluator.h"
#include "evaluator/history.h"
#include "proto/sock.h"
#include "tests/test.h"
#include "tests/test_evaluator_fixture.h"
#include "tests/testlib.h"

#define WAIT_MS 30000   /* generous: the machine may be busy */

static fixture_t fx;
static void *g_zctx;
static const char *g_evaluator;
static nn_param_view_t g_views[NN_MAX_LAYERS * 2];
static int g_n_views;
static proto_buf_t g_scratch;
static proto_msg_t *g_msg;
static int g_endpoint_no;

/* ---- the publisher (the trainer's side) ------------------------------------------------------ */

/* A checkpoint message of the fixture's model as the trainer publishes it. */
static proto_checkpoint_t *checkpoint_msg(uint32_t epoch) {
    memset(g_msg, 0, sizeof *g_msg);
    g_msg->kind = PROTO_CHECKPOINT;
    proto_checkpoint_t *c = &g_msg->checkpoint;
    c->epoch = epoch;
    c->step = 10ull * epoch;
    c->seed = 7;
    snprintf(c->spec, sizeof c->spec, "%s", fx.m.spec_text);
    snprintf(c->path, sizeof c->path, "ckpt-epoch-%03u.safetensors", epoch);
    c->n_metrics = 2;
    snprintf(c->metrics[0].name, PROTO_NAME_MAX, "loss");
    c->metrics[0].value = 1.0 / (epoch + 1);
    snprintf(c->metrics[1].name, PROTO_NAME_MAX, "accuracy");
    c->metrics[1].value = 0.5 + 0.01 * epoch;
    c->n_tensors = (uint32_t)g_n_views;
    for (int i = 0; i < g_n_views; i++) {
        proto_tensor_t *t = &c->tensors[i];
        snprintf(t->name, sizeof t->name, "%.*s", PROTO_NAME_MAX - 1, g_views[i].name);
        t->dtype = PROTO_F32;
        t->ndim = (uint32_t)g_views[i].ndim;
        for (int d = 0; d < g_views[i].ndim; d++) t->shape[d] = (uint64_t)g_views[i].shape[d];
        t->data = (const uint8_t *)(fx.params + g_views[i].offset);
        t->len = g_views[i].count * sizeof(float);
    }
    return c;
}

static int publish_msg(void *pub) { return sock_send(pub, g_msg, &g_scratch, ZMQ_DONTWAIT); }

static int publish(void *pub, uint32_t epoch) {
    checkpoint_msg(epoch);
    return publish_msg(pub);
}

/* An XPUB socket with every subscription passed up, so the test knows when an evaluator joined. */
static void *publisher(const char *endpoint, char *bound, size_t cap) {
    void *s = zmq_socket(g_zctx, ZMQ_XPUB);
    int one = 1, zero = 0, hwm = 1000;
    if (!s || zmq_setsockopt(s, ZMQ_XPUB_VERBOSE, &one, sizeof one) != 0 ||
        zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 || zmq_bind(s, endpoint) != 0) {
        fprintf(stderr, "  publisher %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        if (s) zmq_close(s);
        return NULL;
    }
    if (bound) {
        size_t len = cap;
        zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, bound, &len);
    }
    return s;
}

/* Wait for a subscribe message (first byte 1) on the XPUB socket. 0, or -1 on timeout. */
static int wait_subscribed(void *pub) {
    int64_t deadline = now_ms() + WAIT_MS;
    while (now_ms() < deadline) {
        unsigned char buf[64];
        zmq_pollitem_t it = {pub, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 100) == 1 && zmq_recv(pub, buf, sizeof buf, ZMQ_DONTWAIT) >= 1 && buf[0] == 1)
            return 0;
    }
    fprintf(stderr, "  no subscriber joined\n");
    return -1;
}

/* ---- the evaluator as a thread ------------------------------------------------------------- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    evaluator_stats_t seen;   /* the counts at the last progress call */
    int hold;                 /* 1: the progress callback blocks the evaluator until it is 0 */
} progress_t;

typedef struct {
    evaluator_config_t c;
    evaluator_stats_t stats;
    progress_t p;
    volatile sig_atomic_t stop;
    pthread_t th;
    int rc;
    char run_dir[256], endpoint[64];
} evthread_t;

static void on_progress(const evaluator_stats_t *st, void *arg) {
    progress_t *p = arg;
    pthread_mutex_lock(&p->mu);
    p->seen = *st;
    pthread_cond_broadcast(&p->cv);
    while (p->hold) pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static uint64_t handled(const evaluator_stats_t *s) { return s->evaluated + s->refused + s->bad_frames; }

/* Wait until the evaluator has dealt with n things (checkpoints scored or refused, bad frames). */
static int wait_handled(evthread_t *t, uint64_t n) {
    int rc = 0;
    pthread_mutex_lock(&t->p.mu);
    int64_t deadline = now_ms() + WAIT_MS;
    while (handled(&t->p.seen) < n && rc == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&t->p.cv, &t->p.mu, &ts);
        if (now_ms() > deadline) rc = -1;
    }
    pthread_mutex_unlock(&t->p.mu);
    if (rc != 0) fprintf(stderr, "  timed out waiting for the evaluator to deal with %llu things\n",
                         (unsigned long long)n);
    return rc;
}

static void set_hold(evthread_t *t, int hold) {
    pthread_mutex_lock(&t->p.mu);
    t->p.hold = hold;
    pthread_cond_broadcast(&t->p.cv);
    pthread_mutex_unlock(&t->p.mu);
}

static void *ev_main(void *arg) {
    evthread_t *t = arg;
    log_set_thread_name("evaluator");
    t->rc = evaluator_run(&t->c, &t->stop);
    return NULL;
}

static void ev_init(evthread_t *t, const char *endpoint, const char *run_name) {
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->p.mu, NULL);
    pthread_cond_init(&t->p.cv, NULL);
    snprintf(t->endpoint, sizeof t->endpoint, "%s", endpoint);
    snprintf(t->run_dir, sizeof t->run_dir, "%s/%s", fx.work, run_name);
    evaluator_config_default(&t->c);
    t->c.checkpoints = t->endpoint;
    t->c.data_dir = fx.data;
    t->c.run_dir = t->run_dir;
    t->c.zctx = g_zctx;
    t->c.stats = &t->stats;
    t->c.on_progress = on_progress;
    t->c.progress_arg = &t->p;
}

static int ev_start(evthread_t *t) {
    t->stop = 0;
    memset(&t->p.seen, 0, sizeof t->p.seen);
    return pthread_create(&t->th, NULL, ev_main, t);
}

static int ev_stop(evthread_t *t) {
    set_hold(t, 0);
    t->stop = 1;
    pthread_join(t->th, NULL);
    return t->rc;
}

static void ev_free(evthread_t *t) {
    pthread_mutex_destroy(&t->p.mu);
    pthread_cond_destroy(&t->p.cv);
}

static void new_endpoint(char *ep, size_t cap) { snprintf(ep, cap, "inproc://checkpoints-%d", g_endpoint_no++); }

/* The epochs of run_dir/history.csv, in file order; their count, or -1. */
static int history_epochs(const char *run_dir, uint32_t *epochs, int cap) {
    char path[512];
    snprintf(path, sizeof path, "%s/history.csv", run_dir);
    history_row_t *rows = NULL;
    int n = 0, rcap = 0;
    if (history_read(path, &rows, &n, &rcap) != 0) {
        fprintf(stderr, "  %s\n", err_msg());
        return -1;
    }
    for (int i = 0; i < n && i < cap; i++) epochs[i] = rows[i].epoch;
    free(rows);
    return n;
}

static int same_epochs(const char *run_dir, const uint32_t *want, int n_want) {
    uint32_t got[64];
    int n = history_epochs(run_dir, got, 64);
    int same = n == n_want;
    for (int i = 0; same && i < n; i++) same = got[i] == want[i];
    if (!same) {
        fprintf(stderr, "  history.csv epochs:");
        for (int i = 0; i < n; i++) fprintf(stderr, " %u", got[i]);
        fprintf(stderr, "; expected:");
        for (int i = 0; i < n_want; i++) fprintf(stderr, " %u", want[i]);
        fprintf(stderr, "\n");
    }
    return same;
}

/* ---- tests ----------------------------------------------------------------------------------- */

TEST(started_before_the_trainer) {
    char ep[64];
    new_endpoint(ep, sizeof ep);
    evthread_t t;
    ev_init(&t, ep, "before");
    REQUIRE(ev_start(&t) == 0);   /* connects to an endpoint nobody has bound yet, and waits */
    sleep_ms(300);
    void *pub = publisher(ep, NULL, 0);
    REQUIRE(pub != NULL);
    REQUIRE(wait_subscribed(pub) == 0);
    for (uint32_t e = 1; e <= 3; e++) {
        REQUIRE(publish(pub, e) == 0);
        REQUIRE(wait_handled(&t, e) == 0);
    }
    EXPECT(ev_stop(&t) == 0);
    EXPECT(t.stats.received == 3 && t.stats.evaluated == 3 && t.stats.skipped == 0 && t.stats.refused == 0);
    const uint32_t want[3] = {1, 2, 3};
    EXPECT(same_epochs(t.run_dir, want, 3));
    /* history.csv rows carry the training metrics of the checkpoint and the validation metrics. */
    char path[512];
    snprintf(path, sizeof path, "%s/history.csv", t.run_dir);
    history_row_t *rows = NULL;
    int n = 0, cap = 0;
    REQUIRE(history_read(path, &rows, &n, &cap) == 0 && n == 3);
    EXPECT(rows[1].step == 20);
    EXPECT_NEAR(rows[1].loss, 1.0 / 3.0, 1e-6, 0);
    EXPECT_NEAR(rows[1].accuracy, 0.52, 1e-6, 0);
    EXPECT(rows[1].val.n == 2 * FX_VALIDATION_PER_CLASS);
    free(rows);
    int w = 0, h = 0;
    snprintf(path, sizeof path, "%s/curves.png", t.run_dir);
    EXPECT(fx_read_png(path, &w, &h, NULL) == 0 && w == 1280 && h == 480);
    zmq_close(pub);
    ev_free(&t);
}

TEST(started_mid_run) {
    char ep[64];
    new_endpoint(ep, sizeof ep);
    void *pub = publisher(ep, NULL, 0);
    REQUIRE(pub != NULL);
    REQUIRE(publish(pub, 1) == 0);   /* nobody listens yet: gone */
    REQUIRE(publish(pub, 2) == 0);
    evthread_t t;
    ev_init(&t, ep, "mid");
    REQUIRE(ev_start(&t) == 0);
    REQUIRE(wait_subscribed(pub) == 0);
    REQUIRE(publish(pub, 3) == 0);
    REQUIRE(wait_handled(&t, 1) == 0);
    REQUIRE(publish(pub, 4) == 0);
    REQUIRE(wait_handled(&t, 2) == 0);
    EXPECT(ev_stop(&t) == 0);
    const uint32_t want[2] = {3, 4};
    EXPECT(same_epochs(t.run_dir, want, 2));
    EXPECT(t.stats.received == 2 && t.stats.evaluated == 2);
    zmq_close(pub);
    ev_free(&t);
}

TEST(restarted_evaluator_appends_and_publisher_goes_on) {
    char ep[64];
    new_endpoint(ep, sizeof ep);
    void *pub = publisher(ep, NULL, 0);
    REQUIRE(pub != NULL);
    evthread_t t;
    ev_init(&t, ep, "restart");
    REQUIRE(ev_start(&t) == 0);
    REQUIRE(wait_subscribed(pub) == 0);
    REQUIRE(publish(pub, 1) == 0);
    REQUIRE(wait_handled(&t, 1) == 0);
    EXPECT(ev_stop(&t) == 0);
    /* Nobody listens: the publisher neither blocks nor fails (a send that would block returns 1 under
     * ZMQ_DONTWAIT, a failure -1). */
    for (uint32_t e = 2; e <= 4; e++) EXPECT(publish(pub, e) == 0);
    REQUIRE(ev_start(&t) == 0);   /* the same run folder: history.csv is appended to */
    REQUIRE(wait_subscribed(pub) == 0);
    REQUIRE(publish(pub, 5) == 0);
    REQUIRE(wait_handled(&t, 1) == 0);
    EXPECT(ev_stop(&t) == 0);
    const uint32_t want[2] = {1, 5};
    EXPECT(same_epochs(t.run_dir, want, 2));
    zmq_close(pub);
    ev_free(&t);
}

TEST(falling_behind_scores_the_newest) {
    char ep[64];
    new_endpoint(ep, sizeof ep);
    void *pub = publisher(ep, NULL, 0);
    REQUIRE(pub != NULL);
    evthread_t t;
    ev_init(&t, ep, "behind");
    REQUIRE(ev_start(&t) == 0);
    REQUIRE(wait_subscribed(pub) == 0);
    set_hold(&t, 1);   /* the evaluator will stay busy after its first checkpoint */
    REQUIRE(publish(pub, 1) == 0);
    REQUIRE(wait_handled(&t, 1) == 0);
    for (uint32_t e = 2; e <= 7; e++) REQUIRE(publish(pub, e) == 0);
    sleep_ms(200);
    set_hold(&t, 0);
    REQUIRE(wait_handled(&t, 2) == 0);
    EXPECT(ev_stop(&t) == 0);
    fprintf(stderr, "  received %llu, evaluated %llu, skipped %llu\n", (unsigned long long)t.stats.received,
            (unsigned long long)t.stats.evaluated, (unsigned long long)t.stats.skipped);
    EXPECT(t.stats.received == 7 && t.stats.evaluated == 2 && t.stats.skipped == 5);
    const uint32_t want[2] = {1, 7};
    EXPECT(same_epochs(t.run_dir, want, 2));
    zmq_close(pub);
    ev_free(&t);
}

TEST(refuses_what_does_not_fit_and_goes_on) {
    char ep[64];
    new_endpoint(ep, sizeof ep);
    void *pub = publisher(ep, NULL, 0);
    REQUIRE(pub != NULL);
    evthread_t t;
    ev_init(&t, ep, "refuse");
    REQUIRE(ev_start(&t) == 0);
    REQUIRE(wait_subscribed(pub) == 0);
    uint64_t n = 0;

    proto_checkpoint_t *c = checkpoint_msg(1);   /* a spec that does not parse */
    snprintf(c->spec, sizeof c->spec, "[model]\nname = broken\n[conv2d_1]\ntype = conv3d\n");
    REQUIRE(publish_msg(pub) == 0);
    REQUIRE(wait_handled(&t, ++n) == 0);

    c = checkpoint_msg(2);                      /* a tensor of the wrong shape */
    static float big[4096];
    c->tensors[0].shape[3] += 1;
    c->tensors[0].data = (const uint8_t *)big;
    c->tensors[0].len = (size_t)(c->tensors[0].shape[0] * c->tensors[0].shape[1] * c->tensors[0].shape[2] *
                                 c->tensors[0].shape[3]) * sizeof(float);
    REQUIRE(c->tensors[0].len <= sizeof big);
    REQUIRE(publish_msg(pub) == 0);
    REQUIRE(wait_handled(&t, ++n) == 0);

    c = checkpoint_msg(3);                      /* a tensor missing */
    c->n_tensors--;
    REQUIRE(publish_msg(pub) == 0);
    REQUIRE(wait_handled(&t, ++n) == 0);

    c = checkpoint_msg(4);                      /* a tensor the model does not have */
    c->tensors[c->n_tensors] = c->tensors[0];
    snprintf(c->tensors[c->n_tensors++].name, PROTO_NAME_MAX, "conv2d_9.kernel");
    REQUIRE(publish_msg(pub) == 0);
    REQUIRE(wait_handled(&t, ++n) == 0);

    REQUIRE(zmq_send(pub, "not msgpack", 11, 0) == 11);   /* a frame that is no message */
    REQUIRE(wait_handled(&t, ++n) == 0);

    memset(g_msg, 0, sizeof *g_msg);            /* another kind of message: ignored */
    g_msg->kind = PROTO_METRICS;
    g_msg->metrics.epoch = 5;
    REQUIRE(publish_msg(pub) == 0);

    c = checkpoint_msg(6);                      /* a good one, with optimizer state alongside */
    c->tensors[c->n_tensors] = c->tensors[0];
    snprintf(c->tensors[c->n_tensors++].name, PROTO_NAME_MAX, "conv2d_1.kernel.rms");
    REQUIRE(publish_msg(pub) == 0);
    REQUIRE(wait_handled(&t, ++n) == 0);
    EXPECT(ev_stop(&t) == 0);
    EXPECT(t.stats.refused == 4 && t.stats.bad_frames == 1 && t.stats.evaluated == 1 && t.stats.received == 5);
    const uint32_t want[1] = {6};
    EXPECT(same_epochs(t.run_dir, want, 1));
    zmq_close(pub);
    ev_free(&t);
}

TEST(scores_a_lost_checkpoint_from_its_file) {
    char ep[64], link[512], target[256];
    new_endpoint(ep, sizeof ep);
    void *pub = publisher(ep, NULL, 0);
    REQUIRE(pub != NULL);
    evthread_t t;
    ev_init(&t, ep, "files");
    /* The trainer's run folder: the checkpoint of epoch 3 step 30, and latest.safetensors naming it. */
    REQUIRE(mkdir_p(t.run_dir) == 0);
    snprintf(link, sizeof link, "%s/latest.safetensors", t.run_dir);
    snprintf(target, sizeof target, "../%s", strrchr(fx.ckpt, '/') + 1);
    REQUIRE(symlink(target, link) == 0);
    REQUIRE(ev_start(&t) == 0);
    REQUIRE(wait_subscribed(pub) == 0);
    REQUIRE(wait_handled(&t, 1) == 0);   /* nothing arrives: after 2 s idle it scores the file */
    REQUIRE(publish(pub, 3) == 0);       /* the same checkpoint, late: not scored twice */
    REQUIRE(publish(pub, 4) == 0);
    REQUIRE(wait_handled(&t, 2) == 0);
    sleep_ms(2500);                      /* idle again: latest.safetensors is older than epoch 4 */
    EXPECT(ev_stop(&t) == 0);
    EXPECT(t.stats.from_files == 1 && t.stats.evaluated == 2 && t.stats.received == 2);
    const uint32_t want[2] = {3, 4};
    EXPECT(same_epochs(t.run_dir, want, 2));
    zmq_close(pub);
    ev_free(&t);
}

/* ---- the evaluator as a process over tcp ----------------------------------------------------- */

static pid_t spawn_evaluator(const char *endpoint, const char *run_dir, const char *log) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    execl(g_evaluator, g_evaluator, "--checkpoints", endpoint, "--data", fx.data, "--run-dir", run_dir,
          "--backend", "cpu", (char *)NULL);
    _exit(127);
}

static int count_in_file(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* Wait until run_dir/history.csv has n rows. */
static int wait_rows(const char *run_dir, int n) {
    uint32_t epochs[64];
    int64_t deadline = now_ms() + WAIT_MS;
    while (now_ms() < deadline) {
        char path[512];
        snprintf(path, sizeof path, "%s/history.csv", run_dir);
        if (access(path, F_OK) == 0 && history_epochs(run_dir, epochs, 64) >= n) return 0;
        sleep_ms(50);
    }
    fprintf(stderr, "  timed out waiting for %d rows in %s/history.csv\n", n, run_dir);
    return -1;
}

TEST(killed_process_does_not_disturb_the_publisher) {
    char bound[128], run_dir[256], log[300];
    void *pub = publisher("tcp://127.0.0.1:*", bound, sizeof bound);
    REQUIRE(pub != NULL);
    snprintf(run_dir, sizeof run_dir, "%s/proc", fx.work);
    snprintf(log, sizeof log, "%s/evaluator.log", fx.work);
    pid_t a = spawn_evaluator(bound, run_dir, log);
    REQUIRE(a > 0);
    REQUIRE(wait_subscribed(pub) == 0);
    REQUIRE(publish(pub, 1) == 0);
    REQUIRE(wait_rows(run_dir, 1) == 0);
    kill(a, SIGKILL);
    int st = 0;
    REQUIRE(tl_wait(a, WAIT_MS, &st) == 0);
    EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    for (uint32_t e = 2; e <= 4; e++) EXPECT(publish(pub, e) == 0);   /* no subscriber: dropped, not blocked */
    pid_t b = spawn_evaluator(bound, run_dir, log);
    REQUIRE(b > 0);
    REQUIRE(wait_subscribed(pub) == 0);
    REQUIRE(publish(pub, 5) == 0);
    REQUIRE(wait_rows(run_dir, 2) == 0);
    kill(b, SIGTERM);   /* a clean stop: the stage returns, main exits 128 + SIGTERM */
    REQUIRE(tl_wait(b, WAIT_MS, &st) == 0);   /* killed when it overstays */
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 143);
    const uint32_t want[2] = {1, 5};
    EXPECT(same_epochs(run_dir, want, 2));
    EXPECT(count_in_file(log, "waiting for checkpoints on tcp://127.0.0.1:") == 2);
    EXPECT(count_in_file(log, "stopping: 1 checkpoint(s) received, 1 scored") == 1);
    char path[512];
    snprintf(path, sizeof path, "%s/history.csv", run_dir);
    EXPECT(count_in_file(path, "epoch,step,") == 1);   /* one header */
    zmq_close(pub);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s GEN_DATASET EVALUATOR\n", argv[0]);
        return 2;
    }
    g_evaluator = argv[2];
    log_init("test_evaluator_stream", NULL);
    g_msg = calloc(1, sizeof *g_msg);
    g_zctx = zmq_ctx_new();
    if (!g_msg || !g_zctx || img_init(argv[0]) != 0 || fx_init(&fx, argv[1], "stream") != 0) {
        fprintf(stderr, "set-up failed: %s\n", err_msg());
        return 1;
    }
    g_n_views = nn_param_views(&fx.m, g_views, NN_MAX_LAYERS * 2);
    RUN(started_before_the_trainer);
    RUN(started_mid_run);
    RUN(restarted_evaluator_appends_and_publisher_goes_on);
    RUN(falling_behind_scores_the_newest);
    RUN(refuses_what_does_not_fit_and_goes_on);
    RUN(scores_a_lost_checkpoint_from_its_file);
    RUN(killed_process_does_not_disturb_the_publisher);
    fx_free(&fx);
    proto_buf_free(&g_scratch);
    free(g_msg);
    zmq_ctx_term(g_zctx);
    return TEST_SUMMARY();
}
