/* fsutil.h: file-system helpers shared by the stages (run folders, output folders). */
#ifndef PAWPIPE_FSUTIL_H
#define PAWPIPE_FSUTIL_H

/* Create dir and its missing parents, mode 0755 (mkdir -p); an existing directory is fine.
 * 0 / -1 + err_msg() (an empty or over-long name, a failing mkdir, a non-directory in the way). */
int mkdir_p(const char *dir);

#endif
