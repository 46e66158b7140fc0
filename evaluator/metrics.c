/* metrics.c: loss, accuracy, confusion matrix, precision, recall and exact ROC AUC from logits. */
#include "evaluator/metrics.h"

#include <math.h>
#include <stdlib.h>

double metrics_bce(double z, int y) { return fmax(z, 0.0) - z * y + log1p(exp(-fabs(z))); }

static int by_score(const void *a, const void *b) {
    float x = ((const metrics_pair_t *)a)->score, y = ((const metrics_pair_t *)b)->score;
    return (x > y) - (x < y);
}

double metrics_auc(metrics_pair_t *pairs, int64_t n) {
    qsort(pairs, (size_t)n, sizeof *pairs, by_score);
    /* Walk runs of equal scores; every member of a run gets the run's mid-rank (1-based). */
    double pos_rank_sum = 0.0;
    int64_t n_pos = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i, pos_in_run = 0;
        while (j < n && pairs[j].score == pairs[i].score) pos_in_run += pairs[j++].label != 0;
        double mid_rank = 0.5 * (double)(i + 1 + j);   /* mean of ranks i+1 .. j */
        pos_rank_sum += mid_rank * (double)pos_in_run;
        n_pos += pos_in_run;
        i = j;
    }
    int64_t n_neg = n - n_pos;
    if (n_pos == 0 || n_neg == 0) return NAN;
    double u = pos_rank_sum - 0.5 * (double)n_pos * (double)(n_pos + 1);
    return u / ((double)n_pos * (double)n_neg);
}

void metrics_compute(const float *logits, const uint8_t *labels, int64_t n, metrics_pair_t *pairs,
                     eval_metrics_t *out) {
    double loss = 0.0;
    int64_t c[2][2] = {{0, 0}, {0, 0}};   /* c[label][predicted] */
    for (int64_t i = 0; i < n; i++) {
        int y = labels[i] != 0, p = logits[i] > 0.0f;
        loss += metrics_bce(logits[i], y);
        c[y][p]++;
        pairs[i].score = logits[i];   /* the sigmoid is monotonic: ranking logits ranks probabilities */
        pairs[i].label = (uint8_t)y;
    }
    out->n = n;
    out->tn = c[0][0];
    out->fp = c[0][1];
    out->fn = c[1][0];
    out->tp = c[1][1];
    out->loss = n ? loss / (double)n : NAN;
    out->accuracy = n ? (double)(out->tn + out->tp) / (double)n : NAN;
    out->precision = out->tp + out->fp ? (double)out->tp / (double)(out->tp + out->fp) : 0.0;
    out->recall = out->tp + out->fn ? (double)out->tp / (double)(out->tp + out->fn) : 0.0;
    out->auc = metrics_auc(pairs, n);
}
