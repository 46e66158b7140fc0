/* check.c: the thread-local error message and trail behind CHECK, TRY and err_*() (see check.h). */
#include "common/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERR_CAP 2048
static _Thread_local char err_buf[ERR_CAP];
static _Thread_local char err_trail_buf[ERR_CAP];
static _Thread_local unsigned long err_gen;

void err_set(const char *fmt, ...) {
    char text[ERR_CAP];   /* the arguments may point into err_buf (err_set("...: %s", err_msg())) */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, ERR_CAP, fmt, ap);
    va_end(ap);
    memcpy(err_buf, text, ERR_CAP);
    err_trail_buf[0] = '\0';
    err_gen++;
}

void err_prepend(const char *fmt, ...) {
    char head[ERR_CAP], old[ERR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, ERR_CAP, fmt, ap);
    va_end(ap);
    memcpy(old, err_buf, ERR_CAP);
    size_t n = strnlen(head, ERR_CAP - 1);
    memcpy(err_buf, head, n);
    err_buf[n] = '\0';
    if (old[0] && n + 2 < ERR_CAP) {
        memcpy(err_buf + n, ": ", 2);
        size_t m = strnlen(old, ERR_CAP - n - 3);
        memcpy(err_buf + n + 2, old, m);
        err_buf[n + 2 + m] = '\0';
    }
}

const char *err_msg(void) { return err_buf[0] ? err_buf : "unknown error"; }

void err_clear(void) { err_buf[0] = err_trail_buf[0] = '\0'; }

void err_where(const char *file, int line, const char *what) {
    const char *slash = strrchr(file, '/');   /* the project-relative part: "dir/file.c" */
    if (slash && slash > file) {
        const char *p = slash - 1;
        while (p > file && p[-1] != '/') p--;
        file = p;
    }
    size_t n = strlen(err_trail_buf);
    if (n + 8 < ERR_CAP)
        snprintf(err_trail_buf + n, ERR_CAP - n, "%s%s:%d: %s", n ? " <- " : "", file, line, what);
}

const char *err_trail(void) { return err_trail_buf; }

unsigned long err_generation(void) { return err_gen; }

void err_check_failed(unsigned long gen, const char *file, int line, const char *cond) {
    if (gen == err_gen) err_set("%s", CHECK_UNEXPLAINED);
    char what[256];
    snprintf(what, sizeof what, "check failed: %s", cond);
    err_where(file, line, what);
}
