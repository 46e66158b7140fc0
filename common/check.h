/* check.h: always-on assertions and error returns that name the failing statement with file:line. */
#ifndef PAWPIPE_CHECK_H
#define PAWPIPE_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Thread-local error buffer, libvips style: a failing call sets a message, each caller up the stack
 * may prepend context, and whoever handles the error reads it once with err_msg(). */
void err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void err_prepend(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *err_msg(void);
void err_clear(void);

#ifdef __cplusplus
}
#endif

/* ASSERT: a broken invariant (a bug). Prints the statement and aborts. Never compiled out. */
#define ASSERT(cond)                                                                       \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: ASSERT failed: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* CHECK: an expected failure (bad input, a failing library call). Records the statement with
 * file:line plus an optional printf-style reason, and returns -1 from the calling function. */
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            err_set("%s:%d: check failed: %s", __FILE__, __LINE__, #cond);                 \
            __VA_OPT__(err_prepend(__VA_ARGS__);)                                          \
            return -1;                                                                     \
        }                                                                                  \
    } while (0)

/* CHECK_GOTO: as CHECK, but jumps to a cleanup label instead of returning (rc must be set there). */
#define CHECK_GOTO(cond, label, ...)                                                       \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            err_set("%s:%d: check failed: %s", __FILE__, __LINE__, #cond);                 \
            __VA_OPT__(err_prepend(__VA_ARGS__);)                                          \
            goto label;                                                                    \
        }                                                                                  \
    } while (0)

/* TRY: call something that follows the 0 / -1 convention; on -1 add the call site and return -1. */
#define TRY(call)                                                                          \
    do {                                                                                   \
        if ((call) != 0) {                                                                 \
            err_prepend("%s:%d: %s", __FILE__, __LINE__, #call);                           \
            return -1;                                                                     \
        }                                                                                  \
    } while (0)

#endif
