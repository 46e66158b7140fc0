/* plot.c: tick computation and panel drawing with cairo's toy text API (DejaVu Sans via fontconfig). */
#include "evaluator/plot.h"

#include <math.h>
#include <stdio.h>

#define FONT "sans-serif"
#define TICK_PX 12.0
#define LABEL_PX 13.0
#define TITLE_PX 15.0
#define TICK_LEN 4.0

void plot_nice_ticks(double lo, double hi, int max_ticks, double min_step, plot_ticks_t *t) {
    if (!(hi > lo)) {
        double d = lo == 0.0 ? 1.0 : fabs(lo) * 0.1;
        lo -= d;
        hi += d;
    }
    if (max_ticks < 2) max_ticks = 2;
    static const double mult[] = {1.0, 2.0, 2.5, 5.0, 10.0};
    double mag = pow(10.0, floor(log10((hi - lo) / max_ticks)));
    double step = 10.0 * mag;
    for (int k = 0; k < 5; k++) {
        double s = mult[k] * mag;
        if (s < min_step) continue;
        if (floor(hi / s + 1e-9) - ceil(lo / s - 1e-9) + 1 <= max_ticks) {
            step = s;
            break;
        }
    }
    if (step < min_step) step = min_step;
    double i0 = ceil(lo / step - 1e-9), i1 = floor(hi / step + 1e-9);
    t->step = step;
    t->first = i0 * step;
    t->n = (int)(i1 - i0) + 1;
    t->decimals = 0;
    for (double s = step; t->decimals < 9 && fabs(s - round(s)) > 1e-6 * fmax(1.0, fabs(s)); s *= 10.0)
        t->decimals++;
}

/* Text at (x, y) aligned by ha (0 left, 0.5 centre, 1 right) and va (0 top, 0.5 middle, 1 bottom
 * of the font's ascent..descent box), rotated by angle radians about (x, y). */
static void text(cairo_t *cr, double x, double y, const char *s, double size, double ha, double va,
                 double angle) {
    cairo_text_extents_t te;
    cairo_font_extents_t fe;
    cairo_save(cr);
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, s, &te);
    cairo_font_extents(cr, &fe);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, angle);
    double h = fe.ascent + fe.descent;
    cairo_move_to(cr, -ha * te.x_advance, fe.ascent - va * h);
    cairo_show_text(cr, s);
    cairo_restore(cr);
}

static double text_width(cairo_t *cr, const char *s, double size) {
    cairo_text_extents_t te;
    cairo_save(cr);
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, s, &te);
    cairo_restore(cr);
    return te.x_advance;
}

static double font_height(cairo_t *cr, double size) {
    cairo_font_extents_t fe;
    cairo_save(cr);
    cairo_set_font_size(cr, size);
    cairo_font_extents(cr, &fe);
    cairo_restore(cr);
    return fe.ascent + fe.descent;
}

static void tick_label(char *buf, size_t cap, double v, const plot_ticks_t *t) {
    if (fabs(v) < 1e-9 * t->step) v = 0.0;   /* no "-0.0" */
    snprintf(buf, cap, "%.*f", t->decimals, v);
}

typedef struct {
    double x0, y0, w, h;        /* the axes box in pixels */
    double xlo, xhi, ylo, yhi;  /* the data range it shows */
} frame_t;

static double px(const frame_t *f, double x) { return f->x0 + (x - f->xlo) / (f->xhi - f->xlo) * f->w; }
static double py(const frame_t *f, double y) { return f->y0 + f->h - (y - f->ylo) / (f->yhi - f->ylo) * f->h; }

static void data_range(const plot_series_t *s, int ns, int axis, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i])) continue;
            double v = axis == 0 ? s[k].x[i] : s[k].y[i];
            *lo = fmin(*lo, v);
            *hi = fmax(*hi, v);
        }
    if (!isfinite(*lo)) {
        *lo = 0.0;
        *hi = 1.0;
    }
    if (*hi == *lo) {
        double d = *lo == 0.0 ? 0.5 : fabs(*lo) * 0.05;
        *lo -= d;
        *hi += d;
    }
    double m = 0.05 * (*hi - *lo);
    *lo -= m;
    *hi += m;
}

