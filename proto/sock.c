/* sock.c: ZeroMQ socket set-up and whole-message send / receive with the codec (see sock.h). */
#include <errno.h>

#include "common/check.h"
#include "common/timeutil.h"
#include "proto/sock.h"

void *sock_open(void *zctx, int type, const char *endpoint, int hwm, int bind, sock_setup_fn setup, void *arg) {
    const char *verb = bind ? "binding" : "connecting to";
    if (!zctx || !endpoint) {
        err_set("%s a socket: no context or endpoint", verb);
        return NULL;
    }
    void *s = zmq_socket(zctx, type);
    if (!s) {
        err_set("zmq_socket(type %d) for %s: %s", type, endpoint, zmq_strerror(zmq_errno()));
        return NULL;
    }
    int zero = 0, rc = 0;
    const char *what = "ZMQ_LINGER";
    rc = zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (rc == 0) what = "ZMQ_IPV6", rc = zmq_setsockopt(s, ZMQ_IPV6, &zero, sizeof zero);
    if (rc == 0 && hwm > 0) what = "ZMQ_SNDHWM", rc = zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (rc == 0 && hwm > 0) what = "ZMQ_RCVHWM", rc = zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    int ivl_max = SOCK_RECONNECT_MAX_MS;
    if (rc == 0 && !bind)
        what = "ZMQ_RECONNECT_IVL_MAX", rc = zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    if (rc != 0) goto zfail;
    if (setup && setup(s, arg) != 0) {
        err_prepend("%s %s", verb, endpoint);
        zmq_close(s);
        return NULL;
    }
    what = NULL;   /* the bind or connect itself: its error says enough */
    rc = bind ? zmq_bind(s, endpoint) : zmq_connect(s, endpoint);
    if (rc != 0) goto zfail;
    return s;
zfail:
    if (what) err_set("%s %s: %s: %s", verb, endpoint, what, zmq_strerror(zmq_errno()));
    else err_set("%s %s: %s", verb, endpoint, zmq_strerror(zmq_errno()));
    zmq_close(s);
    return NULL;
}

int sock_ctx_open(void *given, void **zctx, int *own) {
    *own = 0;
    *zctx = given;
    if (given) return 0;
    *zctx = zmq_ctx_new();
    CHECK(*zctx != NULL, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
    *own = 1;
    return 0;
}

void sock_ctx_close(void **zctx, int own) {
    if (own && *zctx) zmq_ctx_term(*zctx);
    *zctx = NULL;
}

void *sock_bind(void *zctx, int type, const char *endpoint, int hwm) {
    return sock_open(zctx, type, endpoint, hwm, 1, NULL, NULL);
}

void *sock_connect(void *zctx, int type, const char *endpoint, int hwm) {
    return sock_open(zctx, type, endpoint, hwm, 0, NULL, NULL);
}

void sock_close(void **sock) {
    if (sock && *sock) {
        zmq_close(*sock); /* fails only for a socket that is not one: nothing to do then */
        *sock = NULL;
    }
}

int sock_send(void *sock, const proto_msg_t *m, proto_buf_t *scratch, int flags) {
    CHECK(sock != NULL && scratch != NULL);
    CHECK(flags == 0 || flags == ZMQ_DONTWAIT, "sock_send: flags %d", flags);
    TRY(proto_encode(m, scratch));
    for (;;) {
        if (zmq_send(sock, scratch->data, scratch->len, flags) >= 0) return 0;
        int e = zmq_errno();
        if (e == EINTR) continue;
        if (e == EAGAIN && flags == ZMQ_DONTWAIT) return 1;
        err_set("zmq_send(%s, %zu bytes): %s", proto_kind_name(m->kind), scratch->len, zmq_strerror(e));
        return -1;
    }
}

int sock_announce_end(void *pub, proto_buf_t *scratch, uint64_t steps, uint32_t epochs) {
    proto_msg_t m = {.kind = PROTO_CONTROL};
    m.control = (proto_control_t){.op = PROTO_CTRL_END_RUN, .seq = steps, .epochs = epochs};
    for (int t = 0; t < SOCK_ANNOUNCE_MS; t += 100) {
        TRY(sock_send(pub, &m, scratch, ZMQ_DONTWAIT) < 0 ? -1 : 0);
        sleep_ms(100);
    }
    /* the sockets have linger 0: give the I/O thread the time to pass the last ones on */
    int linger = SOCK_ANNOUNCE_MS;
    CHECK(zmq_setsockopt(pub, ZMQ_LINGER, &linger, sizeof linger) == 0, "ZMQ_LINGER: %s", zmq_strerror(zmq_errno()));
    return 0;
}

int sock_is_run_end(const proto_msg_t *m) { return m->kind == PROTO_CONTROL && m->control.op == PROTO_CTRL_END_RUN; }

int sock_recv(void *sock, zmq_msg_t *frame, const proto_limits_t *lim, proto_msg_t *out, int timeout_ms) {
    if (!sock || !frame || !out) {
        err_set("sock_recv: no socket, frame or output");
        return -2;
    }
    zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
    int rc = zmq_poll(&item, 1, timeout_ms < 0 ? -1 : timeout_ms);
    if (rc < 0) {
        int e = zmq_errno();
        if (e == EINTR) return 0;
        err_set("zmq_poll: %s", zmq_strerror(e));
        return -2;
    }
    if (rc == 0 || !(item.revents & ZMQ_POLLIN)) return 0;
    if (zmq_msg_recv(frame, sock, ZMQ_DONTWAIT) < 0) {
        int e = zmq_errno();
        if (e == EAGAIN || e == EINTR) return 0;
        err_set("zmq_msg_recv: %s", zmq_strerror(e));
        return -2;
    }
    if (zmq_msg_more(frame)) { /* one message is one frame: drop the rest of a multi-part one */
        size_t parts = 1;
        while (zmq_msg_more(frame)) {
            if (zmq_msg_recv(frame, sock, 0) < 0) {
                err_set("zmq_msg_recv (rest of a multi-part message): %s", zmq_strerror(zmq_errno()));
                return -2;
            }
            parts++;
        }
        err_set("a multi-part message (%zu parts): one message must be one frame", parts);
        return -1;
    }
    if (proto_decode(zmq_msg_data(frame), zmq_msg_size(frame), lim, out) != 0) return -1;
    return 1;
}
