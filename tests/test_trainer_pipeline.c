/* test_trainer_pipeline.c: whole training runs: loader, two augmenters and a checkpoint subscriber as
 * threads, the trainer in the main thread, all over inproc:// in one ZeroMQ context, on a small data
 * set written by gen_dataset. Checks that the loss falls, what the checkpoint stream carries, and that
 * a resumed run (from an epoch or a mid-epoch checkpoint) ends with bit-identical weights. Backend:
 * ref, or PAWPIPE_TEST_BACKEND. */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "augmenter/augmenter.h"
#include "common/check.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "image/image.h"
#include "loader/loader.h"
#include "nn/backend.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "proto/sock.h"
#include "test.h"
#include "testlib.h"
#include "trainer/trainer.h"

#define N_AUG 2

static char g_dir[512];       /* scratch folder of this test process      */
static char g_data[600];      /* the generated data set                    */
static void *g_zctx;
static const char *g_backend = "ref";   /* PAWPIPE_TEST_BACKEND overrides */

/* 32x32 input, two small conv blocks, dropout: ~11k parameters, a step takes about a millisecond. */
static const char *SPEC =
    "[model]\nname = tiny\ninput = 32, 32, 3\n"
    "[optimizer]\ntype = rmsprop\nlearning_rate = %s\nrho = 0.9\nepsilon = 1e-7\n"
    "[loss]\ntype = binary_crossentropy\n"
    "[training]\nbatch_size = 16\nsteps_per_epoch = %d\nepochs = %d\nvalidation_steps = 0\nseed = 5\n"
    "[conv2d_1]\ntype = conv2d\nfilters = 8\nkernel_size = 3\nactivation = relu\n"
    "[max_pooling2d_1]\ntype = max_pooling2d\npool_size = 2\n"
    "[conv2d_2]\ntype = conv2d\nfilters = 16\nkernel_size = 3\nactivation = relu\n"
    "[max_pooling2d_2]\ntype = max_pooling2d\npool_size = 2\n"
    "[flatten]\ntype = flatten\n"
    "[dropout]\ntype = dropout\nrate = %s\n"
    "[dense_1]\ntype = dense\nunits = 16\nactivation = relu\n"
    "[dense_2]\ntype = dense\nunits = 1\nactivation = sigmoid\n";

static int write_spec(const char *name, const char *lr, int steps, int epochs, const char *dropout, char *path,
                      size_t cap) {
    snprintf(path, cap, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, SPEC, lr, steps, epochs, dropout);
    return fclose(f);
}

/* ---- the checkpoint subscriber ---------------------------------------------------------------- */

typedef struct {
    char endpoint[64];
    volatile sig_atomic_t stop;
    pthread_t th;
    int checkpoints, metrics, ends, bad;   /* ends: announcements of the end of the run, after the last */
    uint32_t last_epoch;
    uint64_t last_step;
    double last_loss;
    char last_path[PROTO_PATH_MAX];
    int last_n_tensors;
    float *last_params;       /* the tensors of the last checkpoint, concatenated */
    size_t n_params;
} sub_t;

