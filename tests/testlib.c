/* testlib.c: scratch folders, small files, shell commands and child processes for the tests. */
#define _GNU_SOURCE   /* nftw */
#include "testlib.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int tl_tmpdir(char *out, size_t cap, const char *tag) {
    const char *base = getenv("TMPDIR");
    if (!base || !*base || strlen(base) > 60) base = P_tmpdir;
    int n = snprintf(out, cap, "%s/pawpipe-%s-XXXXXX", base, tag);
    if (n < 0 || (size_t)n >= cap) return -1;
    return mkdtemp(out) ? 0 : -1;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int tl_rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

void tl_tmpdir_done(const char *dir) {
    if (!dir || !*dir) return;
    if (getenv("PAWPIPE_KEEP_TEST_FILES")) fprintf(stderr, "kept %s (PAWPIPE_KEEP_TEST_FILES)\n", dir);
    else if (tl_rm_rf(dir) != 0) fprintf(stderr, "could not remove %s: %s\n", dir, strerror(errno));
}

int tl_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = len ? fwrite(data, 1, len, f) : 0;
    return fclose(f) == 0 && n == len ? 0 : -1;
}

int tl_write_text(const char *path, const char *text) { return tl_write_file(path, text, strlen(text)); }

char *tl_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
        if (fread(buf, 1, (size_t)n, f) == (size_t)n && getc(f) == EOF && !ferror(f)) {
            buf[n] = '\0';
            if (len) *len = (size_t)n;
        } else {   /* a read error, or the file changed size meanwhile */
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

int tl_system(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd) {
        fprintf(stderr, "tl_system: the command is over %zu bytes: %.80s...\n", sizeof cmd - 1, cmd);
        return -1;
    }
    int st = system(cmd);
    if (st == -1) return -1;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -1;
}

static double mono_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int tl_wait(pid_t pid, int ms, int *status) {
    double end = mono_ms() + ms;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (status) *status = st;
            return 0;
        }
        if (r < 0 && errno != EINTR) return -1;
        if (mono_ms() >= end) break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    fprintf(stderr, "  process %d did not end within %d ms: killed\n", (int)pid, ms);
    return -1;
}
