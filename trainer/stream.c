/* stream.c: the trainer's end of the batch stream: START to the loader, a reorder window holding at
 * most W batches (each in the frame it arrived in), strict sequence order, duplicates and stale items
 * dropped, malformed or wrong-shaped batches rejected, and one credit per item taken into the window,
 * except END_RUN: it is credited when the stream is closed after END_RUN was handed out, i.e. when the
 * consumer is done with the run (the trainer: its last checkpoint written). Until then the loader keeps
 * the run open, so a trainer that dies before the end and is restarted finds a loader to resume with.
 *
 * Bounds (docs/dataplane.md): frames are read only while fewer than W batches are held, so at most W
 * are; the loader sends seq < (lowest uncredited) + W, so whatever is read has seq < next + 2W, and
 * slots indexed seq % 2W never collide. */
#include "trainer/stream.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/timeutil.h"
#include "proto/sock.h"

#define POLL_MS 100
#define START_EVERY_MS 2000
#define CLOSE_LINGER_MS 1000    /* let the last credits (END_RUN's) reach the loader */

typedef enum { AT_START = 0, AT_BATCH, AT_END_EPOCH, AT_END_RUN } at_t;

typedef struct {
    int used;
    proto_batch_t b;             /* pointers into frame */
    zmq_msg_t frame;
} bslot_t;

typedef struct {
    int used;
    proto_control_t k;
} mslot_t;

struct tstream {
    tstream_config_t c;
    void *batches, *credits;
    proto_limits_t lim;
    zmq_msg_t rx;
    int n_frames;              /* zmq_msg_t initialised: rx + slots (for close)                */
    proto_msg_t *in, *tx;            /* decode and encode scratch, allocated once                     */
    proto_buf_t enc;
    bslot_t *slots;            /* batch seq x lives in slots[x % n_slots]                       */
    int n_slots;               /* 2 W                                                           */
    int held;                  /* batches in the window, the one handed out last included       */
    mslot_t *marks;
    int n_marks_cap;
    at_t at;                   /* the last item handed out (AT_START: none since START)         */
    uint64_t at_seq;
    int handed;                /* slot of the batch handed out last, released at the next call  */
    int flowing;               /* an item of the stream has been accepted                       */
    int64_t last_start_ms;
    int64_t waiting_since_ms;  /* when the current wait for the next item began                */
    uint32_t epoch_skipped;    /* skipped members of the batches handed out in this epoch       */
    proto_control_t ctrl_out;
    tstream_stats_t st;
    double recv_ms;            /* receive + decode of accepted batches                          */
    double recv_cpu, zmq_cpu0; /* CPU: this thread's receive + decode calls; ZeroMQ's threads    */
    uint64_t n_timed;
    int warned_window;
    int end_run_seen;          /* END_RUN credited (at close): the loader may be gone          */
    uint64_t n_dropped;
};

/* Lowest batch seq not yet handed out. */
static uint64_t next_batch_seq(const tstream_t *s) { return s->at == AT_BATCH ? s->at_seq + 1 : s->at_seq; }

/* Credits and START never block the trainer: when the loader is not there (or, after END_RUN was
 * credited, has already exited) the message is dropped; a missing credit only costs a resend. */
static int send_msg(tstream_t *s, const proto_msg_t *m) {
    int rc = sock_send(s->credits, m, &s->enc, ZMQ_DONTWAIT);
    if (rc < 0) return -1;
    if (rc == 1) {
        if (s->end_run_seen) LOG_D("credit not sent: the loader has finished");
        else if (s->n_dropped++ % 100 == 0) LOG_W("credit socket: the loader is not there or not reading: "
                                                 "%" PRIu64 " credit(s) dropped so far", s->n_dropped);
    }
    return 0;
}

static int send_start(tstream_t *s, uint64_t seq) {
    s->tx->kind = PROTO_CONTROL;
    s->tx->control = (proto_control_t){.op = PROTO_CTRL_START, .seq = seq, .epochs = s->c.epochs,
                                     .steps_per_epoch = s->c.steps_per_epoch};
    s->last_start_ms = now_ms();
    return send_msg(s, s->tx);
}

static int credit_batch(tstream_t *s, uint64_t seq) {
    s->tx->kind = PROTO_CREDIT;
    s->tx->credit = (proto_credit_t){.seq = seq};
    return send_msg(s, s->tx);
}

static int credit_marker(tstream_t *s, const proto_control_t *k) {   /* a marker is credited by echoing it */
    s->tx->kind = PROTO_CONTROL;
    s->tx->control = *k;
    return send_msg(s, s->tx);
}

