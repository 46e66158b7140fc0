/* proc.h: process-level helpers for the stages' main(): signals that request a clean stop, and
 * dying with the parent so a supervisor killed outright leaves no orphans. */
#ifndef PAWPIPE_PROC_H
#define PAWPIPE_PROC_H

#include <signal.h>

/* Set by SIGINT/SIGTERM; a second signal exits at once (status 130). */
extern volatile sig_atomic_t proc_stop;

/* Install the handlers, and when PAWPIPE_DIE_WITH_PARENT=1 ask the kernel for SIGTERM when the
 * parent dies (Linux PR_SET_PDEATHSIG). 0 / -1 + err_msg(). */
int proc_setup(void);

#endif
