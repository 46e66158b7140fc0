/* fsutil.c: mkdir -p, writing a whole buffer. */
#include "common/fsutil.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"

int mkdir_p(const char *dir) {
    char tmp[PATH_MAX];
    CHECK(dir && dir[0] && strlen(dir) < sizeof tmp, "bad directory name '%s'", dir ? dir : "(null)");
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        CHECK(mkdir(tmp, 0755) == 0 || errno == EEXIST, "cannot create %s: %s", tmp, strerror(errno));
        *p = saved;
        if (saved == '\0') break;
    }
    struct stat st;
    CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), "%s is not a directory", dir);
    return 0;
}

int fs_write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w == 0) errno = EIO;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}
