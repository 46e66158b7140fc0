/* dataset.c: indexing DIR/split/<class>/... like Keras flow_from_directory, and reading files whole. */
#include "image/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/check.h"
#include "common/rng.h"

static int is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0 || strcasecmp(dot, ".png") == 0);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Python's sorted() over os.walk roots, then over the file names of each root: compare the folder
 * part first, then the name. */
static int cmp_walk_order(const void *pa, const void *pb) {
    const char *a = *(char *const *)pa, *b = *(char *const *)pb;
    const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
    size_t da = sa ? (size_t)(sa - a) : 0, db = sb ? (size_t)(sb - b) : 0;
    int c = strncmp(a, b, da < db ? da : db);
    if (c == 0 && da != db) c = da < db ? -1 : 1;
    if (c != 0) return c;
    return strcmp(sa ? sa + 1 : a, sb ? sb + 1 : b);
}

typedef struct {
    char **v;
    size_t n, cap;
} strvec_t;

static int strvec_push(strvec_t *s, const char *str) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **v = realloc(s->v, cap * sizeof *v);
        CHECK(v != NULL, "out of memory listing files");
        s->v = v;
        s->cap = cap;
    }
    CHECK((s->v[s->n] = strdup(str)) != NULL, "out of memory listing files");
    s->n++;
    return 0;
}

