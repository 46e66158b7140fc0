/* dataplane_fixtures.h: small data sets and model specs written by the data-plane tests themselves:
 * synthetic photos in DIR/train/<class>/, every kind of bad input, and tiny model specs. */
#ifndef PAWPIPE_DATAPLANE_FIXTURES_H
#define PAWPIPE_DATAPLANE_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/* DIR/<split>/<class>/img_NNNN.jpg: n_per_class JPEGs of w x h, each a different smooth pattern
 * (pseudo-random from its index). Class folders are "cats", "dogs", ... (n_classes of them). */
int dpf_write_split(const char *dir, const char *split, int n_classes, int n_per_class, int w, int h);

/* The bad-input cases, written into folder `dir` (a class folder). Unusable files make the augmenter
 * skip them; convertible ones (grey, CMYK, RGBA, PNG named .jpg, 1x1) must be used. The "big" file is
 * big_w x big_h: unusable when the augmenter's --max-pixels is below big_w * big_h. */
typedef struct {
    const char *name;
    int usable;
} dpf_case_t;

#define DPF_N_CASES 9
extern const dpf_case_t dpf_cases[DPF_N_CASES];
int dpf_write_bad_cases(const char *dir, int big_w, int big_h);

/* Encoded bytes of a w x h x bands pattern image: "jpg" or "png" (malloc'd into *out). 0 / -1. */
int dpf_encode(int w, int h, int bands, int cmyk, const char *format, uint32_t pattern, uint8_t **out, size_t *len);

/* A job made by hand for worker_do_job: members over in-memory files, which the job owns. A member's
 * label is id % 2, its sample seed and cache key are drawn from the job's seed and key. */
typedef struct {
    proto_job_t job;
    uint8_t *bytes[PROTO_MAX_MEMBERS];
    uint64_t seed, key;
} dpf_job_t;
void dpf_job_add(dpf_job_t *t, const char *name, uint8_t *data, size_t len, uint32_t id);
void dpf_job_free(dpf_job_t *t);   /* its files and itself (calloc'd) */

/* A small model spec: input h x w x 3, one conv, flatten, dense; batch, steps (0: one pass), epochs,
 * seed; with the Keras tutorial's augmentation when aug != 0. 0 / -1. */
int dpf_write_spec(const char *path, int h, int w, int batch, int steps, int epochs, int seed, int aug);

#endif
