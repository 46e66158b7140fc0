/* check.c: the thread-local error buffer behind CHECK, TRY and err_*(). */
#include "common/check.h"

#include <stdarg.h>
#include <string.h>

#define ERR_CAP 2048
static _Thread_local char err_buf[ERR_CAP];

void err_set(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, ERR_CAP, fmt, ap);
    va_end(ap);
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

void err_clear(void) { err_buf[0] = '\0'; }
