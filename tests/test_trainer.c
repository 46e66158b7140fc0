/* test_trainer.c: the trainer without a pipeline: Keras-style progress output, and --resume refusing
 * a truncated checkpoint, a checkpoint of another model and a file that is not a checkpoint. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "common/timeutil.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "test.h"
#include "testlib.h"
#include "trainer/progress.h"
#include "trainer/trainer.h"

/* Everything written to f so far, NUL-terminated, in buf. */
static void slurp(FILE *f, char *buf, size_t cap) {
    fflush(f);
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
}

TEST(durations_like_keras) {
    char b[32];
    progress_format_duration(0.2, b, sizeof b);
    EXPECT(strcmp(b, "0s") == 0);
    progress_format_duration(9.4, b, sizeof b);
    EXPECT(strcmp(b, "9s") == 0);
    progress_format_duration(62, b, sizeof b);
    EXPECT(strcmp(b, "1:02") == 0);
    progress_format_duration(3723, b, sizeof b);
    EXPECT(strcmp(b, "1:02:03") == 0);
}

TEST(plain_line_at_epoch_end_only) {
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    progress_t p;
    progress_init(&p, f, 0, 30);
    EXPECT(p.bar == 0);
    progress_begin_epoch(&p, 3, 100, now_s());
    for (int i = 1; i <= 100; i++) progress_step(&p, i, 0.7, 0.5);
    char buf[1024];
    slurp(f, buf, sizeof buf);
    EXPECT(buf[0] == '\0');   /* nothing during the epoch */
    progress_end_epoch(&p, 100, 0.61234, 0.665, 98.2, 0);
    slurp(f, buf, sizeof buf);
    EXPECT(strcmp(buf, "Epoch 3/30 - 100/100 - 0s - loss: 0.6123 - accuracy: 0.6650 - 98 ms/step\n") == 0);
    if (strcmp(buf, "Epoch 3/30 - 100/100 - 0s - loss: 0.6123 - accuracy: 0.6650 - 98 ms/step\n") != 0)
        fprintf(stderr, "  got: %s", buf);
    progress_begin_epoch(&p, 4, 100, now_s());
    progress_end_epoch(&p, 100, 0.5, 0.75, 90, 2);
    slurp(f, buf, sizeof buf);
    EXPECT(strstr(buf, "Epoch 4/30 - 100/100 - 0s - loss: 0.5000 - accuracy: 0.7500 - 90 ms/step - skipped: 2 files\n"));
    fclose(f);
}

TEST(bar_redrawn_in_place) {
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    progress_t p;
    progress_init(&p, f, 1, 30);
    progress_begin_epoch(&p, 3, 100, now_s());
    progress_step(&p, 45, 0.6123, 0.665);
    char buf[2048];
    slurp(f, buf, sizeof buf);
    EXPECT(strncmp(buf, "Epoch 3/30\n\r 45/100 [============>.................] - ETA: ", 60) == 0);
    EXPECT(strstr(buf, " - loss: 0.6123 - accuracy: 0.6650") != NULL);
    EXPECT(strchr(buf, '\n') == strrchr(buf, '\n'));   /* only the Epoch line ends a line */
    progress_end_epoch(&p, 100, 0.6001, 0.672, 98, 0);
    slurp(f, buf, sizeof buf);
    const char *last = strrchr(buf, '\r');
    REQUIRE(last != NULL);
    EXPECT(strncmp(last, "\r100/100 [==============================] - 0s 98ms/step - loss: 0.6001 - accuracy: 0.6720", 88) == 0);
    EXPECT(buf[strlen(buf) - 1] == '\n');
    fclose(f);

    /* unknown epoch length (one pass over the split): a counter without a bar */
    f = tmpfile();
    REQUIRE(f != NULL);
    progress_init(&p, f, 1, 2);
    progress_begin_epoch(&p, 1, 0, now_s());
    progress_step(&p, 7, 0.7, 0.5);
    slurp(f, buf, sizeof buf);
    EXPECT(strstr(buf, "\r7/Unknown - 0s - loss: 0.7000 - accuracy: 0.5000") != NULL);
    progress_end_epoch(&p, 9, 0.7, 0.5, 10, 0);
    slurp(f, buf, sizeof buf);
    EXPECT(strstr(buf, "\r9/9 [==============================] - 0s 10ms/step") != NULL);
    fclose(f);
}


