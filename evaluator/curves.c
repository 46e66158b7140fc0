/* curves.c: training and validation accuracy and loss per epoch, two cairo panels in one PNG. */
#include "evaluator/curves.h"

#include <cairo.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "evaluator/plot.h"

static int draw(cairo_t *cr, const history_row_t *rows, int n, double *buf) {
    double *x = buf, *acc = buf + n, *val_acc = buf + 2 * n, *loss = buf + 3 * n, *val_loss = buf + 4 * n;
    for (int i = 0; i < n; i++) {
        x[i] = rows[i].epoch;
        acc[i] = rows[i].accuracy;
        val_acc[i] = rows[i].val.accuracy;
        loss[i] = rows[i].loss;
        val_loss[i] = rows[i].val.loss;
    }
    const double blue[3] = {0.0, 0.0, 1.0};
    plot_series_t s[2] = {
        {.x = x, .y = acc, .n = n, .style = PLOT_DOTS, .label = "Training acc"},
        {.x = x, .y = val_acc, .n = n, .style = PLOT_LINE, .label = "Validation acc"},
    };
    memcpy(s[0].rgb, blue, sizeof blue);
    memcpy(s[1].rgb, blue, sizeof blue);
    plot_axes_t a = {.title = "Training and validation accuracy", .xlabel = "Epochs",
                     .ylabel = "Accuracy", .x_min_step = 1.0};
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    plot_panel(cr, 0, 0, CURVES_WIDTH / 2.0, CURVES_HEIGHT, &a, s, 2);
    s[0].y = loss;
    s[0].label = "Training loss";
    s[1].y = val_loss;
    s[1].label = "Validation loss";
    a.title = "Training and validation loss";
    a.ylabel = "Loss";
    plot_panel(cr, CURVES_WIDTH / 2.0, 0, CURVES_WIDTH / 2.0, CURVES_HEIGHT, &a, s, 2);
    CHECK(cairo_status(cr) == CAIRO_STATUS_SUCCESS, "cairo: %s",
          cairo_status_to_string(cairo_status(cr)));
    return 0;
}

int curves_draw(const history_row_t *rows, int n, const char *png_path) {
    char tmp[1024];
    CHECK(snprintf(tmp, sizeof tmp, "%s.tmp", png_path) < (int)sizeof tmp, "path too long: %s", png_path);
    double *buf = malloc(5 * (size_t)(n > 0 ? n : 1) * sizeof *buf);
    CHECK(buf != NULL, "out of memory");
    int rc = -1;
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, CURVES_WIDTH, CURVES_HEIGHT);
    cairo_t *cr = cairo_create(surf);   /* never NULL: a failure is an error object with a status */
    TRY_GOTO(draw(cr, rows, n, buf), done);
    cairo_status_t st = cairo_surface_write_to_png(surf, tmp);
    CHECK_GOTO(st == CAIRO_STATUS_SUCCESS, done, "writing %s: %s", tmp, cairo_status_to_string(st));
    CHECK_GOTO(rename(tmp, png_path) == 0, done, "rename %s: %s", tmp, strerror(errno));
    rc = 0;
done:
    if (rc != 0) remove(tmp);
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    free(buf);
    return rc;
}

int curves_from_history(const char *history_csv, const char *png_path) {
    history_row_t *rows = NULL;
    int n = 0, cap = 0;
    int rc = history_read(history_csv, &rows, &n, &cap);
    if (rc == 0) rc = curves_draw(rows, history_tidy(rows, n), png_path);
    free(rows);
    return rc;
}
