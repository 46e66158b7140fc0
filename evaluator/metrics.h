/* metrics.h: the validation metrics of one scoring pass, computed from logits and 0/1 labels. */
#ifndef PAWPIPE_EVAL_METRICS_H
#define PAWPIPE_EVAL_METRICS_H

#include <stdint.h>

#include "evaluator/evaluator.h"

/* Scratch for the AUC sort: one per sample, allocated once by the caller. */
typedef struct {
    float score;
    uint8_t label;
} metrics_pair_t;

/* Binary cross-entropy of one logit z against label y, computed stably:
 * max(z, 0) - z * y + log(1 + exp(-|z|)). */
double metrics_bce(double z, int y);

/* Exact ROC AUC: the probability that a random positive scores above a random negative, ties
 * counting one half (the Mann-Whitney statistic with mid-ranks), via one sort of pairs[0..n).
 * pairs is filled in by the caller and reordered here. NAN when either class is absent. */
double metrics_auc(metrics_pair_t *pairs, int64_t n);

/* Every metric of eval_metrics_t from n logits and labels (0 or 1); pairs: n entries of scratch. */
void metrics_compute(const float *logits, const uint8_t *labels, int64_t n, metrics_pair_t *pairs,
                     eval_metrics_t *out);

#endif