int tstream_open(const tstream_config_t *c, tstream_t **out) {
    CHECK(c->net != NULL, "tstream: no network");
    CHECK(c->window >= 1, "tstream: window %d", c->window);
    CHECK(c->height >= 1 && c->width >= 1 && c->channels >= 1 && c->max_batch >= 1, "tstream: batch shape %ux%ux%u x %u",
          c->height, c->width, c->channels, c->max_batch);
    tstream_t *s = calloc(1, sizeof *s);
    CHECK(s != NULL, "out of memory");
    s->c = *c;
    s->at = AT_START;
    s->at_seq = c->start_seq;
    s->handed = -1;
    proto_limits_default(&s->lim);
    s->n_marks_cap = 2 * c->window + 4;
    s->n_slots = 2 * c->window;
    s->in = calloc(1, sizeof *s->in);
    s->tx = calloc(1, sizeof *s->tx);
    s->slots = calloc((size_t)s->n_slots, sizeof *s->slots);
    s->marks = calloc((size_t)s->n_marks_cap, sizeof *s->marks);
    if (!s->in || !s->tx || !s->slots || !s->marks) goto oom;
    if (zmq_msg_init(&s->rx) != 0) goto zerr;
    s->n_frames = 1;
    for (int i = 0; i < s->n_slots; i++, s->n_frames++)
        if (zmq_msg_init(&s->slots[i].frame) != 0) goto zerr;
    s->batches = net_bind(c->net, ZMQ_PULL, c->batches_bind, 0, "batches");
    if (!s->batches) goto fail;
    s->credits = net_connect(c->net, ZMQ_PUSH, c->credits, 0, NET_LOADER, "credits");
    if (!s->credits) goto fail;
    s->zmq_cpu0 = proc_threads_cpu_ms("ZMQbg");
    if (s->c.stall_ms <= 0) s->c.stall_ms = TSTREAM_STALL_MS;
    if (send_start(s, c->start_seq) != 0) goto fail;
    s->waiting_since_ms = now_ms();
    LOG_I("batch stream: batches on %s, START at seq %" PRIu64 " sent to %s, window %d", c->batches_bind,
          c->start_seq, c->credits, c->window);
    *out = s;
    return 0;
oom:
    err_set("tstream: out of memory");
    goto fail;
zerr:
    err_set("zmq_msg_init: %s", zmq_strerror(zmq_errno()));
fail:
    err_prepend("the batch stream");
    tstream_close(&s);
    return -1;
}

void tstream_close(tstream_t **ps) {
    tstream_t *s = *ps;
    if (!s) return;
    if (s->at == AT_END_RUN) {   /* the consumer is done with the run: now the loader may finish */
        s->end_run_seen = 1;
        if (credit_marker(s, &s->ctrl_out) != 0) LOG_W("END_RUN's credit: %s", err_msg());
    }
    if (s->st.received) {
        double n = s->n_timed ? (double)s->n_timed : 1.0;
        LOG_I("batch stream: %" PRIu64 " received, %" PRIu64 " taken, %" PRIu64 " duplicates, %" PRIu64
              " rejected, %" PRIu64 " stale; per batch: receive+decode %.3f ms, CPU %.3f ms in receive+decode and "
              "%.3f ms in ZeroMQ's I/O thread",
              s->st.received, s->st.taken, s->st.duplicates, s->st.rejected, s->st.stale, s->recv_ms / n,
              s->recv_cpu / n, (proc_threads_cpu_ms("ZMQbg") - s->zmq_cpu0) / n);
    }
    if (s->credits) {
        int linger = CLOSE_LINGER_MS;
        if (zmq_setsockopt(s->credits, ZMQ_LINGER, &linger, sizeof linger) != 0)
            LOG_W("zmq_setsockopt(ZMQ_LINGER): %s", zmq_strerror(zmq_errno()));
    }
    sock_close(&s->credits);
    sock_close(&s->batches);
    if (s->n_frames > 0) zmq_msg_close(&s->rx);
    for (int i = 0; i + 1 < s->n_frames; i++) zmq_msg_close(&s->slots[i].frame);
    proto_buf_free(&s->enc);
    free(s->slots);
    free(s->marks);
    free(s->in);
    free(s->tx);
    free(s);
    *ps = NULL;
}

void tstream_stats(const tstream_t *s, tstream_stats_t *out) { *out = s->st; }

static void reject(tstream_t *s, const char *fmt, uint64_t seq, const char *why) {
    s->st.rejected++;
    net_rejected(s->c.net, "batches", fmt, seq, why);
}

static mslot_t *find_mark(tstream_t *s, proto_ctrl_t op, uint64_t seq) {
    for (int i = 0; i < s->n_marks_cap; i++)
        if (s->marks[i].used && s->marks[i].k.op == op && s->marks[i].k.seq == seq) return &s->marks[i];
    return NULL;
}

