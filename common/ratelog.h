/* ratelog.h: count a recurring event (a rejected message, a refused connection) and log it
 * rate-limited: the first RATELOG_FULL in full, then at most one summary line per
 * RATELOG_INTERVAL_S, so a flood of bad traffic is a count in the log, not a flood of log lines.
 * One ratelog_t belongs to one thread. */
#ifndef PAWPIPE_RATELOG_H
#define PAWPIPE_RATELOG_H

#include <stdint.h>

#define RATELOG_FULL 5
#define RATELOG_INTERVAL_S 10.0

typedef struct {
    const char *what;      /* what is counted, e.g. "credits: rejected a message" */
    uint64_t count;        /* every event so far                                  */
    uint64_t reported;     /* count as of the last line written                   */
    double t_line;         /* now_s() of the last line written                    */
} ratelog_t;

/* Count one event; detail says what was wrong with this one (printf-style). Logged at warn level as
 * "WHAT: DETAIL" while count <= RATELOG_FULL, then as "WHAT: N more in the last S s (T in all;
 * latest: DETAIL)" when RATELOG_INTERVAL_S have passed since the last line. */
void ratelog_note(ratelog_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* At the end: one line for the events counted since the last line written, if any. */
void ratelog_flush(ratelog_t *r);

#endif
