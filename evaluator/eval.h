/* eval.h: pieces shared by the streaming evaluator and the one-shot commands: choosing the image set
 * a model is scored on, the one-line report, and the class names. */
#ifndef PAWPIPE_EVAL_EVAL_H
#define PAWPIPE_EVAL_EVAL_H

#include <stdint.h>
#include <stdio.h>

#include "evaluator/evaluator.h"
#include "evaluator/scorer.h"
#include "evaluator/valset.h"

/* Make v hold c's split at the model's input size (loads only when something changed): at most
 * validation_steps (c's, or the spec's when c's is -1) x the spec's batch_size images, as Keras'
 * fit(validation_steps=...) draws; 0 steps = all. 0 / -1 + err_msg(). */
int eval_prepare_data(const evaluator_config_t *c, const scorer_t *s, valset_t *v);

/* "epoch 3 step 300: loss ... val_auc ... tn fp fn tp (n images, t s)" on out, flushed; the split's
 * metrics are prefixed val_ for validation (as Keras), else with the split's name (test_loss ...). */
void eval_print_line(FILE *out, const char *split, uint32_t epoch, uint64_t step, double loss, double accuracy,
                     const eval_metrics_t *m, double seconds);

/* The two class names: c->classes "a,b", else the folder names of c->data_dir/<split> when it
 * indexes, else "cats" and "dogs". 0 / -1 + err_msg() for a malformed --classes. */
int eval_class_names(const evaluator_config_t *c, char names[2][128]);

/* Load a checkpoint file into s (model on c->backend in batches of batch, 0: c's or the spec's) and
 * return its info. 0 / -1 + err_msg(). */
int eval_load_checkpoint_file(const evaluator_config_t *c, const char *path, int batch, scorer_t *s,
                              uint32_t *epoch, uint64_t *step, double *loss, double *accuracy);

#endif
