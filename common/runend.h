/* runend.h: the run folder's END marker. The trainer writes RUN/END when a run is complete (after its
 * last checkpoint) and removes it when it starts to train in that folder again. Stages that share the
 * folder and have missed the broadcast of the end (started after it, or restarted) find out from the
 * marker that there is nothing left to do. */
#ifndef PAWPIPE_RUNEND_H
#define PAWPIPE_RUNEND_H

#include <stdint.h>

#define RUNEND_FILE "END"
/* A stage that has waited this long since its start without work looks for the marker: long enough
 * for a trainer started at the same time to remove a marker left by an earlier run in that folder. */
#define RUNEND_GRACE_MS 3000
#define RUNEND_CHECK_MS 1000   /* and then this often while it waits */

/* Write dir/END (atomically: a temporary file renamed): "epochs E\nstep S\ncheckpoint NAME\n".
 * 0 / -1 + err_msg(). */
int runend_write(const char *dir, uint32_t epochs, uint64_t step, const char *checkpoint);

/* 1 when dir/END exists, else 0 (dir NULL: 0). */
int runend_exists(const char *dir);

/* Remove dir/END; a missing one is fine. 0 / -1 + err_msg(). */
int runend_clear(const char *dir);

/* For waiting stages: 1 when dir is given, the stage has waited RUNEND_GRACE_MS since started_ms
 * without work, at least RUNEND_CHECK_MS have passed since *last_check_ms (updated), and the marker
 * is there. Times from now_ms(). */
int runend_seen(const char *dir, int64_t started_ms, int64_t *last_check_ms);

#endif
