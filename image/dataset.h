/* dataset.h: indexing a data set folder the way Keras flow_from_directory does:
 *   DIR/<split>/<class>/<file>.{jpg,jpeg,png}, classes = sub-folders in sorted order (cats = 0). */
#ifndef PAWPIPE_DATASET_H
#define PAWPIPE_DATASET_H

#include <stddef.h>
#include <stdint.h>

#define DS_MAX_CLASSES 64

typedef struct {
    char *path;          /* full path                                   */
    const char *rel;     /* path relative to the data set root (inside path) */
    int label;
    int64_t size;        /* bytes on disk at index time                 */
    uint64_t key;        /* content fingerprint: hash of rel, size, mtime */
} ds_file_t;

typedef struct {
    char split[32];
    int n_classes;
    char classes[DS_MAX_CLASSES][128];
    int64_t class_count[DS_MAX_CLASSES];
    int64_t n_files;
    ds_file_t *files;    /* sorted by (class, file name) */
} ds_split_t;

/* Index DIR/split (split NULL or "": DIR itself holds the class folders). Class folders are searched
 * recursively, in os.walk order; hidden entries (names starting with '.') are skipped; .jpg, .jpeg
 * and .png in any case are images. Errors (-1 with err_msg()): folder missing, no class folders,
 * fewer than min_classes classes, no images. Files with other extensions are ignored (counted in
 * *ignored when it is not NULL). */
int ds_index(const char *dir, const char *split, int min_classes, ds_split_t *out, int64_t *ignored);
void ds_free(ds_split_t *s);

/* Keras' message: "Found 2000 images belonging to 2 classes." plus one line per class. */
void ds_print_summary(const ds_split_t *s);

/* Read a whole file into *buf (grown as needed, reused). 0, or -1 with err_msg(). */
int ds_read_file(const char *path, uint8_t **buf, size_t *cap, size_t *len);

#endif