static void *sub_main(void *arg) {
    sub_t *s = arg;
    proto_msg_t *m = malloc(sizeof *m);
    void *sock = sock_connect(g_zctx, ZMQ_SUB, s->endpoint, 0);
    if (!m || !sock || zmq_setsockopt(sock, ZMQ_SUBSCRIBE, "", 0) != 0) {
        s->bad++;
        goto done;
    }
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    while (!s->stop) {
        int rc = sock_recv(sock, &frame, NULL, m, 100);
        if (rc < 0) {
            s->bad++;
            if (rc == -2) break;
            continue;
        }
        if (rc == 0) continue;
        if (m->kind == PROTO_METRICS) {
            s->metrics++;
        } else if (sock_is_run_end(m)) {
            s->ends++;
        } else if (m->kind == PROTO_CHECKPOINT) {
            if (s->ends) s->bad++;   /* nothing follows the end */
            const proto_checkpoint_t *c = &m->checkpoint;
            s->checkpoints++;
            s->last_epoch = c->epoch;
            s->last_step = c->step;
            s->last_loss = proto_metric_get(c->metrics, c->n_metrics, "loss");
            snprintf(s->last_path, sizeof s->last_path, "%s", c->path);
            s->last_n_tensors = (int)c->n_tensors;
            size_t off = 0;
            for (uint32_t i = 0; i < c->n_tensors; i++) {
                const proto_tensor_t *t = &c->tensors[i];
                if (t->dtype != PROTO_F32 || off + t->len / 4 > s->n_params || strstr(t->name, ".rms")) {
                    s->bad++;
                    break;
                }
                memcpy(s->last_params + off, t->data, t->len);
                off += t->len / 4;
            }
            if (off != s->n_params || !strstr(c->spec, "name = tiny")) s->bad++;
        } else {
            s->bad++;
        }
    }
    zmq_msg_close(&frame);
done:
    sock_close(&sock);
    free(m);
    return NULL;
}

/* ---- one run of the pipeline ------------------------------------------------------------------ */

typedef struct {
    loader_config_t c;
    volatile sig_atomic_t stop;
    int rc;
    pthread_t th;
} loader_th_t;

typedef struct {
    augmenter_config_t c;
    volatile sig_atomic_t stop;
    int rc;
    pthread_t th;
    char name[32];
} aug_th_t;

static void *loader_main(void *arg) {
    loader_th_t *l = arg;
    l->rc = loader_run(&l->c, &l->stop, NULL);
    if (l->rc != 0) fprintf(stderr, "  loader_run: %s\n", err_msg());
    return NULL;
}

static void *aug_main(void *arg) {
    aug_th_t *a = arg;
    a->rc = augmenter_run(&a->c, &a->stop, NULL);
    if (a->rc != 0) fprintf(stderr, "  augmenter_run: %s\n", err_msg());
    return NULL;
}

typedef struct {
    const char *model, *run_dir, *resume, *backend;
    int epochs, checkpoint_every;
    sub_t *sub;               /* NULL: no subscriber */
    double seconds;           /* out: wall time of trainer_run */
} run_t;

/* Runs loader + augmenters + (subscriber) as threads and trainer_run here; 0 when all went well. */
static int run_pipeline(run_t *r) {
    static int run_no;
    run_no++;
    char jobs[64], credits[64], batches[64], ckpts[64], control[64];
    snprintf(jobs, sizeof jobs, "inproc://jobs-%d", run_no);
    snprintf(credits, sizeof credits, "inproc://credits-%d", run_no);
    snprintf(batches, sizeof batches, "inproc://batches-%d", run_no);
    snprintf(ckpts, sizeof ckpts, "inproc://checkpoints-%d", run_no);
    snprintf(control, sizeof control, "inproc://control-%d", run_no);

    trainer_config_t tc;
    trainer_config_default(&tc);
    tc.model_path = r->model;
    tc.epochs = r->epochs;
    tc.backend = r->backend;
    tc.run_dir = r->run_dir;
    tc.resume = r->resume;
    tc.checkpoint_every = r->checkpoint_every;
    tc.batches_bind = batches;
    tc.credits = credits;
    tc.checkpoints_bind = ckpts;
    tc.progress = 0;
    tc.zctx = g_zctx;

    loader_th_t *l = calloc(1, sizeof *l);
    aug_th_t *a = calloc(N_AUG, sizeof *a);
    if (!l || !a) return -1;
    loader_config_default(&l->c);
    l->c.data_dir = g_data;
    l->c.model_path = r->model;
    l->c.epochs = r->epochs;
    l->c.window = tc.window;
    l->c.jobs_bind = jobs;
    l->c.credits_bind = credits;
    l->c.control_bind = control;
    l->c.zctx = g_zctx;
    if (r->sub) {
        snprintf(r->sub->endpoint, sizeof r->sub->endpoint, "%s", ckpts);
        pthread_create(&r->sub->th, NULL, sub_main, r->sub);
    }
    pthread_create(&l->th, NULL, loader_main, l);
    for (int i = 0; i < N_AUG; i++) {
        augmenter_config_default(&a[i].c);
        snprintf(a[i].name, sizeof a[i].name, "augmenter%d", i + 1);
        a[i].c.jobs = jobs;
        a[i].c.batches = batches;
        a[i].c.control = control;
        a[i].c.cache_mb = 64;
        a[i].c.zctx = g_zctx;
        a[i].c.name = a[i].name;
        pthread_create(&a[i].th, NULL, aug_main, &a[i]);
    }

    volatile sig_atomic_t stop = 0;
    double t0 = now_s();
    int rc = trainer_run(&tc, &stop);
    r->seconds = now_s() - t0;
    if (rc != 0) fprintf(stderr, "  trainer_run: %s\n", err_msg());

    if (rc != 0) l->stop = 1;   /* a failed trainer never credits END_RUN */
    pthread_join(l->th, NULL);
    for (int i = 0; i < N_AUG; i++) a[i].stop = 1;
    for (int i = 0; i < N_AUG; i++) pthread_join(a[i].th, NULL);
    if (r->sub) {
        r->sub->stop = 1;
        pthread_join(r->sub->th, NULL);
    }
    if (l->rc != 0) rc = -1;
    for (int i = 0; i < N_AUG; i++)
        if (a[i].rc != 0) rc = -1;
    free(l);
    free(a);
    return rc;
}

