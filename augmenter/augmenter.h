/* augmenter.h: the augmenter stage: takes batch jobs from the loader, decodes each member once (then
 * from the cache), applies the member's own random Keras transform straight into the batch, and
 * sends the batch to the trainer; END_EPOCH / END_RUN markers are forwarded as they are. */
#ifndef PAWPIPE_AUGMENTER_H
#define PAWPIPE_AUGMENTER_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "image/cache.h"
#include "image/image.h"
#include "proto/net.h"
#include "proto/proto.h"

typedef struct {
    const char *jobs;       /* --jobs ENDPOINT: the loader's job socket (PULL, connected)          */
    const char *batches;    /* --batches ENDPOINT: the trainer's batch socket (PUSH, connected)    */
    const char *control;    /* --control ENDPOINT: the loader's control socket (SUB, connected): the
                               end of the run                                                       */
    const char *run_dir;    /* --run-dir DIR: the trainer's run folder where it is shared (an idle
                               augmenter that finds its END marker exits); NULL: none              */
    int cache_mb;           /* --cache-mb: limit of the decoded-image cache (0: no cache)          */
    const char *cache_shared; /* --cache-shared: "auto" (one cache per host and job endpoint), "off"
                                 (a private cache), or a shared-memory name "/..."                  */
    int64_t max_pixels;     /* --max-pixels: larger images are skipped (decompression bombs)       */
    net_config_t net;       /* keys, I/O threads (proto/net.h)                                     */
    void *zctx;             /* ZeroMQ context to use; NULL: the stage makes its own                */
    const char *name;       /* tag of its log lines (threads in tests); NULL: "augmenter"          */
} augmenter_config_t;

void augmenter_config_default(augmenter_config_t *c);

/* Live counters, readable from another thread while augmenter_run works. */
typedef struct {
    atomic_uint_fast64_t jobs;       /* batches made and sent                                 */
    atomic_uint_fast64_t markers;    /* END_EPOCH / END_RUN forwarded                         */
    atomic_uint_fast64_t skipped;    /* members replaced because their file was unusable      */
    atomic_uint_fast64_t rejected;   /* frames that did not decode as a job or marker         */
    atomic_uint_fast64_t decodes;    /* image decodes (cache misses)                          */
} augmenter_stats_t;

/* Run until the loader announces the end of the run, or (idle) run_dir's END marker says so, or
 * *stop (each returns 0), or a socket failure (-1 with err_msg()). stats may be NULL. */
int augmenter_run(const augmenter_config_t *c, const volatile sig_atomic_t *stop, augmenter_stats_t *stats);

/* The work on one job, without sockets (the stage's core; tests call it directly). */
typedef struct worker worker_t;

/* cache_bytes: limit of the decoded-image cache (0: none). shared: the name of the host's shared
 * cache segment (shcache.h), or NULL for a private cache; if it cannot be used, a private one. */
int worker_new(size_t cache_bytes, const char *shared, int64_t max_pixels, worker_t **w);   /* 0 / -1 */
void worker_destroy(worker_t **w);

/* Make the batch of job: out->images points into the worker's batch buffer (allocated once, grown
 * only for a larger job) and stays valid until the next call. A member whose file cannot be used is
 * replaced by the next usable member of the job (cyclically; its id and label, the failing member's
 * seed), counted in out->skipped, and warned about once per worker with its name and the reason.
 * When no member is usable, the batch is n_members blank images with skipped = n_members (the
 * trainer's stream drops such a batch). 0 / -1 + err_msg(). */
int worker_do_job(worker_t *w, const proto_job_t *job, proto_batch_t *out);

typedef struct {
    int64_t decodes, decode_failures, skipped;
    int shared;                 /* the cache is the host's shared one (entries/bytes: everyone's) */
    img_cache_stats_t cache;
} worker_stats_t;

void worker_stats(const worker_t *w, worker_stats_t *s);

#endif
