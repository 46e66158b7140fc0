/* plot.h: a small line-plot module on cairo: nice tick steps, and one panel with a frame, numbered
 * ticks, axis labels, a title, series drawn as lines or dots, and a legend in the emptiest corner. */
#ifndef PAWPIPE_EVAL_PLOT_H
#define PAWPIPE_EVAL_PLOT_H

#include <cairo.h>

/* Ticks at first, first + step, ... <= last, all inside [lo, hi]; labels with `decimals` digits. */
typedef struct {
    double first, step;
    int n;
    int decimals;
} plot_ticks_t;

/* Choose a step of 1, 2, 2.5 or 5 times a power of ten giving at most max_ticks ticks over [lo, hi]
 * (at least min_step, e.g. 1 for epochs). lo == hi is widened around the value. */
void plot_nice_ticks(double lo, double hi, int max_ticks, double min_step, plot_ticks_t *t);

typedef enum { PLOT_LINE = 0, PLOT_DOTS } plot_style_t;

typedef struct {
    const double *x, *y;       /* n points; points with a NAN coordinate are left out (a gap)  */
    int n;
    plot_style_t style;
    double rgb[3];
    const char *label;         /* legend text; NULL: not in the legend                          */
} plot_series_t;

typedef struct {
    const char *title, *xlabel, *ylabel;
    double x_min_step;         /* smallest x tick step (1 for whole epochs; 0: any)             */
} plot_axes_t;

/* Draw a panel filling the rectangle (x, y, w, h) of cr: title on top, the axes box with its ticks
 * and labels, the series clipped to the box, the legend. The axis ranges are the data's plus a 5%
 * margin (matplotlib's default). With no finite point the axes run 0..1. */
void plot_panel(cairo_t *cr, double x, double y, double w, double h, const plot_axes_t *a,
                const plot_series_t *series, int n_series);

#endif
