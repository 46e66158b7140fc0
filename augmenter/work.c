/* work.c: one job -> one batch: cache lookup or decode of every member, replacement of unusable
 * members, and each member's own random transform written straight into the batch buffer. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "augmenter/augmenter.h"
#include "augmenter/shcache.h"
#include "common/check.h"
#include "common/log.h"
#include "common/rng.h"
#include "common/timeutil.h"

/* Keys of files found unusable: each is warned about once and never decoded again. An open-
 * addressing set of 64-bit keys (0 is kept apart, as the empty-slot value). */
typedef struct {
    uint64_t *slots;
    size_t cap, n;
    int has_zero;
} keyset_t;

struct worker {
    img_cache_t *cache;            /* private cache, when there is no shared one               */
    shcache_t *shared;             /* the host's shared cache                                  */
    img_t view;                    /* a shared entry (pixels in the segment)                   */
    int64_t max_pixels;
    img_t scratch;                 /* the last decode the cache refused, reused                */
    uint64_t scratch_key;
    int scratch_valid;
    keyset_t bad;
    uint8_t *images;               /* the batch buffer                                         */
    size_t images_cap;
    int8_t status[PROTO_MAX_MEMBERS];   /* per member of the current job: 0 unknown, 1 ok, -1 bad */
    int64_t decodes, decode_failures, skipped;
};

static int keyset_has(const keyset_t *s, uint64_t k) {
    if (k == 0) return s->has_zero;
    if (!s->cap) return 0;
    for (size_t i = (size_t)(k % s->cap);; i = (i + 1) % s->cap) {
        if (s->slots[i] == k) return 1;
        if (s->slots[i] == 0) return 0;
    }
}

static int keyset_add(keyset_t *s, uint64_t k) {
    if (k == 0) return s->has_zero = 1, 0;
    if (keyset_has(s, k)) return 0;
    if (2 * (s->n + 1) > s->cap) {   /* grow: rare, only when more files turn out unusable */
        size_t cap = s->cap ? 2 * s->cap : 64;
        uint64_t *slots = calloc(cap, sizeof *slots);
        CHECK(slots != NULL, "out of memory");
        for (size_t i = 0; i < s->cap; i++) {
            uint64_t v = s->slots[i];
            if (!v) continue;
            size_t j = (size_t)(v % cap);
            while (slots[j]) j = (j + 1) % cap;
            slots[j] = v;
        }
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
    }
    size_t i = (size_t)(k % s->cap);
    while (s->slots[i]) i = (i + 1) % s->cap;
    s->slots[i] = k;
    s->n++;
    return 0;
}

int worker_new(size_t cache_bytes, const char *shared, int64_t max_pixels, worker_t **out) {
    worker_t *w = calloc(1, sizeof *w);
    CHECK(w != NULL, "out of memory");
    w->max_pixels = max_pixels;
    if (shared && cache_bytes > 0 && shcache_open(shared, cache_bytes, &w->shared) != 0) {
        LOG_W("%s: keeping a private cache instead", err_msg());
        err_clear();
    }
    if (!w->shared && !(w->cache = img_cache_new(cache_bytes))) {
        free(w);
        return -1;
    }
    *out = w;
    return 0;
}

void worker_destroy(worker_t **pw) {
    worker_t *w = *pw;
    if (!w) return;
    img_cache_destroy(&w->cache);
    shcache_close(&w->shared);
    img_free(&w->scratch);
    free(w->bad.slots);
    free(w->images);
    free(w);
    *pw = NULL;
}

void worker_stats(const worker_t *w, worker_stats_t *s) {
    memset(s, 0, sizeof *s);
    s->decodes = w->decodes;
    s->decode_failures = w->decode_failures;
    s->skipped = w->skipped;
    s->shared = w->shared != NULL;
    if (w->cache) {
        img_cache_stats(w->cache, &s->cache);
        return;
    }
    shcache_stats_t sh;
    shcache_stats(w->shared, &sh);
    s->cache = (img_cache_stats_t){.hits = sh.hits, .misses = sh.misses, .refused = sh.refused,
                                   .entries = sh.entries, .bytes = sh.bytes, .max_bytes = sh.max_bytes};
}

/* The cached image of key, or NULL. */
static const img_t *cache_get(worker_t *w, uint64_t key) {
    if (w->cache) return img_cache_get(w->cache, key);
    return shcache_get(w->shared, key, &w->view) ? &w->view : NULL;
}

/* 0 cached, 1 refused (full), -1 error. */
static int cache_put(worker_t *w, uint64_t key, const img_t *im) {
    return w->cache ? img_cache_put(w->cache, key, im) : shcache_put(w->shared, key, im);
}

