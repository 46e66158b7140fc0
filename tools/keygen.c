/* keygen.c: makes CURVE key pairs for the stages (docs/security.md): for each NAME, DIR/NAME.key
 * (the secret key, mode 0600) and DIR/NAME.pub (the public key), each one line of 40 Z85 characters
 * after a comment line that says what the file is. Existing files are kept unless --force. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "common/check.h"
#include "common/cli.h"
#include "common/fsutil.h"

static int write_file(const char *path, mode_t mode, int force, const char *comment, const char *key) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | (force ? 0 : O_EXCL), mode);
    if (fd < 0) {
        fprintf(stderr, "keygen: %s: %s%s\n", path, strerror(errno), errno == EEXIST ? " (--force replaces it)" : "");
        return -1;
    }
    char text[256];
    int n = snprintf(text, sizeof text, "# %s\n%s\n", comment, key);
    int ok = write(fd, text, (size_t)n) == n && fchmod(fd, mode) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok) fprintf(stderr, "keygen: writing %s: %s\n", path, strerror(errno));
    return ok ? 0 : -1;
}

static int valid_name(const char *s) {
    if (!*s || *s == '.') return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("._-", *s)))
            return 0;
    return 1;
}

int main(int argc, char **argv) {
    const char *dir = ".";
    int force = 0, first = 0;
    const cli_opt_t opts[] = {
        {"out", CLI_STR, &dir, NULL, "DIR", "folder for the key files (made when missing)"},
        {"force", CLI_BOOL, &force, NULL, NULL, "replace existing key files"},
    };
    int rc = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), "[--out DIR] [--force] NAME...",
                       "Makes a CURVE key pair for each NAME (e.g. loader trainer augmenter evaluator): DIR/NAME.key "
                       "holds the\nsecret key (mode 0600; give it to that stage only, with --key), DIR/NAME.pub the "
                       "public key (give it\nto the stages that connect to NAME with --loader-key / --trainer-key, "
                       "and put the clients' .pub\nfiles into the --allow folder of the stages they connect to).",
                       &first);
    if (rc == 1) return 0;
    if (rc < 0) return 2;
    if (first == argc) {
        fprintf(stderr, "keygen: no NAME given (see --help)\n");
        return 2;
    }
    for (int i = first; i < argc; i++)
        if (!valid_name(argv[i])) {
            fprintf(stderr, "keygen: '%s': a name is letters, digits, '.', '_' and '-', not starting with '.'\n", argv[i]);
            return 2;
        }
    if (!zmq_has("curve")) {
        fprintf(stderr, "keygen: this libzmq was built without CURVE\n");
        return 1;
    }
    if (mkdir_p(dir) != 0) {
        fprintf(stderr, "keygen: %s\n", err_msg());
        return 1;
    }
    for (int i = first; i < argc; i++) {
        char pub[41], sec[41], path[4096], comment[160];
        if (zmq_curve_keypair(pub, sec) != 0) {
            fprintf(stderr, "keygen: zmq_curve_keypair: %s\n", zmq_strerror(zmq_errno()));
            return 1;
        }
        snprintf(comment, sizeof comment, "pawpipe CURVE secret key of %s (Z85): keep it private", argv[i]);
        snprintf(path, sizeof path, "%s/%s.key", dir, argv[i]);
        if (write_file(path, 0600, force, comment, sec) != 0) return 1;
        snprintf(comment, sizeof comment, "pawpipe CURVE public key of %s (Z85)", argv[i]);
        snprintf(path, sizeof path, "%s/%s.pub", dir, argv[i]);
        if (write_file(path, 0644, force, comment, pub) != 0) return 1;
        printf("%s/%s.key %s/%s.pub\n", dir, argv[i], dir, argv[i]);
    }
    return 0;
}
