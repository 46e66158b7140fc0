/* testlib.h: what the test programs share beside the harness (tests/test.h): scratch folders, small
 * files, shell commands and waiting for a child process. libc only. Unless said otherwise a function
 * returns 0 / -1 and prints nothing. */
#ifndef PAWPIPE_TESTLIB_H
#define PAWPIPE_TESTLIB_H

#include <stddef.h>
#include <sys/types.h>

/* A fresh folder BASE/pawpipe-TAG-XXXXXX, its name in out. BASE is $TMPDIR when that is set and at
 * most 60 bytes long (so that ipc:// endpoints under the folder stay within a socket path's 107
 * bytes), else P_tmpdir. -1 when the name does not fit in cap or mkdtemp fails. */
int tl_tmpdir(char *out, size_t cap, const char *tag);

/* Remove path and everything under it, like rm -rf but without a shell; symbolic links are removed,
 * not followed. A path that does not exist is fine. */
int tl_rm_rf(const char *path);

/* The end of a scratch folder from tl_tmpdir: removed, or kept and named on stderr when
 * PAWPIPE_KEEP_TEST_FILES is set (to look at what a test wrote). */
void tl_tmpdir_done(const char *dir);

/* path created or truncated, holding exactly the len bytes of data / the text. */
int tl_write_file(const char *path, const void *data, size_t len);
int tl_write_text(const char *path, const char *text);

/* The whole file in a malloc'd buffer with a NUL after its bytes (so a text file is a string), its
 * size in *len when len is not NULL. NULL when it cannot be opened or read. */
char *tl_read_file(const char *path, size_t *len);

/* sh -c of the command printf would format: its exit status, 128 + the signal that killed it, or -1
 * when it could not be run or was longer than 8 KiB (said on stderr). */
int tl_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Wait at most ms for the child pid to end: 0, with its waitpid status in *status when status is not
 * NULL. When it overstays it is killed (SIGKILL) and reaped, stderr says so, and the result is -1, as
 * when waitpid fails. */
int tl_wait(pid_t pid, int ms, int *status);

#endif
