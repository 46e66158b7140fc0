/* curves.h: the learning curves (run_dir/curves.png) drawn from history.csv, as the tutorial plots them. */
#ifndef PAWPIPE_EVAL_CURVES_H
#define PAWPIPE_EVAL_CURVES_H

#include "evaluator/history.h"

#define CURVES_WIDTH 1280
#define CURVES_HEIGHT 480

/* Two panels side by side, "Training and validation accuracy" and "Training and validation loss":
 * training as blue dots ('bo'), validation as a blue line ('b'), against epochs. rows as tidied by
 * history_tidy. Written to png_path via png_path.tmp + rename. 0 / -1 + err_msg(). */
int curves_draw(const history_row_t *rows, int n, const char *png_path);

/* Read history_csv, tidy it, draw png_path. 0 / -1 + err_msg(). */
int curves_from_history(const char *history_csv, const char *png_path);

#endif
