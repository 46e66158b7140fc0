/* check.h: always-on assertions (ASSERT: a bug) and error returns (CHECK, TRY: an expected failure). */
#ifndef PAWPIPE_CHECK_H
#define PAWPIPE_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Errors (docs/errors.md): a thread-local message for the user, libvips style. A failing call sets
 * it (err_set) saying what failed and why, each caller up the stack may prepend what it was doing
 * (err_prepend adds the ": " itself), and whoever handles the error reads it once with err_msg().
 * Source locations and expressions never go into the message: CHECK and TRY record them in a trail
 * of their own (err_trail), which a stage logs at --log-level debug only (log_error in log.h). */
void err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));   /* clears the trail */
void err_prepend(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *err_msg(void);
void err_clear(void);
void err_where(const char *file, int line, const char *what);   /* add "file:line: what" to the trail */
const char *err_trail(void);                                     /* "" when there is none */
/* For CHECK: err_set calls so far; and the end of a failed CHECK: the message CHECK_UNEXPLAINED
 * unless one was set since gen, and the trail entry (which names the condition). */
#define CHECK_UNEXPLAINED "internal error: a check failed (--log-level debug shows which)"
unsigned long err_generation(void);
void err_check_failed(unsigned long gen, const char *file, int line, const char *cond);

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

/* CHECK: an expected failure (bad input, a failing library call): when cond is false, set the
 * message (printf-style; without one, CHECK_UNEXPLAINED) and return -1 from the calling function.
 * The condition and file:line go to the trail. */
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            unsigned long err_gen_ = err_generation();                                     \
            __VA_OPT__(err_set(__VA_ARGS__);)                                              \
            err_check_failed(err_gen_, __FILE__, __LINE__, #cond);                         \
            return -1;                                                                     \
        }                                                                                  \
    } while (0)

/* CHECK_GOTO: as CHECK, but jumps to a cleanup label instead of returning (rc must be set there). */
#define CHECK_GOTO(cond, label, ...)                                                       \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            unsigned long err_gen_ = err_generation();                                     \
            __VA_OPT__(err_set(__VA_ARGS__);)                                              \
            err_check_failed(err_gen_, __FILE__, __LINE__, #cond);                         \
            goto label;                                                                    \
        }                                                                                  \
    } while (0)

/* TRY: call something that follows the 0 / -1 convention; on -1 add the call to the trail and
 * return -1 (the message is the callee's). */
#define TRY(call)                                                                          \
    do {                                                                                   \
        if ((call) != 0) {                                                                 \
            err_where(__FILE__, __LINE__, #call);                                          \
            return -1;                                                                     \
        }                                                                                  \
    } while (0)

/* TRY_GOTO: as TRY, but jumps to a cleanup label instead of returning (CHECK_GOTO would replace the
 * callee's message with its own). */
#define TRY_GOTO(call, label)                                                              \
    do {                                                                                   \
        if ((call) != 0) {                                                                 \
            err_where(__FILE__, __LINE__, #call);                                          \
            goto label;                                                                    \
        }                                                                                  \
    } while (0)

#endif
