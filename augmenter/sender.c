/* sender.c: zero-copy sends from a small pool of encode buffers; ZeroMQ's free callback (run by its
 * I/O thread once a frame is out, or dropped) marks a buffer free again. When every buffer is held
 * (over inproc:// the receiver itself holds the frames until it is done with them) the frame is
 * copied instead, so a slow receiver can never make the sender wait for its own buffers. */
#include "augmenter/sender.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/check.h"
#include "common/log.h"
#include "common/timeutil.h"

#define POLL_MS 100

typedef struct {
    proto_buf_t buf;
    atomic_int busy;      /* 1 from zmq_msg_init_data until ZeroMQ calls release() */
} slot_t;

struct sender {
    void *sock;
    int n;
    slot_t *slots;
    proto_buf_t spare;         /* for copied sends */
};

static void release(void *data, void *hint) {
    (void)data;
    atomic_store((atomic_int *)hint, 0);
}

int sender_new(void *sock, int n_bufs, sender_t **out) {
    sender_t *s = calloc(1, sizeof *s);
    CHECK(s != NULL, "out of memory");
    s->sock = sock;
    s->n = n_bufs;
    s->slots = calloc((size_t)n_bufs, sizeof *s->slots);
    if (!s->slots) {
        free(s);
        err_set("out of memory");
        return -1;
    }
    *out = s;
    return 0;
}

void sender_destroy(sender_t **ps) {
    sender_t *s = *ps;
    if (!s) return;
    int busy = 0;
    for (int t = 0; t < 200; t++) {   /* up to 2 s: closing the socket makes ZeroMQ drop what it held */
        busy = 0;
        for (int i = 0; i < s->n; i++) busy += atomic_load(&s->slots[i].busy);
        if (!busy) break;
        sleep_ms(10);
    }
    if (busy) {
        LOG_W("%d send buffer(s) still held by ZeroMQ: not freed", busy);   /* leak rather than corrupt */
    } else {
        for (int i = 0; i < s->n; i++) proto_buf_free(&s->slots[i].buf);
        free(s->slots);
    }
    proto_buf_free(&s->spare);
    free(s);
    *ps = NULL;
}

/* Send an encoded frame (already initialised in *frame), waiting while the peer's queue is full. */
static int send_frame(sender_t *s, zmq_msg_t *frame, const volatile sig_atomic_t *stop, double *ms) {
    for (;;) {
        double t0 = now_s();
        int rc = zmq_msg_send(frame, s->sock, ZMQ_DONTWAIT);
        *ms += (now_s() - t0) * 1000.0;
        if (rc >= 0) return 0;
        int e = zmq_errno();
        if ((e != EAGAIN && e != EINTR) || *stop) {
            zmq_msg_close(frame);   /* a zero-copy frame's buffer comes back through release() */
            if (e == EAGAIN || e == EINTR) return 1;
            err_set("zmq_msg_send: %s", zmq_strerror(e));
            return -1;
        }
        zmq_pollitem_t it = {s->sock, 0, ZMQ_POLLOUT, 0};
        if (zmq_poll(&it, 1, POLL_MS) < 0 && zmq_errno() != EINTR) {
            zmq_msg_close(frame);
            err_set("zmq_poll: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
    }
}

int sender_send(sender_t *s, const proto_msg_t *m, const volatile sig_atomic_t *stop, double *ms) {
    slot_t *slot = NULL;
    for (int i = 0; i < s->n && !slot; i++)
        if (!atomic_load(&s->slots[i].busy)) slot = &s->slots[i];
    double t0 = now_s();
    zmq_msg_t frame;
    if (!slot) {   /* every buffer is still held: copy this one */
        TRY(proto_encode(m, &s->spare));
        CHECK(zmq_msg_init_size(&frame, s->spare.len) == 0, "zmq_msg_init_size: %s", zmq_strerror(zmq_errno()));
        memcpy(zmq_msg_data(&frame), s->spare.data, s->spare.len);
    } else {
        TRY(proto_encode(m, &slot->buf));
        atomic_store(&slot->busy, 1);
        if (zmq_msg_init_data(&frame, slot->buf.data, slot->buf.len, release, &slot->busy) != 0) {
            atomic_store(&slot->busy, 0);
            err_set("zmq_msg_init_data: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
    }
    *ms += (now_s() - t0) * 1000.0;
    return send_frame(s, &frame, stop, ms);
}
