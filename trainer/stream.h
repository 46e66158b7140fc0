/* stream.h: the trainer's end of the batch stream. Binds the batch socket, tells the loader where to
 * start (PROTO_CTRL_START on the credit socket), keeps a reorder window, hands out batches strictly in
 * sequence order, drops duplicates, rejects malformed or wrong-shaped batches (counted and logged),
 * and sends one credit per batch taken; END_RUN's credit goes when the stream is closed after END_RUN was
 * handed out (the consumer is done with the run), so that the loader stays until then. */
#ifndef PAWPIPE_TSTREAM_H
#define PAWPIPE_TSTREAM_H

#include <signal.h>
#include <stdint.h>

#include "proto/net.h"
#include "proto/proto.h"

typedef struct tstream tstream_t;

typedef struct {
    net_t *net;                     /* the stage's network (owned by the caller)                 */
    const char *batches_bind;       /* PULL, bound                                               */
    const char *credits;            /* PUSH, connected to the loader                             */
    uint64_t start_seq;             /* first batch wanted: 0, or the step of a resumed checkpoint */
    uint32_t epochs;                /* the run's length, sent to the loader in PROTO_CTRL_START        */
    int32_t steps_per_epoch;        /* -1: the loader's (spec) value; 0: one pass; >0: this many */
    int window;                     /* reorder window (>= the loader's credit window)            */
    int stall_ms;                   /* waiting this long for the next item once the stream flows:
                                       START again at the current position, so that a restarted
                                       loader carries on (a live one ignores or restarts it); 0:
                                       TSTREAM_STALL_MS                                          */
    uint32_t height, width, channels, max_batch;  /* the only batch shape accepted              */
} tstream_config_t;

#define TSTREAM_STALL_MS 15000   /* above the loader's resend time (10 s): a lost batch is resent first */

typedef enum { TS_STOPPED = 0, TS_BATCH = 1, TS_END_EPOCH = 2, TS_END_RUN = 3 } ts_event_t;

typedef struct {
    uint64_t received, taken, duplicates, rejected, stale;
} tstream_stats_t;

int tstream_open(const tstream_config_t *c, tstream_t **s);   /* 0 / -1 + err_msg() */

/* Block until the next item in sequence order or *stop. Returns TS_BATCH (*batch valid until the
 * next call), TS_END_EPOCH or TS_END_RUN (*ctrl valid until the next call), TS_STOPPED when *stop was
 * set, or -1 when the sockets failed. Re-sends PROTO_CTRL_START every few seconds until the first batch
 * arrives, so start order between loader and trainer does not matter, and after stall_ms without the
 * next item, so that a loader restarted mid-run picks the stream up where the trainer is. */
int tstream_next(tstream_t *s, const volatile sig_atomic_t *stop, const proto_batch_t **batch,
                 const proto_control_t **ctrl);

void tstream_stats(const tstream_t *s, tstream_stats_t *out);
void tstream_close(tstream_t **s);

#endif
