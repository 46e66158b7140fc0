/* proc.c: stop flag on SIGINT/SIGTERM, parent-death signal for supervised runs, malloc settings, and
 * the CPU time of named threads read from /proc/self/task. */
#include "common/proc.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/check.h"

volatile sig_atomic_t proc_stop = 0;

static void on_signal(int sig) {
    if (proc_stop) _exit(128 + sig);
    proc_stop = sig;
}

int proc_exit_status(void) { return proc_stop ? 128 + proc_stop : 0; }

int proc_setup(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGINT, &sa, NULL) == 0);
    CHECK(sigaction(SIGTERM, &sa, NULL) == 0);
    signal(SIGPIPE, SIG_IGN);
    /* "1", or better the launcher's pid: a parent that died before this process got here has
     * already been replaced by another (init, a subreaper), which only the pid gives away */
    const char *e = getenv("PAWPIPE_DIE_WITH_PARENT");
    long expected = e ? strtol(e, NULL, 10) : 0;
    if (expected >= 1) {
        pid_t parent = expected > 1 ? (pid_t)expected : getppid();
        CHECK(prctl(PR_SET_PDEATHSIG, SIGTERM) == 0, "prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
        if (getppid() != parent) proc_stop = SIGTERM;   /* the parent died before prctl took effect */
    }
    return 0;
}

int proc_keep_heap(void) {
    CHECK(mallopt(M_MMAP_THRESHOLD, 64 << 20) == 1, "mallopt(M_MMAP_THRESHOLD) failed");
    CHECK(mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1, "mallopt(M_TRIM_THRESHOLD) failed");
    return 0;
}

double proc_threads_cpu_ms(const char *comm_prefix) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return 0.0;
    size_t n = strlen(comm_prefix);
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
        if (!ok || strncmp(comm, comm_prefix, n) != 0) continue;
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
