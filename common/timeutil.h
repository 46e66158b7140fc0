/* timeutil.h: monotonic clock readings, CPU clocks and sleeps, in the units the pipeline uses. */
#ifndef PAWPIPE_TIMEUTIL_H
#define PAWPIPE_TIMEUTIL_H

#include <stdint.h>

double now_s(void);        /* seconds on CLOCK_MONOTONIC */
int64_t now_ms(void);      /* milliseconds on CLOCK_MONOTONIC */
void sleep_ms(int ms);

double cpu_thread_ms(void);    /* CPU time of the calling thread, ms; 0 where unknown */
double cpu_process_ms(void);   /* CPU time of the whole process, ms; 0 where unknown */

#endif
