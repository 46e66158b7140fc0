/* test_evaluator_metrics.c: the evaluator's metrics (loss, confusion matrix, exact AUC), tick choice,
 * history.csv and the learning-curve PNG. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vips/vips.h>

#include "common/check.h"
#include "common/rng.h"
#include "evaluator/curves.h"
#include "evaluator/history.h"
#include "evaluator/metrics.h"
#include "evaluator/plot.h"
#include "tests/test.h"
#include "tests/testlib.h"

static char tmp_dir[256];

static double auc_of(const float *scores, const uint8_t *labels, int n) {
    metrics_pair_t p[64];
    for (int i = 0; i < n; i++) p[i] = (metrics_pair_t){scores[i], labels[i]};
    return metrics_auc(p, n);
}

/* The definition: over every (positive, negative) pair, 1 if the positive scores higher, 1/2 on a tie. */
static double auc_pairs(const float *s, const uint8_t *y, int n) {
    double sum = 0.0;
    long pairs = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (y[i] && !y[j]) {
                sum += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
                pairs++;
            }
    return sum / (double)pairs;
}

TEST(auc_hand_made) {
    const uint8_t y[6] = {0, 0, 0, 1, 1, 1};
    const float perfect[6] = {-3, -2, -1, 1, 2, 3};
    const float reversed[6] = {3, 2, 1, -1, -2, -3};
    const float all_tied[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    EXPECT_NEAR(auc_of(perfect, y, 6), 1.0, 1e-12, 0);
    EXPECT_NEAR(auc_of(reversed, y, 6), 0.0, 1e-12, 0);
    EXPECT_NEAR(auc_of(all_tied, y, 6), 0.5, 1e-12, 0);
    /* One inversion out of 9 pairs, and one tie (worth 1/2): (9 - 1 - 0.5) / 9. */
    const float mixed[6] = {0.1f, 0.2f, 0.7f, 0.6f, 0.7f, 0.9f};
    EXPECT_NEAR(auc_of(mixed, y, 6), 7.5 / 9.0, 1e-12, 0);
    /* A single class: undefined. */
    const uint8_t ones[3] = {1, 1, 1};
    EXPECT(isnan(auc_of(perfect, ones, 3)));
}

TEST(auc_matches_pair_count) {
    rng_t r;
    rng_init(&r, 7, 0);
    float s[64];
    uint8_t y[64];
    for (int trial = 0; trial < 50; trial++) {
        int n = 2 + (int)(rng_u32(&r) % 62);
        for (int i = 0; i < n; i++) {
            y[i] = (uint8_t)(i % 2);                     /* both classes present */
            s[i] = (float)(rng_u32(&r) % 8) * 0.25f;     /* few distinct values: many ties */
        }
        EXPECT_NEAR(auc_of(s, y, n), auc_pairs(s, y, n), 1e-12, 0);
    }
}

TEST(confusion_loss_accuracy) {
    const float z[8] = {-2.0f, -0.5f, 0.0f, 3.0f, 1.5f, -1.0f, 0.25f, 4.0f};
    const uint8_t y[8] = {0, 0, 0, 0, 1, 1, 1, 1};
    metrics_pair_t pairs[8];
    eval_metrics_t m;
    metrics_compute(z, y, 8, pairs, &m);
    /* logit 0 is class 0 (Keras: p > 0.5). Class 0: -2, -0.5, 0 right, 3 wrong; class 1: -1 wrong. */
    EXPECT(m.tn == 3 && m.fp == 1 && m.fn == 1 && m.tp == 3);
    EXPECT(m.tn + m.fp + m.fn + m.tp == m.n && m.n == 8);
    EXPECT_NEAR(m.accuracy, 6.0 / 8.0, 1e-12, 0);
    EXPECT_NEAR(m.precision, 3.0 / 4.0, 1e-12, 0);
    EXPECT_NEAR(m.recall, 3.0 / 4.0, 1e-12, 0);
    double loss = 0.0;
    for (int i = 0; i < 8; i++) {
        double p = 1.0 / (1.0 + exp(-(double)z[i]));
        loss += -(y[i] ? log(p) : log(1.0 - p));
    }
    EXPECT_NEAR(m.loss, loss / 8.0, 1e-12, 1e-12);
    EXPECT_NEAR(m.auc, auc_pairs(z, y, 8), 1e-12, 0);
    /* Stable far out: log(1 + e^-100) underflows in the naive formula's probability. */
    EXPECT_NEAR(metrics_bce(100.0, 0), 100.0, 1e-9, 0);
    EXPECT_NEAR(metrics_bce(-100.0, 1), 100.0, 1e-9, 0);
    EXPECT_NEAR(metrics_bce(100.0, 1), 0.0, 1e-30, 0);
    /* Nothing predicted positive: precision 0 (as Keras), recall 0. */
    const float neg[4] = {-1, -1, -1, -1};
    const uint8_t y4[4] = {0, 1, 0, 1};
    metrics_compute(neg, y4, 4, pairs, &m);
    EXPECT(m.tp == 0 && m.fp == 0 && m.precision == 0.0 && m.recall == 0.0);
    EXPECT_NEAR(m.auc, 0.5, 1e-12, 0);
}

TEST(nice_ticks) {
    plot_ticks_t t;
    plot_nice_ticks(0.55, 0.99, 10, 0.0, &t);
    EXPECT_NEAR(t.step, 0.05, 1e-12, 0);
    EXPECT_NEAR(t.first, 0.55, 1e-12, 0);
    EXPECT(t.n == 9 && t.decimals == 2);
    plot_nice_ticks(-0.45, 31.45, 8, 1.0, &t);   /* epochs 1..30 with margins */
    EXPECT_NEAR(t.step, 5.0, 1e-12, 0);
    EXPECT(t.first == 0.0 && t.n == 7 && t.decimals == 0);
    plot_nice_ticks(0.95, 1.05, 8, 1.0, &t);     /* one epoch: steps stay whole */
    EXPECT(t.step == 1.0 && t.n == 1 && t.first == 1.0);
    plot_nice_ticks(0.0, 1.0, 5, 0.0, &t);
    EXPECT_NEAR(t.step, 0.25, 1e-12, 0);
    EXPECT(t.n == 5 && t.decimals == 2);
    plot_nice_ticks(3.0, 3.0, 5, 0.0, &t);       /* degenerate range widened */
    EXPECT(t.n >= 2 && t.first <= 3.0 && t.first + (t.n - 1) * t.step >= 3.0);
    for (double lo = -7.3; lo < 5; lo += 1.7)
        for (double w = 1e-3; w < 1e4; w *= 7.1) {
            plot_nice_ticks(lo, lo + w, 6, 0.0, &t);
            EXPECT(t.n >= 2 && t.n <= 6);
            EXPECT(t.first >= lo - 1e-9 * w && t.first + (t.n - 1) * t.step <= lo + w + 1e-9 * w);
        }
}

static history_row_t row(uint32_t epoch, uint64_t step, double val_acc) {
    history_row_t r = {.epoch = epoch, .step = step, .loss = 0.6 / epoch, .accuracy = 0.5 + 0.01 * epoch};
    r.val = (eval_metrics_t){.n = 10, .loss = 0.7, .accuracy = val_acc, .precision = 0.5, .recall = 0.25,
                             .auc = 0.625, .tn = 4, .fp = 1, .fn = 3, .tp = 2};
    return r;
}

TEST(history_columns) {
    char path[512];
    snprintf(path, sizeof path, "%s/history.csv", tmp_dir);
    unlink(path);
    history_row_t r1 = row(1, 100, 0.6), r2 = row(2, 200, 0.65);
    r2.loss = NAN;   /* a checkpoint without training metrics */
    REQUIRE(history_append(path, &r1) == 0);
    REQUIRE(history_append(path, &r2) == 0);   /* appends, no second header */
    FILE *f = fopen(path, "r");
    REQUIRE(f != NULL);
    char line[512];
    REQUIRE(fgets(line, sizeof line, f) != NULL);
    EXPECT(strcmp(line, "epoch,step,loss,accuracy,val_loss,val_accuracy,val_precision,val_recall,"
                        "val_auc,tn,fp,fn,tp\n") == 0);
    REQUIRE(fgets(line, sizeof line, f) != NULL);
    EXPECT(strcmp(line, "1,100,0.600000,0.510000,0.700000,0.600000,0.500000,0.250000,0.625000,4,1,3,2\n") == 0);
    REQUIRE(fgets(line, sizeof line, f) != NULL);
    EXPECT(strncmp(line, "2,200,nan,0.520000,", 19) == 0);
    EXPECT(fgets(line, sizeof line, f) == NULL);
    fclose(f);

    history_row_t *rows = NULL;
    int n = 0, cap = 0;
    REQUIRE(history_read(path, &rows, &n, &cap) == 0);
    REQUIRE(n == 2);
    EXPECT(rows[0].epoch == 1 && rows[0].step == 100 && rows[1].epoch == 2);
    EXPECT_NEAR(rows[0].val.accuracy, 0.6, 1e-9, 0);
    EXPECT(isnan(rows[1].loss));
    EXPECT(rows[0].val.tn == 4 && rows[0].val.tp == 2 && rows[0].val.n == 10);
    free(rows);
}

TEST(history_tidy_one_row_per_epoch) {
    history_row_t rows[6] = {row(1, 100, 0.1), row(2, 200, 0.2), row(2, 250, 0.9) /* mid-epoch 3 */,
                             row(3, 300, 0.3), row(2, 200, 0.25) /* resumed run, epoch 2 again */,
                             row(0, 0, 0.05)};
    int n = history_tidy(rows, 6);
    REQUIRE(n == 4);
    EXPECT(rows[0].epoch == 0 && rows[1].epoch == 1 && rows[2].epoch == 2 && rows[3].epoch == 3);
    EXPECT(rows[2].step == 200);
    EXPECT_NEAR(rows[2].val.accuracy, 0.25, 1e-12, 0);   /* the later row at the same step wins */
}

TEST(history_refuses_garbage) {
    char path[512];
    snprintf(path, sizeof path, "%s/bad.csv", tmp_dir);
    REQUIRE(tl_write_text(path, "epoch,loss,accuracy,val_loss,val_accuracy\n1,0.5,0.6,0.7,zero\n") == 0);
    history_row_t *rows = NULL;
    int n = 0, cap = 0;
    EXPECT(history_read(path, &rows, &n, &cap) == -1);
    EXPECT(strstr(err_msg(), "bad.csv:2") != NULL);
    free(rows);
}

static int png_size(const char *path, int *w, int *h) {
    VipsImage *im = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    if (!im) return -1;
    *w = vips_image_get_width(im);
    *h = vips_image_get_height(im);
    int rc = vips_image_get_bands(im) >= 3 && vips_image_wio_input(im) == 0 ? 0 : -1;   /* decodes all */
    g_object_unref(im);
    return rc;
}

TEST(curves_png) {
    char csv[512], png[512], tmp[520];
    snprintf(csv, sizeof csv, "%s/history.csv", tmp_dir);
    snprintf(png, sizeof png, "%s/curves.png", tmp_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", png);
    unlink(csv);
    for (uint32_t e = 1; e <= 30; e++) {
        history_row_t r = row(e, 100 * e, 0.55 + 0.005 * e);
        REQUIRE(history_append(csv, &r) == 0);
    }
    REQUIRE(curves_from_history(csv, png) == 0);
    int w = 0, h = 0;
    REQUIRE(png_size(png, &w, &h) == 0);
    EXPECT(w == CURVES_WIDTH && h == CURVES_HEIGHT);
    EXPECT(access(tmp, F_OK) != 0);   /* written via tmp + rename */
    /* Degenerate histories draw too: no rows, one row, NaN training metrics. */
    EXPECT(curves_draw(NULL, 0, png) == 0);
    history_row_t one = row(1, 100, 0.5);
    one.loss = one.accuracy = NAN;
    EXPECT(curves_draw(&one, 1, png) == 0);
    EXPECT(png_size(png, &w, &h) == 0 && w == CURVES_WIDTH);
    /* An unwritable place fails with a message, leaving nothing behind. */
    snprintf(png, sizeof png, "%s/no-such-dir/curves.png", tmp_dir);
    EXPECT(curves_draw(&one, 1, png) == -1);
}

int main(int argc, char **argv) {
    (void)argc;
    if (VIPS_INIT(argv[0]) != 0) return 1;
    if (tl_tmpdir(tmp_dir, sizeof tmp_dir, "evaluator-metrics") != 0) return 1;
    RUN(auc_hand_made);
    RUN(auc_matches_pair_count);
    RUN(confusion_loss_accuracy);
    RUN(nice_ticks);
    RUN(history_columns);
    RUN(history_tidy_one_row_per_epoch);
    RUN(history_refuses_garbage);
    RUN(curves_png);
    tl_tmpdir_done(tmp_dir);
    return TEST_SUMMARY();
}