static void strvec_free(strvec_t *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* out = a/b; -1 with err_msg() when it does not fit. */
static int path_join(char *out, size_t cap, const char *a, const char *b) {
    int n = snprintf(out, cap, "%s/%s", a, b);
    CHECK(n >= 0 && (size_t)n < cap, "path too long: %s/%s", a, b);
    return 0;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Every image file under root/sub (recursively, hidden entries skipped), as paths relative to root. */
static int walk(const char *root, const char *sub, strvec_t *out, int64_t *ignored, int depth) {
    char path[4096];
    TRY(path_join(path, sizeof path, root, sub));
    CHECK(depth < 16, "folders nested too deep at %s", path);
    DIR *d = opendir(path);
    CHECK(d != NULL, "cannot open folder %s: %s", path, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char rel[4096], full[4096];
        if (path_join(rel, sizeof rel, sub, e->d_name) != 0 || path_join(full, sizeof full, root, rel) != 0) {
            rc = -1;
            break;
        }
        if (is_dir(full)) rc = walk(root, rel, out, ignored, depth + 1);
        else if (is_image_name(e->d_name)) rc = strvec_push(out, rel);
        else if (ignored) (*ignored)++;
    }
    closedir(d);
    return rc;
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

static int add_file(ds_split_t *s, const char *dir, const char *rel, int label) {
    ds_file_t *f = &s->files[s->n_files];
    size_t dl = strlen(dir), rl = strlen(rel);
    CHECK((f->path = malloc(dl + 1 + rl + 1)) != NULL, "out of memory indexing files");
    memcpy(f->path, dir, dl);
    f->path[dl] = '/';
    memcpy(f->path + dl + 1, rel, rl + 1);
    f->rel = f->path + dl + 1;
    f->label = label;
    s->n_files++;
    struct stat st;
    CHECK(stat(f->path, &st) == 0, "cannot stat %s: %s", f->path, strerror(errno));
    f->size = (int64_t)st.st_size;
    int64_t mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    f->key = rng_derive3(fnv1a(f->rel), (uint64_t)f->size, (uint64_t)mtime_ns);
    return 0;
}

int ds_index(const char *dir, const char *split, int min_classes, ds_split_t *out, int64_t *ignored) {
    memset(out, 0, sizeof *out);
    if (ignored) *ignored = 0;
    snprintf(out->split, sizeof out->split, "%s", split ? split : "");
    char top[4096];
    if (split && split[0]) TRY(path_join(top, sizeof top, dir, split));
    else snprintf(top, sizeof top, "%s", dir);
    CHECK(is_dir(top), "data set folder %s does not exist", top);

    /* Classes: the sorted sub-folders. */
    strvec_t classes = {0}, files = {0};
    int rc = -1;
    DIR *d = opendir(top);
    CHECK_GOTO(d != NULL, done, "cannot open %s: %s", top, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char p[4096];
        if (e->d_name[0] == '.') continue;
        if (path_join(p, sizeof p, top, e->d_name) != 0 || (is_dir(p) && strvec_push(&classes, e->d_name) != 0)) {
            closedir(d);
            goto done;
        }
    }
    closedir(d);
    CHECK_GOTO(classes.n > 0, done, "no class folders in %s", top);
    CHECK_GOTO((int)classes.n >= min_classes, done, "%zu class folder(s) in %s, need at least %d", classes.n,
               top, min_classes);
    CHECK_GOTO(classes.n <= DS_MAX_CLASSES, done, "%zu class folders in %s, at most %d supported", classes.n, top,
               DS_MAX_CLASSES);
    qsort(classes.v, classes.n, sizeof *classes.v, cmp_str);
    out->n_classes = (int)classes.n;

    /* Files of each class, in os.walk order, paths relative to dir. */
    size_t first[DS_MAX_CLASSES + 1];
    for (size_t k = 0; k < classes.n; k++) {
        CHECK_GOTO(strlen(classes.v[k]) < sizeof out->classes[k], done, "class name too long: %s", classes.v[k]);
        snprintf(out->classes[k], sizeof out->classes[k], "%s", classes.v[k]);
        char sub[4096];
        if (split && split[0]) {
            if (path_join(sub, sizeof sub, split, classes.v[k]) != 0) goto done;
        } else snprintf(sub, sizeof sub, "%s", classes.v[k]);
        first[k] = files.n;
        if (walk(dir, sub, &files, ignored, 0) != 0) goto done;
        if (files.n > first[k])   /* files.v is still NULL while no file is found: no pointer sums on it */
            qsort(files.v + first[k], files.n - first[k], sizeof *files.v, cmp_walk_order);
        out->class_count[k] = (int64_t)(files.n - first[k]);
    }
    first[classes.n] = files.n;
    CHECK_GOTO(files.n > 0, done, "no images (.jpg, .jpeg, .png) in the class folders of %s", top);

    CHECK_GOTO((out->files = calloc(files.n, sizeof *out->files)) != NULL, done, "out of memory indexing %zu files",
               files.n);
    for (size_t k = 0; k < classes.n; k++)
        for (size_t i = first[k]; i < first[k + 1]; i++)
            if (add_file(out, dir, files.v[i], (int)k) != 0) goto done;
    rc = 0;
done:
    strvec_free(&classes);
    strvec_free(&files);
    if (rc != 0) ds_free(out);
    return rc;
}

void ds_free(ds_split_t *s) {
    for (int64_t i = 0; i < s->n_files; i++) free(s->files[i].path);
    free(s->files);
    s->files = NULL;
    s->n_files = 0;
}

void ds_print_summary(const ds_split_t *s) {
    printf("Found %lld images belonging to %d classes.\n", (long long)s->n_files, s->n_classes);
    for (int k = 0; k < s->n_classes; k++)
        printf("  %d %s: %lld\n", k, s->classes[k], (long long)s->class_count[k]);
    fflush(stdout);
}

int ds_read_file(const char *path, uint8_t **buf, size_t *cap, size_t *len) {
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        err_set("%s is not a regular file", path);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    if (n > *cap || !*buf) {
        uint8_t *p = realloc(*buf, n ? n : 1);
        if (!p) {
            fclose(f);
            err_set("out of memory reading %s (%zu bytes)", path, n);
            return -1;
        }
        *buf = p;
        *cap = n ? n : 1;
    }
    size_t got = n ? fread(*buf, 1, n, f) : 0;
    int err = ferror(f);
    fclose(f);
    CHECK(got == n && !err, "short read of %s: %zu of %zu bytes", path, got, n);
    *len = n;
    return 0;
}