/* ---- checkpoint helpers ----------------------------------------------------------------------- */

typedef struct {
    nn_model_t m;
    nn_ckpt_info_t info;
    float *params, *rms;
} ckpt_t;

static int ckpt_read(const char *run_dir, const char *file, ckpt_t *c) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", run_dir, file);
    memset(c, 0, sizeof *c);
    if (nn_ckpt_load(path, &c->m, &c->info, &c->params, &c->rms) != 0) {
        fprintf(stderr, "  %s\n", err_msg());
        return -1;
    }
    return 0;
}

static void ckpt_free(ckpt_t *c) {
    free(c->params);
    free(c->rms);
    nn_model_free(&c->m);
}

static double metric(const ckpt_t *c, const char *name) {
    for (int i = 0; i < c->info.n_metrics; i++)
        if (strcmp(c->info.metric_names[i], name) == 0) return c->info.metric_values[i];
    return NAN;
}

/* The first index where two float arrays differ bitwise, or -1. */
static long first_difference(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) return (long)i;
    return -1;
}

static int exists(const char *dir, const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- tests ------------------------------------------------------------------------------------ */

#define LOSS_EPOCHS 16
#define LOSS_STEPS 12

TEST(loss_falls_and_checkpoints_are_published) {
    char model[1024], run_dir[1024];
    REQUIRE(write_spec("learn.ini", "1e-3", LOSS_STEPS, LOSS_EPOCHS, "0.1", model, sizeof model) == 0);
    snprintf(run_dir, sizeof run_dir, "%s/learn", g_dir);
    nn_model_t m;
    REQUIRE(nn_model_load(model, &m) == 0);
    sub_t *sub = calloc(1, sizeof *sub);
    REQUIRE(sub != NULL);
    sub->n_params = m.n_params;
    sub->last_params = calloc(m.n_params, sizeof(float));
    run_t r = {.model = model, .run_dir = run_dir, .backend = g_backend, .epochs = 0, .sub = sub};
    int rc = run_pipeline(&r);
    EXPECT(rc == 0);

    /* the loss curve, from the checkpoints' metadata */
    double loss[LOSS_EPOCHS + 1] = {0}, acc[LOSS_EPOCHS + 1] = {0}, ms = 0;
    int have = 0;
    for (int e = 1; e <= LOSS_EPOCHS; e++) {
        char file[64];
        snprintf(file, sizeof file, "ckpt-epoch-%03d.safetensors", e);
        ckpt_t c;
        if (ckpt_read(run_dir, file, &c) != 0) continue;
        have++;
        EXPECT(c.info.epoch == (uint32_t)e && c.info.step == (uint64_t)e * LOSS_STEPS && c.info.seed == 5);
        loss[e] = metric(&c, "loss");
        acc[e] = metric(&c, "accuracy");
        ms += metric(&c, "ms_per_step");
        fprintf(stderr, "  epoch %d: loss %.4f accuracy %.4f, %.1f ms/step (compute %.2f ms/step)\n", e, loss[e],
                acc[e], metric(&c, "ms_per_step"), metric(&c, "compute_ms_per_step"));
        if (e == LOSS_EPOCHS) {
            /* the last checkpoint published equals the last file written */
            EXPECT(sub->checkpoints >= 1 && sub->last_epoch == (uint32_t)e && sub->last_n_tensors == 8);
            EXPECT(first_difference(sub->last_params, c.params, m.n_params) == -1);
            EXPECT(strstr(sub->last_path, "ckpt-epoch-016.safetensors") != NULL);
            EXPECT(sub->last_loss == loss[e]);
        }
        ckpt_free(&c);
    }
    fprintf(stderr, "  run: %.1f s, %d steps; subscriber saw %d checkpoints, %d metrics, %d end announcements, %d bad\n",
            r.seconds, LOSS_EPOCHS * LOSS_STEPS, sub->checkpoints, sub->metrics, sub->ends, sub->bad);
    EXPECT(have == LOSS_EPOCHS);
    EXPECT(loss[LOSS_EPOCHS] < 0.9 * loss[1]);
    EXPECT(acc[LOSS_EPOCHS] > acc[1]);
    EXPECT(sub->checkpoints == LOSS_EPOCHS && sub->metrics == LOSS_EPOCHS && sub->ends >= 1 && sub->bad == 0);

    char link[1100], target[256];
    snprintf(link, sizeof link, "%s/latest.safetensors", run_dir);
    ssize_t n = readlink(link, target, sizeof target - 1);
    EXPECT(n > 0);
    if (n > 0) {
        target[n] = '\0';
        EXPECT(strcmp(target, "ckpt-epoch-016.safetensors") == 0);
    }
    free(sub->last_params);
    free(sub);
    nn_model_free(&m);
}

#define RES_STEPS 8

TEST(resumed_runs_end_bit_identical) {
    char model[1024], straight[1024], split[1024], mid[1024], resume[1100];
    REQUIRE(write_spec("resume.ini", "1e-3", RES_STEPS, 2, "0.3", model, sizeof model) == 0);
    snprintf(straight, sizeof straight, "%s/straight", g_dir);
    snprintf(split, sizeof split, "%s/split", g_dir);
    snprintf(mid, sizeof mid, "%s/mid", g_dir);

    /* 2 epochs straight, with a step checkpoint in the middle of epoch 1 */
    run_t a = {.model = model, .run_dir = straight, .backend = g_backend, .epochs = 2, .checkpoint_every = 5};
    REQUIRE(run_pipeline(&a) == 0);
    EXPECT(exists(straight, "ckpt-step-000005.safetensors") && exists(straight, "ckpt-step-000010.safetensors"));
    EXPECT(!exists(straight, "ckpt-step-000008.safetensors") && exists(straight, "ckpt-epoch-001.safetensors"));

    /* 1 epoch, then a second process resumes from its checkpoint for the second */
    run_t b1 = {.model = model, .run_dir = split, .backend = g_backend, .epochs = 1};
    REQUIRE(run_pipeline(&b1) == 0);
    EXPECT(!exists(split, "ckpt-epoch-002.safetensors"));
    snprintf(resume, sizeof resume, "%s/ckpt-epoch-001.safetensors", split);
    run_t b2 = {.model = model, .run_dir = split, .backend = g_backend, .epochs = 2, .resume = resume};
    REQUIRE(run_pipeline(&b2) == 0);

    /* resumed from the mid-epoch step checkpoint of the straight run */
    snprintf(resume, sizeof resume, "%s/ckpt-step-000005.safetensors", straight);
    run_t c = {.model = model, .run_dir = mid, .backend = g_backend, .epochs = 2, .resume = resume};
    REQUIRE(run_pipeline(&c) == 0);

    ckpt_t ka, kb, kc, k1;
    REQUIRE(ckpt_read(straight, "ckpt-epoch-002.safetensors", &ka) == 0);
    REQUIRE(ckpt_read(split, "ckpt-epoch-002.safetensors", &kb) == 0);
    REQUIRE(ckpt_read(mid, "ckpt-epoch-002.safetensors", &kc) == 0);
    REQUIRE(ckpt_read(straight, "ckpt-epoch-001.safetensors", &k1) == 0);
    size_t n = ka.m.n_params;
    EXPECT(kb.info.epoch == 2 && kb.info.step == 2 * RES_STEPS && kb.info.seed == ka.info.seed);
    EXPECT(kc.info.epoch == 2 && kc.info.step == 2 * RES_STEPS);
    long d_params = first_difference(ka.params, kb.params, n), d_rms = first_difference(ka.rms, kb.rms, n);
    long d_mid = first_difference(ka.params, kc.params, n), d_mid_rms = first_difference(ka.rms, kc.rms, n);
    fprintf(stderr, "  straight vs epoch-resumed: first differing parameter %ld, rms %ld; vs step-resumed: %ld, %ld\n",
            d_params, d_rms, d_mid, d_mid_rms);
    EXPECT(d_params == -1 && d_rms == -1);
    EXPECT(d_mid == -1 && d_mid_rms == -1);
    /* and training did move the weights in the second epoch (the comparison is not vacuous) */
    EXPECT(first_difference(ka.params, k1.params, n) != -1);
    /* the epoch loss of the resumed process is that of the straight one for the same epoch */
    EXPECT(metric(&ka, "loss") == metric(&kb, "loss"));
    ckpt_free(&ka);
    ckpt_free(&kb);
    ckpt_free(&kc);
    ckpt_free(&k1);
}

int main(int argc, char **argv) {
    if (getenv("PAWPIPE_TEST_BACKEND")) g_backend = getenv("PAWPIPE_TEST_BACKEND");
    const nn_backend_t *be = nn_backend_find(g_backend);
    if (!be || !nn_backend_usable(g_backend)) {   /* only a GPU backend on a machine without one skips */
        int skip = be && strcmp(be->device, "gpu") == 0;
        printf("%s: %s\n", skip ? "skipped" : "error", err_msg());
        return skip ? 77 : 1;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s GEN_DATASET\n", argv[0]);
        return 2;
    }
    log_init("test_trainer_pipeline", getenv("PAWPIPE_LOG_LEVEL") ? NULL : "warn");
    if (img_init(argv[0]) != 0) {
        fprintf(stderr, "img_init: %s\n", err_msg());
        return 1;
    }
    if (tl_tmpdir(g_dir, sizeof g_dir, "test-trainer-pipeline") != 0) {
        perror("cannot make a scratch folder");
        return 1;
    }
    snprintf(g_data, sizeof g_data, "%s/data", g_dir);
    double t0 = now_s();
    if (tl_system("'%s' --out '%s' --train 100 --validation 0 --test 0 --seed 3", argv[1], g_data) != 0) {
        fprintf(stderr, "gen_dataset %s failed\n", argv[1]);
        return 1;
    }
    fprintf(stderr, "data set: 200 training pictures in %.1f s\n", now_s() - t0);
    g_zctx = zmq_ctx_new();

    RUN(loss_falls_and_checkpoints_are_published);
    RUN(resumed_runs_end_bit_identical);

    zmq_ctx_term(g_zctx);
    tl_tmpdir_done(g_dir);
    return TEST_SUMMARY();
}
