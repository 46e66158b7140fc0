/* history.c: appending to and reading back history.csv. */
#include "evaluator/history.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"

int history_append(const char *path, const history_row_t *r) {
    char line[1024];
    int n = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    CHECK(fd >= 0, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    CHECK_GOTO(fstat(fd, &st) == 0, fail, "stat %s: %s", path, strerror(errno));
    if (st.st_size == 0) n = snprintf(line, sizeof line, "%s\n", HISTORY_HEADER);
    const eval_metrics_t *v = &r->val;
    n += snprintf(line + n, sizeof line - (size_t)n,
                  "%u,%llu,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%lld,%lld,%lld,%lld\n", r->epoch,
                  (unsigned long long)r->step, r->loss, r->accuracy, v->loss, v->accuracy, v->precision,
                  v->recall, v->auc, (long long)v->tn, (long long)v->fp, (long long)v->fn,
                  (long long)v->tp);
    CHECK_GOTO(n > 0 && n < (int)sizeof line, fail);
    CHECK_GOTO(write(fd, line, (size_t)n) == (ssize_t)n, fail, "write %s: %s", path, strerror(errno));
    CHECK_GOTO(fsync(fd) == 0, fail, "fsync %s: %s", path, strerror(errno));
    CHECK(close(fd) == 0, "close %s: %s", path, strerror(errno));
    return 0;
fail:
    close(fd);
    return -1;
}

enum { C_EPOCH, C_STEP, C_LOSS, C_ACC, C_VLOSS, C_VACC, C_VPREC, C_VREC, C_VAUC, C_TN, C_FP, C_FN, C_TP, C_N };
static const char *col_names[C_N] = {"epoch", "step", "loss", "accuracy", "val_loss", "val_accuracy",
                                     "val_precision", "val_recall", "val_auc", "tn", "fp", "fn", "tp"};

/* Split line (modified in place) at commas; returns the field count (at most cap). */
static int split_fields(char *line, char **fields, int cap) {
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line; n < cap;) {
        fields[n++] = p;
        char *comma = strchr(p, ',');
        if (!comma) break;
        *comma = '\0';
        p = comma + 1;
    }
    return n;
}

static int parse_number(const char *s, double *out) {
    char *end = NULL;
    if (*s == '\0') {
        *out = NAN;
        return 0;
    }
    *out = strtod(s, &end);
    return end != s && *end == '\0' ? 0 : -1;
}

int history_read(const char *path, history_row_t **rows, int *n, int *cap) {
    *n = 0;
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s: %s", path, strerror(errno));
    char line[2048];
    char *fields[64];
    int col[C_N];
    int rc = -1, lineno = 1;
    CHECK_GOTO(fgets(line, sizeof line, f) != NULL, done, "%s is empty", path);
    int nf = split_fields(line, fields, 64);
    for (int c = 0; c < C_N; c++) {
        col[c] = -1;
        for (int i = 0; i < nf; i++)
            if (strcmp(fields[i], col_names[c]) == 0) col[c] = i;
    }
    CHECK_GOTO(col[C_EPOCH] >= 0 && col[C_LOSS] >= 0 && col[C_ACC] >= 0 && col[C_VLOSS] >= 0 &&
                   col[C_VACC] >= 0,
               done, "%s:1: the header lacks epoch, loss, accuracy, val_loss or val_accuracy", path);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '\n' || line[0] == '\0') continue;
        nf = split_fields(line, fields, 64);
        double v[C_N];
        for (int c = 0; c < C_N; c++) {
            v[c] = NAN;
            if (col[c] < 0) continue;
            CHECK_GOTO(col[c] < nf && parse_number(fields[col[c]], &v[c]) == 0, done,
                       "%s:%d: column %s is not a number", path, lineno, col_names[c]);
        }
        CHECK_GOTO(v[C_EPOCH] >= 0, done, "%s:%d: bad epoch", path, lineno);
        if (*n == *cap) {
            int nc = *cap ? 2 * *cap : 64;
            history_row_t *r = realloc(*rows, (size_t)nc * sizeof *r);
            CHECK_GOTO(r != NULL, done, "out of memory");
            *rows = r;
            *cap = nc;
        }
        history_row_t *r = &(*rows)[(*n)++];
        memset(r, 0, sizeof *r);
        r->epoch = (uint32_t)v[C_EPOCH];
        r->step = isnan(v[C_STEP]) ? 0 : (uint64_t)v[C_STEP];
        r->loss = v[C_LOSS];
        r->accuracy = v[C_ACC];
        r->val.loss = v[C_VLOSS];
        r->val.accuracy = v[C_VACC];
        r->val.precision = v[C_VPREC];
        r->val.recall = v[C_VREC];
        r->val.auc = v[C_VAUC];
        r->val.tn = isnan(v[C_TN]) ? 0 : (int64_t)v[C_TN];
        r->val.fp = isnan(v[C_FP]) ? 0 : (int64_t)v[C_FP];
        r->val.fn = isnan(v[C_FN]) ? 0 : (int64_t)v[C_FN];
        r->val.tp = isnan(v[C_TP]) ? 0 : (int64_t)v[C_TP];
        r->val.n = r->val.tn + r->val.fp + r->val.fn + r->val.tp;
    }
    CHECK_GOTO(!ferror(f), done, "read %s: %s", path, strerror(errno));
    rc = 0;
done:
    fclose(f);
    return rc;
}

static int by_epoch(const void *a, const void *b) {
    const history_row_t *x = a, *y = b;
    return (x->epoch > y->epoch) - (x->epoch < y->epoch);
}

int history_tidy(history_row_t *rows, int n) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < m && rows[j].epoch != rows[i].epoch) j++;
        if (j == m || rows[i].step <= rows[j].step) rows[j] = rows[i];
        if (j == m) m++;
    }
    qsort(rows, (size_t)m, sizeof *rows, by_epoch);
    return m;
}