static void draw_series(cairo_t *cr, const frame_t *f, const plot_series_t *s) {
    cairo_set_source_rgb(cr, s->rgb[0], s->rgb[1], s->rgb[2]);
    for (int i = 0; i < s->n; i++) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i])) continue;
        double x = px(f, s->x[i]), y = py(f, s->y[i]);
        if (s->style == PLOT_DOTS) {
            cairo_new_sub_path(cr);
            cairo_arc(cr, x, y, 3.5, 0.0, 2.0 * M_PI);
            cairo_fill(cr);
            continue;
        }
        int prev = i > 0 && isfinite(s->x[i - 1]) && isfinite(s->y[i - 1]);
        int next = i + 1 < s->n && isfinite(s->x[i + 1]) && isfinite(s->y[i + 1]);
        if (!prev && !next) {   /* an isolated point of a line would not show: mark it */
            cairo_new_sub_path(cr);
            cairo_arc(cr, x, y, 1.5, 0.0, 2.0 * M_PI);
            cairo_fill(cr);
        } else if (prev) {
            cairo_line_to(cr, x, y);
        } else {
            cairo_move_to(cr, x, y);
        }
        if (prev && !next) cairo_stroke(cr);
    }
    cairo_stroke(cr);
}

/* Points of the series inside rectangle (x, y, w, h): how much a legend there would hide. */
static int points_inside(const frame_t *f, const plot_series_t *s, int ns, double x, double y, double w,
                         double h) {
    int count = 0;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i])) continue;
            double a = px(f, s[k].x[i]), b = py(f, s[k].y[i]);
            count += a >= x && a <= x + w && b >= y && b <= y + h;
            if (i + 1 < s[k].n && s[k].style == PLOT_LINE && isfinite(s[k].x[i + 1]) &&
                isfinite(s[k].y[i + 1])) {   /* the middle of each segment too */
                double c = 0.5 * (a + px(f, s[k].x[i + 1])), d = 0.5 * (b + py(f, s[k].y[i + 1]));
                count += c >= x && c <= x + w && d >= y && d <= y + h;
            }
        }
    return count;
}

static void rounded_rect(cairo_t *cr, double x, double y, double w, double h, double r) {
    cairo_new_sub_path(cr);
    cairo_arc(cr, x + w - r, y + r, r, -M_PI / 2, 0);
    cairo_arc(cr, x + w - r, y + h - r, r, 0, M_PI / 2);
    cairo_arc(cr, x + r, y + h - r, r, M_PI / 2, M_PI);
    cairo_arc(cr, x + r, y + r, r, M_PI, 3 * M_PI / 2);
    cairo_close_path(cr);
}

static void draw_legend(cairo_t *cr, const frame_t *f, const plot_series_t *s, int ns) {
    const double pad = 7.0, sample = 26.0, gap = 8.0, row = 19.0, inset = 8.0;
    int rows = 0;
    double tw = 0.0;
    for (int k = 0; k < ns; k++)
        if (s[k].label) {
            rows++;
            tw = fmax(tw, text_width(cr, s[k].label, TICK_PX));
        }
    if (rows == 0) return;
    double w = 2 * pad + sample + gap + tw, h = 2 * pad + rows * row - (row - font_height(cr, TICK_PX));
    /* matplotlib's "best": upper right, upper left, lower left, lower right; fewest points hidden. */
    double cx[4] = {f->x0 + f->w - inset - w, f->x0 + inset, f->x0 + inset, f->x0 + f->w - inset - w};
    double cy[4] = {f->y0 + inset, f->y0 + inset, f->y0 + f->h - inset - h, f->y0 + f->h - inset - h};
    int best = 0, best_count = -1;
    for (int c = 0; c < 4; c++) {
        int n = points_inside(f, s, ns, cx[c], cy[c], w, h);
        if (best_count < 0 || n < best_count) {
            best = c;
            best_count = n;
        }
    }
    double x = cx[best], y = cy[best];
    rounded_rect(cr, x, y, w, h, 3.0);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.8);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
    cairo_set_line_width(cr, 1.0);
    cairo_stroke(cr);
    double fh = font_height(cr, TICK_PX);
    int r = 0;
    for (int k = 0; k < ns; k++) {
        if (!s[k].label) continue;
        double ym = y + pad + r * row + fh / 2;
        cairo_set_source_rgb(cr, s[k].rgb[0], s[k].rgb[1], s[k].rgb[2]);
        if (s[k].style == PLOT_DOTS) {
            cairo_new_sub_path(cr);
            cairo_arc(cr, x + pad + sample / 2, ym, 3.5, 0, 2 * M_PI);
            cairo_fill(cr);
        } else {
            cairo_set_line_width(cr, 1.5);
            cairo_move_to(cr, x + pad, ym);
            cairo_line_to(cr, x + pad + sample, ym);
            cairo_stroke(cr);
        }
        cairo_set_source_rgb(cr, 0, 0, 0);
        text(cr, x + pad + sample + gap, ym, s[k].label, TICK_PX, 0.0, 0.5, 0.0);
        r++;
    }
}