/* The cache key of a member: its file's key at this job's output size (the decode shrinks on load
 * relative to the target size, so one file decodes differently for another size). */
static uint64_t cache_key(const proto_job_t *job, const proto_member_t *m) {
    return rng_derive3(m->key, ((uint64_t)job->height << 32) | job->width, 0xCAC4E);
}

/* The decoded image of member k, or NULL when its file is unusable (warned about once). */
static const img_t *member_image(worker_t *w, const proto_job_t *job, uint32_t k) {
    const proto_member_t *m = &job->members[k];
    uint64_t key = cache_key(job, m);
    if (w->status[k] < 0) return NULL;
    if (w->status[k] == 0 && keyset_has(&w->bad, key)) {
        w->status[k] = -1;
        return NULL;
    }
    const img_t *im = cache_get(w, key);
    if (im) return w->status[k] = 1, im;
    if (w->scratch_valid && w->scratch_key == key) return w->status[k] = 1, &w->scratch;

    img_decode_opts_t o;
    img_decode_opts_default(&o, (int)job->width, (int)job->height);
    o.max_pixels = w->max_pixels;
    w->decodes++;
    w->scratch_valid = 0;
    if (img_decode(m->data, m->len, &o, &w->scratch) != 0) {
        w->decode_failures++;
        LOG_W("%s: unusable, skipped (said once per augmenter): %s", m->name, err_msg());
        err_clear();
        w->status[k] = -1;
        if (keyset_add(&w->bad, key) != 0) err_clear();   /* out of memory: it will be warned again */
        return NULL;
    }
    w->status[k] = 1;
    int rc = cache_put(w, key, &w->scratch);
    if (rc == 0 && (im = cache_get(w, key)) != NULL) return im;
    if (rc < 0) err_clear();   /* no memory for the cache: carry on without it */
    w->scratch_key = key;
    w->scratch_valid = 1;
    return &w->scratch;
}

int worker_do_job(worker_t *w, const proto_job_t *job, proto_batch_t *out) {
    double t0 = now_s();
    uint32_t n = job->n_members, h = job->height, wd = job->width;
    CHECK(n >= 1 && n <= PROTO_MAX_MEMBERS, "job %" PRIu64 " has %u members", job->seq, n);
    CHECK(h >= 1 && wd >= 1, "job %" PRIu64 " asks for %ux%u images", job->seq, wd, h);
    size_t one = (size_t)h * wd * 3, need = one * n;
    if (need > w->images_cap) {
        uint8_t *p = realloc(w->images, need);
        CHECK(p != NULL, "out of memory for a %u x %ux%u batch", n, wd, h);
        w->images = p;
        w->images_cap = need;
    }
    memset(w->status, 0, sizeof w->status);
    memset(out, 0, sizeof *out);
    out->seq = job->seq;
    out->epoch = job->epoch;
    out->step = job->step;
    out->height = h;
    out->width = wd;
    out->channels = 3;
    uint32_t used = 0;
    for (uint32_t i = 0; i < n; i++) {
        /* member i, or the next usable member of the job in its place */
        const img_t *src = NULL;
        uint32_t j = i;
        for (uint32_t step = 0; step < n && !src; step++) {
            j = (i + step) % n;
            src = member_image(w, job, j);
        }
        if (!src) break;   /* no member of this job is usable */
        if (j != i) out->skipped++;
        img_xform_t t;
        img_xform_draw(&job->aug, (int)h, (int)wd, job->members[i].seed, &t);
        img_warp(src, (int)h, (int)wd, job->aug.enabled ? &t : NULL, job->aug.fill_mode, job->aug.cval,
                 w->images + (size_t)i * one);
        out->labels[i] = job->members[j].label;
        out->ids[i] = job->members[j].id;
        used++;
    }
    if (used < n) {
        /* no member of the job is usable: the protocol has no empty batch, so the batch is n blank
         * images with every member counted as skipped, which the trainer's stream credits and drops */
        LOG_W("job %" PRIu64 ": none of its %u members is usable: sending it as skipped entirely", job->seq, n);
        memset(w->images, 0, need);
        for (uint32_t i = 0; i < n; i++) {
            out->labels[i] = job->members[i].label;
            out->ids[i] = job->members[i].id;
        }
        used = n;
        out->skipped = n;
    }
    out->n = used;
    out->images = w->images;
    out->images_len = (size_t)used * one;
    w->skipped += out->skipped;
    out->work_ms = (now_s() - t0) * 1000.0;
    return 0;
}
