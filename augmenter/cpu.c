/* cpu.c: per-thread and per-process CPU clocks, and ZeroMQ's background threads' CPU time read from
 * /proc/self/task (schedstat: nanoseconds on a CPU). */
#include "augmenter/cpu.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double clock_ms(clockid_t id) {
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) return 0.0;
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

double cpu_thread_ms(void) { return clock_ms(CLOCK_THREAD_CPUTIME_ID); }
double cpu_process_ms(void) { return clock_ms(CLOCK_PROCESS_CPUTIME_ID); }

double cpu_zmq_threads_ms(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return 0.0;
    double ms = 0.0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[300], comm[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        int ok = fgets(comm, sizeof comm, f) != NULL;
        fclose(f);
        if (!ok || strncmp(comm, "ZMQbg", 5) != 0) continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
        unsigned long long ns = 0;
        if ((f = fopen(path, "r")) != NULL) {
            if (fscanf(f, "%llu", &ns) == 1) ms += (double)ns * 1e-6;
            fclose(f);
        }
    }
    closedir(d);
    return ms;
}
