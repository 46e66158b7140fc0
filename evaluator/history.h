/* history.h: run_dir/history.csv, one row per scored checkpoint, with Keras' CSVLogger column names. */
#ifndef PAWPIPE_EVAL_HISTORY_H
#define PAWPIPE_EVAL_HISTORY_H

#include <stdint.h>

#include "evaluator/evaluator.h"

#define HISTORY_HEADER \
    "epoch,step,loss,accuracy,val_loss,val_accuracy,val_precision,val_recall,val_auc,tn,fp,fn,tp"

typedef struct {
    uint32_t epoch;            /* epochs completed when the checkpoint was taken                */
    uint64_t step;
    double loss, accuracy;     /* training metrics carried by the checkpoint (NAN when absent)  */
    eval_metrics_t val;        /* val.n is not stored                                           */
} history_row_t;

/* Append one row to path, writing the header first when the file is new or empty. The row is one
 * write() on an O_APPEND descriptor, flushed to disk before returning. 0 / -1 + err_msg(). */
int history_append(const char *path, const history_row_t *r);

/* Read every row of path into *rows (grown with realloc; *cap its capacity), *n rows. Columns are
 * found by name in the header, so extra or reordered columns are fine; epoch, loss, accuracy,
 * val_loss and val_accuracy must be there. 0 / -1 + err_msg() naming the line. */
int history_read(const char *path, history_row_t **rows, int *n, int *cap);

/* The rows a plot shows, one per epoch, sorted by epoch: the epoch-end checkpoint, i.e. the row with
 * the smallest step for that epoch (checkpoints taken during the next epoch carry the same epoch
 * count and a larger step); among rows at the same step (a trainer resumed from an earlier
 * checkpoint, an evaluator restarted) the last one wins. Returns the new n. */
int history_tidy(history_row_t *rows, int n);

#endif
