/* cpu.h: CPU time of this thread, of the whole process, and of ZeroMQ's background threads, to tell
 * the augmenter's work from its transport cost whatever else the machine is running. */
#ifndef PAWPIPE_AUG_CPU_H
#define PAWPIPE_AUG_CPU_H

double cpu_thread_ms(void);
double cpu_process_ms(void);
double cpu_zmq_threads_ms(void);   /* threads named "ZMQbg/..." (I/O and reaper); 0 where unknown */

#endif
