/* internal.h: what the loader's files share: the stream's items in flight and the loader's state. */
#ifndef PAWPIPE_LOADER_INTERNAL_H
#define PAWPIPE_LOADER_INTERNAL_H

#include <stdint.h>
#include <zmq.h>

#include "image/dataset.h"
#include "loader/loader.h"
#include "nn/model.h"
#include "proto/proto.h"

/* One item of the sequenced stream. Order: batches by seq; END_EPOCH of epoch e carries the seq of
 * the batch that follows it ((e + 1) * S) and comes before that batch; END_RUN follows the last
 * END_EPOCH with the same seq (docs/dataplane.md). */
typedef enum { ITEM_BATCH = 0, ITEM_END_EPOCH, ITEM_END_RUN, ITEM_DONE } item_kind_t;

typedef struct {
    item_kind_t kind;
    uint64_t seq;
    uint32_t epoch, step;
} pos_t;

typedef struct {
    pos_t pos;
    int acked;
    int sent;          /* sent at least once                                     */
    int attempts;      /* sends so far                                           */
    int passed;        /* a later item was credited since this one's last send   */
    int64_t sent_ms;   /* last send                                              */
    int64_t due_ms;    /* resend when no credit has come by then                 */
    int buf;           /* the job's encoded frame in the pool (ITEM_BATCH); -1   */
} item_t;

/* Items in flight, in stream order: a ring of 2W + 2 entries (at most W batches with seq in
 * [lowest unacknowledged, + W), and the markers among them) and a pool of W encoded job frames. */
typedef struct {
    item_t *items;
    int cap, head, count;
    proto_buf_t *pool;
    int *free_bufs, n_free, window;
} flight_t;

int flight_init(flight_t *f, int window);
void flight_free(flight_t *f);
void flight_clear(flight_t *f);                         /* forget every item, keep the buffers     */
item_t *flight_at(flight_t *f, int i);                  /* i-th item from the oldest               */
item_t *flight_push(flight_t *f, const pos_t *pos);     /* NULL when full; takes a buffer for batches */
item_t *flight_find(flight_t *f, item_kind_t kind, uint64_t seq);
int flight_pop_acked(flight_t *f);                      /* drops acknowledged items from the front  */
int flight_batches(const flight_t *f);                  /* batch items held (each owns a frame)     */

/* The stream's geometry after START, and its order. */
typedef struct {
    uint32_t epochs;   /* E                   */
    uint64_t steps;    /* S >= 1              */
} geom_t;

pos_t pos_first(const geom_t *g, uint64_t start_seq);   /* where a START at start_seq begins   */
pos_t pos_next(const geom_t *g, const pos_t *p);        /* the item after p (ITEM_DONE at the end) */

/* Making a job: every member's bytes read from disk into reusable buffers, then encoded once into
 * the frame it is (re)sent from. */
typedef struct {
    const ds_split_t *split;
    plan_t *plan;
    int height, width;
    aug_params_t aug;
    size_t max_file;       /* larger files travel empty (the augmenter skips them)          */
    proto_msg_t *msg;            /* one proto_msg_t (large), reused                                       */
    uint8_t **bufs;        /* B file buffers, grown as needed, reused                         */
    size_t *caps;
    uint32_t *ids;
    uint64_t *seeds;
    uint8_t *warned;       /* one flag per file: unreadable or too large, said once            */
    uint64_t bytes_read;
} jobmaker_t;

int jobmaker_init(jobmaker_t *j, const ds_split_t *split, plan_t *plan, const nn_model_t *m,
                  const proto_limits_t *lim);
void jobmaker_free(jobmaker_t *j);
int jobmaker_make(jobmaker_t *j, const pos_t *pos, proto_buf_t *out);   /* 0 / -1 + err_msg() */

#endif
