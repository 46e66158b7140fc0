/* proc.h: process-level helpers: for the stages' main(), signals that request a clean stop, dying
 * with the parent so a supervisor killed outright leaves no orphans, and keeping large blocks in the
 * heap; for the stages' statistics, the CPU time of named threads. */
#ifndef PAWPIPE_PROC_H
#define PAWPIPE_PROC_H

#include <signal.h>

/* 0, or the signal (SIGINT, SIGTERM) that asked for a stop; a second signal exits at once. */
extern volatile sig_atomic_t proc_stop;

/* The exit status of a stage's main() after its work returned without an error (docs/errors.md):
 * 0 when no signal came (the run ended, or the job is done), else 128 + the signal: 130 after
 * SIGINT (Ctrl-C), 143 after SIGTERM. */
int proc_exit_status(void);

/* Install the handlers, and when PAWPIPE_DIE_WITH_PARENT is 1 or the launcher's pid (which also
 * catches a launcher that died before this process started) ask the kernel for SIGTERM when the
 * parent dies (Linux PR_SET_PDEATHSIG). 0 / -1 + err_msg(). */
int proc_setup(void);

/* ZeroMQ allocates and frees a block for every frame received (jobs and batches of ~0.5-1.5 MB,
 * checkpoints of megabytes): keep blocks under 64 MiB in the heap and the heap untrimmed, so they
 * are reused instead of being mapped and page-faulted afresh each time (page faults are expensive
 * on the machines we run on). For main() only. 0 / -1 + err_msg(). */
int proc_keep_heap(void);

/* CPU time in ms (/proc/self/task/<tid>/schedstat) of this process's threads whose name starts
 * with comm_prefix, e.g. "ZMQbg" for ZeroMQ's I/O and reaper threads; 0 where unknown. */
double proc_threads_cpu_ms(const char *comm_prefix);

#endif
