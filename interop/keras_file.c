/* keras_file.c: model files of any kind in, Keras files out. Keras files come from elsewhere (a
 * notebook, a download), and libhdf5 is not hardened against malformed files: they are read in a
 * child process that sends the spec and weights back through a pipe, so that a crash or a hang in
 * the library becomes an error message here, not the end of the trainer or the evaluator. */
#define _GNU_SOURCE   /* pipe2 */
#include "interop/keras.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "common/fsutil.h"
#include "common/timeutil.h"
#include "interop/keras_internal.h"

#define LOAD_TIMEOUT_MS 120000   /* a 27 MB model loads in well under a second */

model_file_kind_t model_file_kind(const char *path) {
    static const unsigned char hdf5[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char head[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return MODEL_FILE_CHECKPOINT;
    size_t n = fread(head, 1, sizeof head, f);
    model_file_kind_t kind = MODEL_FILE_CHECKPOINT;
    if (n >= 4 && !memcmp(head, "PK\003\004", 4)) kind = MODEL_FILE_KERAS_ZIP;
    /* the signature is at 0, or after a user block of 512, 1024, 2048, ... bytes */
    for (long off = 0; kind == MODEL_FILE_CHECKPOINT && off <= (1L << 20); off = off ? off * 2 : 512) {
        if (fseek(f, off, SEEK_SET) != 0 || fread(head, 1, 8, f) != 8) break;
        if (!memcmp(head, hdf5, 8)) kind = MODEL_FILE_KERAS_H5;
    }
    fclose(f);
    return kind;
}

/* --- the child's side ----------------------------------------------------------------------------- */

/* The reply: u32 status, then (status 0) u64 spec bytes, the spec, u64 parameter count, the floats;
 * or (status 1) u64 message bytes, the message. */
static void child(int fd, const char *path, model_file_kind_t kind) {
    nn_model_t m = {0};
    float *params = NULL;
    int rc = kind == MODEL_FILE_KERAS_H5 ? keras_h5_load(path, &m, &params) : keras_zip_load(path, &m, &params);
    uint32_t status = rc == 0 ? 0 : 1;
    int bad = fs_write_all(fd, &status, sizeof status);
    if (rc == 0) {
        uint64_t len = strlen(m.spec_text), count = m.n_params;
        bad = bad || fs_write_all(fd, &len, sizeof len) || fs_write_all(fd, m.spec_text, len) ||
              fs_write_all(fd, &count, sizeof count) || fs_write_all(fd, params, count * sizeof(float));
    } else {
        const char *msg = err_msg();
        uint64_t len = strlen(msg);
        bad = bad || fs_write_all(fd, &len, sizeof len) || fs_write_all(fd, msg, len);
    }
    _exit(bad ? 3 : 0);   /* no atexit handlers, no stdio flush: they belong to the parent */
}

/* --- the parent's side ---------------------------------------------------------------------------- */

typedef struct {
    int fd;
    int64_t deadline_ms;
} reader_t;

/* Read exactly len bytes before the deadline: 0, -1 (end of data or an error), -2 (time is up). */
static int read_all(reader_t *r, void *buf, size_t len) {
    char *p = buf;
    while (len > 0) {
        int64_t left = r->deadline_ms - now_ms();
        if (left <= 0) return -2;
        struct pollfd pfd = {r->fd, POLLIN, 0};
        int k = poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
        if (k < 0 && errno != EINTR) return -1;
        if (k <= 0) continue;
        ssize_t n = read(r->fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n, len -= (size_t)n;
    }
    return 0;
}

/* Read the child's reply into m and *params: 0; -1 + err_msg() (the child's refusal, or a reply that
 * makes no sense); -2 when time ran out; -3 when the reply stopped short (the child died). */
static int read_reply(reader_t *r, const char *path, nn_model_t *m, float **params) {
    uint32_t status;
    uint64_t len;
    int k = read_all(r, &status, sizeof status);
    if (k == 0) k = read_all(r, &len, sizeof len);
    if (k) return k == -2 ? -2 : -3;
    CHECK(len <= (64u << 20), "%s: the reader announced a reply of %llu bytes, more than a model spec", path,
          (unsigned long long)len);
    char *text = malloc(len + 1);
    CHECK(text != NULL, "out of memory");
    if ((k = read_all(r, text, len)) != 0) {
        free(text);
        return k == -2 ? -2 : -3;
    }
    text[len] = '\0';
    if (status != 0) {
        err_set("%s", text);
        free(text);
        return -1;
    }
    char label[512];
    keras_spec_label(path, label, sizeof label);
    int rc = nn_model_parse(text, label, m);
    free(text);
    TRY(rc);
    uint64_t count = 0;
    *params = malloc(m->n_params * sizeof(float));
    if (!*params) rc = -1, err_set("out of memory");
    else if ((k = read_all(r, &count, sizeof count)) == 0 && count != m->n_params)
        rc = -1, err_set("%s: the reader sent %llu parameters where the model has %zu", path, (unsigned long long)count,
                         m->n_params);
    else if (k == 0)
        k = read_all(r, *params, count * sizeof(float));
    if (k) rc = k == -2 ? -2 : -3;
    if (rc) {
        nn_model_free(m);
        free(*params);
        *params = NULL;
    }
    return rc;
}

static int load_keras(const char *path, model_file_kind_t kind, nn_model_t *m, float **params) {
    int fds[2];
    CHECK(pipe2(fds, O_CLOEXEC) == 0, "%s: cannot start the process that reads it: %s", path, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        err_set("%s: cannot start the process that reads it: %s", path, strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        child(fds[1], path, kind);
    }
    close(fds[1]);
    reader_t r = {fds[0], now_ms() + LOAD_TIMEOUT_MS};
    int rc = read_reply(&r, path, m, params);
    close(fds[0]);
    if (rc == -2) kill(pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (rc == 0 && st != 0) {   /* an answer, then a crash on the way out: do not trust the answer */
        nn_model_free(m);
        free(*params);
        *params = NULL;
        rc = -3;
    }
    if (rc == -2) err_set("%s: reading it took over %d s: given up (a malformed file?)", path, LOAD_TIMEOUT_MS / 1000);
    else if (rc == -3 && WIFSIGNALED(st))
        err_set("%s: the HDF5 reader crashed on it (signal %d): a malformed file", path, WTERMSIG(st));
    else if (rc == -3)
        err_set("%s: the HDF5 reader failed on it (exit status %d): a malformed file", path, WEXITSTATUS(st));
    return rc == 0 ? 0 : -1;
}

int model_file_load(const char *path, nn_model_t *m, nn_ckpt_info_t *info, float **params, float **rms) {
    model_file_kind_t kind = model_file_kind(path);
    if (kind == MODEL_FILE_CHECKPOINT) return nn_ckpt_load(path, m, info, params, rms);
    memset(m, 0, sizeof *m);
    TRY(load_keras(path, kind, m, params));
    if (info) memset(info, 0, sizeof *info);
    if (rms) {
        *rms = calloc(m->n_params ? m->n_params : 1, sizeof(float));
        if (!*rms) {
            nn_model_free(m);
            free(*params);
            *params = NULL;
            err_set("out of memory");
            return -1;
        }
    }
    return 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

int keras_export(const char *path, const nn_model_t *m, const nn_ckpt_info_t *info, const float *params,
                 const float *rms) {
    if (ends_with(path, ".h5") || ends_with(path, ".hdf5")) return keras_h5_save(path, m, info, params, rms);
    if (ends_with(path, ".keras")) return keras_zip_save(path, m, info, params, rms);
    err_set("%s: a Keras file's name ends in .h5 (legacy HDF5) or .keras", path);
    return -1;
}
