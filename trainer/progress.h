/* progress.h: Keras-style per-epoch progress of the trainer: a live bar redrawn in place on a
 * terminal, or one plain line per epoch otherwise (logs, pipes, CI). */
#ifndef PAWPIPE_TRAINER_PROGRESS_H
#define PAWPIPE_TRAINER_PROGRESS_H

#include <stdio.h>

typedef struct {
    FILE *out;
    int bar;                 /* 1: live bar, 0: plain line at epoch end                  */
    int epoch, epochs;       /* 1-based epoch shown, total epochs of the run             */
    int total;               /* steps in this epoch; <= 0 when unknown                   */
    double t_start;          /* when the epoch's clock started (now_s)                   */
    double t_drawn;          /* last redraw of the bar                                   */
    int drawn_width;         /* characters of the bar line drawn last                    */
} progress_t;

/* mode: -1 auto (bar when out is a terminal), 0 plain, 1 bar. */
void progress_init(progress_t *p, FILE *out, int mode, int epochs);

/* A new epoch starts (1-based number); total <= 0 when its length is not known yet.
 * t_start is the time its clock started. Prints "Epoch 3/30" in bar mode. */
void progress_begin_epoch(progress_t *p, int epoch, int total, double t_start);

/* Whether progress_step would redraw after `done` steps now (bar mode, the redraw interval passed or
 * the epoch complete): the caller reads the running loss only then. */
int progress_due(const progress_t *p, int done);

/* After each step: done steps of the epoch, running loss and accuracy. Redraws the bar at most
 * every 50 ms in bar mode; prints nothing in plain mode. */
void progress_step(progress_t *p, int done, double loss, double accuracy);

/* The epoch ended after `done` steps: the final bar line or the plain line, e.g.
 * "Epoch 3/30 - 100/100 - 9s - loss: 0.6123 - accuracy: 0.6650 - 98 ms/step". */
void progress_end_epoch(progress_t *p, int done, double loss, double accuracy, double ms_per_step,
                        unsigned skipped);

/* Formats a duration the way Keras does: "9s", "1:02", "1:02:03". */
void progress_format_duration(double seconds, char *buf, size_t cap);

#endif