static int accept_batch(tstream_t *s, double t0) {
    const proto_batch_t *b = &s->in->batch;
    const tstream_config_t *c = &s->c;
    char why[160];
    if (b->height != c->height || b->width != c->width || b->channels != c->channels || b->n > c->max_batch ||
        b->n == 0) {
        snprintf(why, sizeof why, "%u images of %ux%ux%u, expected at most %u of %ux%ux%u", b->n, b->height, b->width,
                 b->channels, c->max_batch, c->height, c->width, c->channels);
        reject(s, "batch %" PRIu64 " rejected: %s", b->seq, why);
        return 0;
    }
    uint64_t lo = next_batch_seq(s);
    if (s->at == AT_END_RUN || b->seq < lo) {   /* taken already (a resend, or an old stream's) */
        s->st.stale++;
        return credit_batch(s, b->seq);
    }
    if (b->seq >= lo + (uint64_t)s->n_slots) {
        snprintf(why, sizeof why, "beyond the window [%" PRIu64 ", %" PRIu64 ") (is the loader's --window larger "
                 "than the trainer's?)", lo, lo + (uint64_t)s->n_slots);
        reject(s, "batch %" PRIu64 " rejected: %s", b->seq, why);
        return 0;
    }
    bslot_t *slot = &s->slots[b->seq % (uint64_t)s->n_slots];
    if (slot->used) {
        s->st.duplicates++;
        return credit_batch(s, b->seq);
    }
    /* keep the frame: move it into the slot and repoint the images into its new home */
    const uint8_t *old = zmq_msg_data(&s->rx);
    slot->b = *b;
    CHECK(zmq_msg_move(&slot->frame, &s->rx) == 0, "zmq_msg_move: %s", zmq_strerror(zmq_errno()));
    if (b->images) slot->b.images = (const uint8_t *)zmq_msg_data(&slot->frame) + (b->images - old);
    slot->used = 1;
    s->held++;
    s->st.taken++;
    s->flowing = 1;
    s->recv_ms += (now_s() - t0) * 1000.0;
    s->n_timed++;
    return credit_batch(s, b->seq);
}

/* Credit a marker, END_RUN excepted (tstream_close credits it). */
static int credit_taken_marker(tstream_t *s, const proto_control_t *k) {
    return k->op == PROTO_CTRL_END_RUN ? 0 : credit_marker(s, k);
}

static int accept_marker(tstream_t *s) {
    const proto_control_t *k = &s->in->control;
    if (k->op != PROTO_CTRL_END_EPOCH && k->op != PROTO_CTRL_END_RUN) {
        reject(s, "marker at %" PRIu64 " rejected: a %s control is not for this socket", k->seq, proto_ctrl_name(k->op));
        return 0;
    }
    uint64_t lo = next_batch_seq(s);
    /* already past it: before the next batch, or at a START / END_EPOCH with the same seq */
    int past = s->at == AT_END_RUN || k->seq < lo ||
               (k->seq == lo && k->op == PROTO_CTRL_END_EPOCH && (s->at == AT_START || s->at == AT_END_EPOCH));
    if (past) {
        s->st.stale++;
        return credit_taken_marker(s, k);
    }
    if (k->seq > lo + (uint64_t)s->n_slots) {
        reject(s, "marker at %" PRIu64 " rejected: %s", k->seq, "beyond the window");
        return 0;
    }
    if (find_mark(s, k->op, k->seq)) {
        s->st.duplicates++;
        return credit_taken_marker(s, k);
    }
    for (int i = 0; i < s->n_marks_cap; i++)
        if (!s->marks[i].used) {
            s->marks[i].used = 1;
            s->marks[i].k = *k;
            s->flowing = 1;
            return credit_taken_marker(s, k);
        }
    reject(s, "marker at %" PRIu64 " rejected: %s", k->seq, "no room (too many markers in the window)");
    return 0;
}

/* Receive what is waiting, without blocking, while fewer than `limit` batches are held. */
static int drain(tstream_t *s, int limit) {
    while (s->held < limit) {
        double t0 = now_s(), c0 = cpu_thread_ms();
        int rc = sock_recv(s->batches, &s->rx, &s->lim, s->in, 0);
        s->recv_cpu += cpu_thread_ms() - c0;
        if (rc == 0) return 0;
        if (rc == -2) return -1;
        s->st.received++;
        if (rc == -1) {
            reject(s, "frame %" PRIu64 " rejected: %s", s->st.received, err_msg());
            err_clear();
            continue;
        }
        if (s->in->kind == PROTO_BATCH) TRY(accept_batch(s, t0));
        else if (s->in->kind == PROTO_CONTROL) TRY(accept_marker(s));
        else reject(s, "frame %" PRIu64 " rejected: %s", s->st.received, proto_kind_name(s->in->kind));
    }
    return 0;
}

