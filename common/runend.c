/* runend.c: the run folder's END marker (runend.h). */
#include "common/runend.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "common/timeutil.h"

static int marker_path(const char *dir, const char *suffix, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "%s/%s%s", dir, RUNEND_FILE, suffix);
    CHECK(n > 0 && (size_t)n < cap, "the run folder's name is too long");
    return 0;
}

int runend_write(const char *dir, uint32_t epochs, uint64_t step, const char *checkpoint) {
    char path[4096], tmp[4096];
    TRY(marker_path(dir, "", path, sizeof path));
    TRY(marker_path(dir, ".tmp", tmp, sizeof tmp));
    FILE *f = fopen(tmp, "w");
    CHECK(f, "cannot write %s: %s", tmp, strerror(errno));
    int ok = fprintf(f, "epochs %" PRIu32 "\nstep %" PRIu64 "\ncheckpoint %s\n", epochs, step,
                     checkpoint ? checkpoint : "none") > 0;
    ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) {
        err_set("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int runend_exists(const char *dir) {
    char path[4096];
    return dir && marker_path(dir, "", path, sizeof path) == 0 && access(path, F_OK) == 0;
}

int runend_clear(const char *dir) {
    char path[4096];
    TRY(marker_path(dir, "", path, sizeof path));
    CHECK(unlink(path) == 0 || errno == ENOENT, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int runend_seen(const char *dir, int64_t started_ms, int64_t *last_check_ms) {
    int64_t now = now_ms();
    if (!dir || now - started_ms < RUNEND_GRACE_MS || now - *last_check_ms < RUNEND_CHECK_MS) return 0;
    *last_check_ms = now;
    return runend_exists(dir);
}
