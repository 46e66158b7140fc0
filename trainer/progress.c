/* progress.c: the Keras-style progress bar and per-epoch lines of the trainer. */
#include "trainer/progress.h"

#include <string.h>
#include <unistd.h>

#include "common/timeutil.h"

#define BAR_WIDTH 30
#define REDRAW_S 0.05

void progress_init(progress_t *p, FILE *out, int mode, int epochs) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->bar = mode < 0 ? isatty(fileno(out)) : mode > 0;
    p->epochs = epochs;
}

void progress_format_duration(double seconds, char *buf, size_t cap) {
    long s = (long)(seconds + 0.5);
    if (s < 0) s = 0;
    if (s < 60)
        snprintf(buf, cap, "%lds", s);
    else if (s < 3600)
        snprintf(buf, cap, "%ld:%02ld", s / 60, s % 60);
    else
        snprintf(buf, cap, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
}

void progress_begin_epoch(progress_t *p, int epoch, int total, double t_start) {
    p->epoch = epoch;
    p->total = total;
    p->t_start = t_start;
    p->t_drawn = 0;
    p->drawn_width = 0;
    if (p->bar) {
        fprintf(p->out, "Epoch %d/%d\n", epoch, p->epochs);
        fflush(p->out);
    }
}

/* "  45/100 [=========>....................]" or "  45/Unknown" into buf; returns its length. */
static int format_counter(const progress_t *p, int done, char *buf, size_t cap) {
    if (p->total <= 0) return snprintf(buf, cap, "%d/Unknown", done);
    char num[16];
    int digits = snprintf(num, sizeof num, "%d", p->total);
    int n = snprintf(buf, cap, "%*d/%d [", digits, done, p->total);
    int filled = (int)((long)BAR_WIDTH * done / p->total);
    if (filled > BAR_WIDTH) filled = BAR_WIDTH;
    for (int i = 0; i < BAR_WIDTH && n < (int)cap - 2; i++)
        buf[n++] = i < filled - (done < p->total) ? '=' : (i == filled - 1 && done < p->total) ? '>' : '.';
    buf[n++] = ']';
    buf[n] = '\0';
    return n;
}

/* Writes line over the previous bar line, padding with spaces where the old one was longer. */
static void redraw(progress_t *p, const char *line, int len) {
    int pad = p->drawn_width > len ? p->drawn_width - len : 0;
    fprintf(p->out, "\r%s%*s", line, pad, "");
    p->drawn_width = len;
    fflush(p->out);
}

int progress_due(const progress_t *p, int done) {
    return p->bar && (now_s() - p->t_drawn >= REDRAW_S || (p->total > 0 && done >= p->total));
}

void progress_step(progress_t *p, int done, double loss, double accuracy) {
    if (!progress_due(p, done)) return;
    double now = now_s();
    p->t_drawn = now;
    char line[256], eta[32];
    int n = format_counter(p, done, line, sizeof line);
    double elapsed = now - p->t_start;
    if (p->total > 0 && done > 0) {
        progress_format_duration(elapsed / done * (p->total - done), eta, sizeof eta);
        n += snprintf(line + n, sizeof line - (size_t)n, " - ETA: %s", eta);
    } else {
        progress_format_duration(elapsed, eta, sizeof eta);
        n += snprintf(line + n, sizeof line - (size_t)n, " - %s", eta);
    }
    n += snprintf(line + n, sizeof line - (size_t)n, " - loss: %.4f - accuracy: %.4f", loss, accuracy);
    redraw(p, line, n);
}

void progress_end_epoch(progress_t *p, int done, double loss, double accuracy, double ms_per_step,
                        unsigned skipped) {
    char took[32], line[320];
    progress_format_duration(now_s() - p->t_start, took, sizeof took);
    if (p->total <= 0) p->total = done;
    int n;
    if (p->bar) {
        n = format_counter(p, done, line, sizeof line);
        n += snprintf(line + n, sizeof line - (size_t)n, " - %s %.0fms/step - loss: %.4f - accuracy: %.4f",
                      took, ms_per_step, loss, accuracy);
    } else {
        n = snprintf(line, sizeof line, "Epoch %d/%d - %d/%d - %s - loss: %.4f - accuracy: %.4f - %.0f ms/step",
                     p->epoch, p->epochs, done, p->total, took, loss, accuracy, ms_per_step);
    }
    if (skipped) n += snprintf(line + n, sizeof line - (size_t)n, " - skipped: %u files", skipped);
    if (n >= (int)sizeof line) n = (int)sizeof line - 1;
    if (p->bar)
        redraw(p, line, n);
    else
        fputs(line, p->out);
    fputc('\n', p->out);
    fflush(p->out);
    p->drawn_width = 0;
}