void plot_panel(cairo_t *cr, double x, double y, double w, double h, const plot_axes_t *a,
                const plot_series_t *series, int n_series) {
    cairo_save(cr);
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    frame_t f;
    data_range(series, n_series, 0, &f.xlo, &f.xhi);
    data_range(series, n_series, 1, &f.ylo, &f.yhi);

    /* Margins: title above; y tick labels and the y label on the left; x ticks and label below. */
    double tick_h = font_height(cr, TICK_PX), label_h = font_height(cr, LABEL_PX);
    double top = 12.0 + font_height(cr, TITLE_PX) + 10.0;
    double bottom = TICK_LEN + 4.0 + tick_h + 6.0 + label_h + 10.0;
    double right = 24.0;
    plot_ticks_t yt, xt;
    plot_nice_ticks(f.ylo, f.yhi, (int)fmax(3.0, (h - top - bottom) / 45.0), 0.0, &yt);
    double ylab_w = 0.0;
    char buf[64];
    for (int i = 0; i < yt.n; i++) {
        tick_label(buf, sizeof buf, yt.first + i * yt.step, &yt);
        ylab_w = fmax(ylab_w, text_width(cr, buf, TICK_PX));
    }
    double left = 12.0 + label_h + 8.0 + ylab_w + 4.0 + TICK_LEN;
    f.x0 = round(x + left) + 0.5;
    f.y0 = round(y + top) + 0.5;
    f.w = round(w - left - right);
    f.h = round(h - top - bottom);
    plot_nice_ticks(f.xlo, f.xhi, (int)fmax(3.0, f.w / 70.0), a->x_min_step, &xt);

    /* Series, clipped to the box. */
    cairo_save(cr);
    cairo_rectangle(cr, f.x0, f.y0, f.w, f.h);
    cairo_clip(cr);
    cairo_set_line_width(cr, 1.5);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    for (int k = 0; k < n_series; k++) draw_series(cr, &f, &series[k]);
    cairo_restore(cr);

    /* Frame, ticks and their numbers. */
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1.0);
    cairo_rectangle(cr, f.x0, f.y0, f.w, f.h);
    cairo_stroke(cr);
    for (int i = 0; i < xt.n; i++) {
        double v = xt.first + i * xt.step, p = round(px(&f, v)) + 0.5;
        cairo_move_to(cr, p, f.y0 + f.h);
        cairo_line_to(cr, p, f.y0 + f.h + TICK_LEN);
        cairo_stroke(cr);
        tick_label(buf, sizeof buf, v, &xt);
        text(cr, p, f.y0 + f.h + TICK_LEN + 4.0, buf, TICK_PX, 0.5, 0.0, 0.0);
    }
    for (int i = 0; i < yt.n; i++) {
        double v = yt.first + i * yt.step, p = round(py(&f, v)) + 0.5;
        cairo_move_to(cr, f.x0, p);
        cairo_line_to(cr, f.x0 - TICK_LEN, p);
        cairo_stroke(cr);
        tick_label(buf, sizeof buf, v, &yt);
        text(cr, f.x0 - TICK_LEN - 4.0, p, buf, TICK_PX, 1.0, 0.5, 0.0);
    }

    /* Axis labels and the title. */
    if (a->xlabel) text(cr, f.x0 + f.w / 2, y + h - 10.0, a->xlabel, LABEL_PX, 0.5, 1.0, 0.0);
    if (a->ylabel) text(cr, x + 12.0, f.y0 + f.h / 2, a->ylabel, LABEL_PX, 0.5, 0.0, -M_PI / 2);
    if (a->title) text(cr, f.x0 + f.w / 2, y + 12.0, a->title, TITLE_PX, 0.5, 0.0, 0.0);

    draw_legend(cr, &f, series, n_series);
    cairo_restore(cr);
}