/* A tiny model (32x32 input, 8 and 16 filters) so checkpoints are small and quick to write. */
static const char *TINY =
    "[model]\nname = tiny\ninput = 32, 32, 3\n"
    "[optimizer]\ntype = rmsprop\nlearning_rate = 1e-3\nrho = 0.9\nepsilon = 1e-7\n"
    "[loss]\ntype = binary_crossentropy\n"
    "[training]\nbatch_size = 8\nsteps_per_epoch = 4\nepochs = 2\nvalidation_steps = 0\nseed = 7\n"
    "[conv2d_1]\ntype = conv2d\nfilters = 8\nkernel_size = 3\nactivation = relu\n"
    "[max_pooling2d_1]\ntype = max_pooling2d\npool_size = 2\n"
    "[conv2d_2]\ntype = conv2d\nfilters = %d\nkernel_size = 3\nactivation = relu\n"
    "[max_pooling2d_2]\ntype = max_pooling2d\npool_size = 2\n"
    "[flatten]\ntype = flatten\n"
    "[dense_1]\ntype = dense\nunits = 16\nactivation = relu\n"
    "[dense_2]\ntype = dense\nunits = 1\nactivation = sigmoid\n";

static char g_dir[256];

/* Writes the tiny spec with conv2d_2 of `filters` to DIR/name and a checkpoint of it to DIR/ckpt. */
static int make_model(const char *name, int filters, const char *ckpt) {
    char text[4096], path[512];
    snprintf(text, sizeof text, TINY, filters);
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    if (tl_write_text(path, text) != 0) return -1;
    nn_model_t m;
    if (nn_model_load(path, &m) != 0) return -1;
    float *p = malloc(m.n_params * sizeof(float));
    nn_init_params(&m, 7, p);
    nn_ckpt_info_t info = {.epoch = 1, .step = 4, .seed = 7};
    snprintf(path, sizeof path, "%s/%s", g_dir, ckpt);
    int rc = nn_ckpt_save(path, &m, &info, p, p);
    free(p);
    nn_model_free(&m);
    return rc;
}

/* trainer_run with --resume DIR/ckpt on model DIR/tiny.ini: must fail before any socket is used. */
static int run_resume(const char *ckpt, int stop_at_once) {
    char model[512], resume[512], run_dir[512];
    snprintf(model, sizeof model, "%s/tiny.ini", g_dir);
    snprintf(resume, sizeof resume, "%s/%s", g_dir, ckpt);
    snprintf(run_dir, sizeof run_dir, "%s/run", g_dir);
    trainer_config_t c;
    trainer_config_default(&c);
    c.model_path = model;
    c.resume = resume;
    c.run_dir = run_dir;
    c.backend = "ref";
    c.batches_bind = "inproc://test-trainer-batches";
    c.credits = "inproc://test-trainer-credits";
    c.checkpoints_bind = "inproc://test-trainer-checkpoints";
    volatile sig_atomic_t stop = stop_at_once;
    err_clear();
    int rc = trainer_run(&c, &stop);
    fprintf(stderr, "  trainer_run(--resume %s) = %d: %s\n", ckpt, rc, err_msg());
    return rc;
}

TEST(resume_refuses_bad_checkpoints) {
    REQUIRE(tl_tmpdir(g_dir, sizeof g_dir, "test-trainer") == 0);
    REQUIRE(make_model("tiny.ini", 16, "good.safetensors") == 0);
    REQUIRE(make_model("other.ini", 12, "other.safetensors") == 0);

    /* truncated: the first 60% of a good checkpoint */
    char path[512];
    snprintf(path, sizeof path, "%s/good.safetensors", g_dir);
    size_t n = 0;
    char *good = tl_read_file(path, &n);
    REQUIRE(good != NULL && n > 1000);
    snprintf(path, sizeof path, "%s/truncated.safetensors", g_dir);
    int written = tl_write_file(path, good, n * 6 / 10);
    free(good);
    REQUIRE(written == 0);
    snprintf(path, sizeof path, "%s/notes.txt", g_dir);
    REQUIRE(tl_write_text(path, "these are not the weights you are looking for\n") == 0);

    EXPECT(run_resume("truncated.safetensors", 0) != 0);
    EXPECT(strstr(err_msg(), "--resume") && strstr(err_msg(), "truncated"));
    EXPECT(run_resume("other.safetensors", 0) != 0);
    EXPECT(strstr(err_msg(), "--resume") && strstr(err_msg(), "another model") && strstr(err_msg(), "differ"));
    EXPECT(run_resume("notes.txt", 0) != 0);
    EXPECT(strstr(err_msg(), "--resume") && strstr(err_msg(), "not a"));
    EXPECT(run_resume("missing.safetensors", 0) != 0);
    EXPECT(strstr(err_msg(), "missing.safetensors") != NULL);
    /* the good one is accepted, so the refusals above are about the files (with the stop flag
     * already set the run ends as soon as it has set up) */
    EXPECT(run_resume("good.safetensors", 1) == 0);
    EXPECT(tl_rm_rf(g_dir) == 0);
}

int main(void) {
    RUN(durations_like_keras);
    RUN(plain_line_at_epoch_end_only);
    RUN(bar_redrawn_in_place);
    RUN(resume_refuses_bad_checkpoints);
    return TEST_SUMMARY();
}