/* The item that follows the last one handed out, if it is here (docs/dataplane.md: a batch with
 * step 0 follows its epoch's END_EPOCH, END_RUN follows the last END_EPOCH). */
static int take_next(tstream_t *s, const proto_batch_t **batch, const proto_control_t **ctrl) {
    uint64_t nb = next_batch_seq(s);
    mslot_t *m = NULL;
    if (s->at == AT_BATCH) m = find_mark(s, PROTO_CTRL_END_EPOCH, nb);
    else if (s->at == AT_START || s->at == AT_END_EPOCH) m = find_mark(s, PROTO_CTRL_END_RUN, nb);
    if (m) {
        s->ctrl_out = m->k;
        m->used = 0;
        if (s->ctrl_out.op == PROTO_CTRL_END_EPOCH) {
            if (s->ctrl_out.skipped == 0) s->ctrl_out.skipped = s->epoch_skipped;
            s->epoch_skipped = 0;
            s->at = AT_END_EPOCH;
        } else {
            s->at = AT_END_RUN;
        }
        s->at_seq = s->ctrl_out.seq;
        *ctrl = &s->ctrl_out;
        return s->at == AT_END_EPOCH ? TS_END_EPOCH : TS_END_RUN;
    }
    if (s->at == AT_END_RUN) return 0;
    int idx = (int)(nb % (uint64_t)s->n_slots);
    bslot_t *slot = &s->slots[idx];
    if (!slot->used || slot->b.seq != nb) return 0;
    if (s->at == AT_BATCH && slot->b.step == 0) return 0;   /* its END_EPOCH comes first */
    s->at = AT_BATCH;
    s->at_seq = nb;
    s->handed = idx;
    s->epoch_skipped += slot->b.skipped;
    if (slot->b.skipped >= slot->b.n) {   /* no usable member at all: credited and counted, not trained on */
        LOG_W("batch %" PRIu64 ": none of its %u files is usable: skipped", nb, slot->b.n);
        return -2;
    }
    *batch = &slot->b;
    return TS_BATCH;
}

int tstream_next(tstream_t *s, const volatile sig_atomic_t *stop, const proto_batch_t **batch,
                 const proto_control_t **ctrl) {
    *batch = NULL;
    *ctrl = NULL;
    for (;;) {
        if (s->handed >= 0) {
            s->slots[s->handed].used = 0;
            s->held--;
        }
        s->handed = -1;
        if (drain(s, s->c.window) != 0) return -1;
        int ev = take_next(s, batch, ctrl);
        if (ev == 0 && s->held >= s->c.window) {
            /* W later batches held and the next one still missing: batches made for an earlier START
             * (a restarted stream), or a loader --window larger than ours. Read on: slots are unique
             * within 2W, and anything beyond is rejected. */
            if (!s->warned_window++)
                LOG_W("the reorder window holds %d later batches while %" PRIu64 " is missing (batches of an "
                      "earlier START, or the loader's --window is larger than the trainer's): reading on, up to %d",
                      s->held, next_batch_seq(s), s->n_slots);
            if (drain(s, INT_MAX) != 0) return -1;
            ev = take_next(s, batch, ctrl);
        }
        if (ev == -2) continue;
        if (ev) {
            s->waiting_since_ms = -1;   /* the next call starts a new wait */
            return ev;
        }
        int64_t now = now_ms();
        if (s->waiting_since_ms < 0) s->waiting_since_ms = now;
        if (*stop) return TS_STOPPED;
        if (s->at == AT_END_RUN) {
            err_set("tstream_next called after END_RUN");
            return -1;
        }
        if (net_check(s->c.net) != 0) return -1;   /* the loader refused our key */
        if (!s->flowing && now - s->last_start_ms >= START_EVERY_MS) {
            LOG_I("no batch yet: START at seq %" PRIu64 " sent again", s->c.start_seq);
            if (send_start(s, s->c.start_seq) != 0) return -1;
        } else if (s->flowing && now - s->waiting_since_ms >= s->c.stall_ms &&
                   now - s->last_start_ms >= s->c.stall_ms) {
            /* At the last item handed out: the loader resends a batch already taken (dropped as
             * stale) rather than skip a marker that carries the next batch's seq. */
            LOG_W("nothing for %.0f s after seq %" PRIu64 ": START there again (a restarted loader carries on "
                  "from it)", (double)(now - s->waiting_since_ms) / 1000.0, s->at_seq);
            if (send_start(s, s->at_seq) != 0) return -1;
        }
        /* nothing to hand out, and room in the window (see the bounds above): wait for frames */
        zmq_pollitem_t it = {s->batches, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, POLL_MS) < 0 && zmq_errno() != EINTR) {
            err_set("zmq_poll: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
    }
}
