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
    if (old[0])
        snprintf(err_buf, ERR_CAP, "%s: %s", head, old);
    else
        snprintf(err_buf, ERR_CAP, "%s", head);
}

const char *err_msg(void) { return err_buf[0] ? err_buf : "unknown error"; }

void err_clear(void) { err_buf[0] = '\0'; }
