/* fsutil.h: file-system helpers shared by the stages (run folders, output folders). */
#ifndef PAWPIPE_FSUTIL_H
#define PAWPIPE_FSUTIL_H

#include <stddef.h>

/* Create dir and its missing parents, mode 0755 (mkdir -p); an existing directory is fine.
 * 0 / -1 + err_msg() (an empty or over-long name, a failing mkdir, a non-directory in the way). */
int mkdir_p(const char *dir);

/* Write all n bytes of data to fd, going on after short writes and EINTR. 0, or -1 with errno set
 * (EIO when write() wrote nothing); no message. */
int fs_write_all(int fd, const void *data, size_t n);

#endif
