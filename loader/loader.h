/* loader.h: the loader stage: indexes the training split, decides every batch's members and seeds
 * (the sample plan), and streams jobs to the augmenters under the trainer's credits (docs/dataplane.md). */
#ifndef PAWPIPE_LOADER_H
#define PAWPIPE_LOADER_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "proto/net.h"

typedef struct {
    const char *data_dir;       /* --data DIR: DIR/train/<class>/<file>                          */
    const char *model_path;     /* --model MODEL.ini: batch size, epochs, steps, seed, size, aug  */
    int epochs;                 /* --epochs N (0: the spec's); the trainer's START overrides      */
    int steps_per_epoch;        /* --steps-per-epoch N (-1: the spec's; 0: one pass)              */
    int window;                 /* --window W: jobs in flight (the trainer's window must be >= W) */
    int resend_ms;              /* --resend-ms T: first resend timeout of an uncredited job       */
    const char *jobs_bind;      /* PUSH, bound                                                    */
    const char *credits_bind;   /* PULL, bound                                                    */
    const char *control_bind;   /* PUB, bound: the end of the run, for the augmenters             */
    const char *run_dir;        /* --run-dir: the trainer's run folder, when shared (its END marker
                                   ends a loader that waits for a run that is over); NULL: none    */
    net_config_t net;           /* keys, allow-list, --insecure, I/O threads (proto/net.h)       */
    void *zctx;                 /* ZeroMQ context to use; NULL: the stage makes its own           */
} loader_config_t;

void loader_config_default(loader_config_t *c);

/* Live counters, readable from another thread while loader_run works (tests, progress). */
typedef struct {
    atomic_uint_fast64_t jobs_sent;      /* first sends of batch jobs                             */
    atomic_uint_fast64_t resent;         /* jobs and markers sent again after a timeout           */
    atomic_uint_fast64_t markers_sent;   /* END_EPOCH / END_RUN, first sends                      */
    atomic_uint_fast64_t credits;        /* credits that acknowledged an item in flight           */
    atomic_uint_fast64_t starts;         /* START messages that (re)started the stream            */
    atomic_int in_flight;                /* batch jobs made and not yet credited                  */
    atomic_int max_in_flight;            /* the most ever                                         */
} loader_stats_t;

/* Run until the trainer has credited END_RUN, then announce the end on the control socket and
 * return 0; or until *stop is set (0); or, waiting for a START, until run_dir's END marker says the
 * run is over (0, announced too); or an error (-1 with err_msg(); e.g. the data folder is missing or
 * has fewer than two classes). stats may be NULL. */
int loader_run(const loader_config_t *c, const volatile sig_atomic_t *stop, loader_stats_t *stats);

/* The sample plan: Keras' infinite iterator over the training split. Pass p is the identity
 * permutation shuffled by Fisher-Yates with the rng stream (seed, p), cut into batches of `batch`
 * with the last batch of a pass partial; stream batch x is batch x % per_pass of pass x / per_pass.
 * A pure function of (n, batch, seed, x). */
typedef struct {
    int64_t n;                  /* files in the split                         */
    int batch;                  /* batch size B                               */
    uint64_t seed;              /* run seed                                   */
    int64_t per_pass;           /* ceil(n / B): batches in one pass           */
    int64_t pass;               /* pass whose permutation is in perm; -1 none */
    uint32_t *perm;             /* n entries                                  */
} plan_t;

int plan_init(plan_t *p, int64_t n, int batch, uint64_t seed);   /* 0 / -1 + err_msg() */
void plan_free(plan_t *p);

/* Members of stream batch x: their file indices and sample seeds (rng_derive3(seed, pass, index));
 * ids and seeds hold B entries. Returns the member count (B, or fewer for the last of a pass). */
int plan_batch(plan_t *p, uint64_t x, uint32_t *ids, uint64_t *seeds);

/* Pass of stream batch x. */
int64_t plan_pass_of(const plan_t *p, uint64_t x);

#endif
