/* stream_curve.c: throughput and CPU cost of the augmenter -> trainer batch stream over
 * tcp://127.0.0.1, with and without ZeroMQ CURVE encryption, in one process.
 *
 * The main thread plays the trainer: a PULL socket bound to tcp://127.0.0.1:* (the port read back
 * from ZMQ_LAST_ENDPOINT) in a context of its own. K sender threads play the augmenters: each has its
 * own context and a PUSH socket connected to it, and sends one frame of batch-sized bytes (B x 150 x
 * 150 x 3 + a 200-byte header) over and over, zero-copy from one buffer allocated and filled once
 * (zmq_send_const; the augmenter's sender.c is zero-copy too). The receiver takes every frame into
 * one reused zmq_msg_t. Socket options as proto/sock.c (linger 0, IPv6 off), SNDHWM 2 as the
 * augmenter's batches socket, RCVHWM 4 to bound the memory queued at the receiver.
 *
 * With CURVE the PULL side is the server (ZMQ_CURVE_SERVER, its secret key) and every PUSH a client
 * (the server's public key, its own key pair); no ZAP handler. CURVE runs in ZeroMQ's I/O threads,
 * each connection on one of them, so the I/O threads are the cost to watch. The receiver's context
 * names its I/O threads "1/ZMQbg/IO/n" and the senders' "2/ZMQbg/IO/n" (ZMQ_THREAD_NAME_PREFIX), so
 * proc_threads_cpu_ms() gives each side's share.
 *
 * After a warm-up of 0.5 s it measures for --seconds (or --messages) and prints one row per
 * configuration: batches/s, GB/s (10^9 bytes), and per batch the CPU ms of the receiver's and the
 * senders' I/O threads and of the whole process (getrusage: user + system, all threads). With --both
 * it measures plain and CURVE one after the other and prints the ratio of their rates. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zmq.h>

#include "common/check.h"
#include "common/cli.h"
#include "common/proc.h"
#include "common/timeutil.h"

#define HEADER_BYTES 200
#define WARMUP_S 0.5
#define SNDHWM 2            /* augmenter/augmenter.c BATCHES_HWM */
#define RCVHWM 4
#define IDLE_LIMIT_S 10.0   /* no frame for this long: give up (e.g. a failed CURVE handshake) */

typedef struct {
    int curve, io_threads, batch, senders, messages;
    double seconds;
} conf_t;

typedef struct {
    double rate, gbs, rx_io_ms, tx_io_ms, proc_ms; /* batches/s, GB/s, CPU ms per batch */
    long n;
} result_t;

typedef struct {
    void *ctx, *sock;
    const void *buf;
    size_t len;
    atomic_int *stop;
    pthread_t tid;
    int err;                 /* errno of a failed send, 0 if none */
} sender_t;

static double rusage_ms(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-3;
}

/* A context with N I/O threads whose names start with "<prefix>/ZMQbg". */
static void *ctx_new(int io_threads, int prefix) {
    void *ctx = zmq_ctx_new();
    if (!ctx) {
        err_set("zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    if (zmq_ctx_set(ctx, ZMQ_IO_THREADS, io_threads) != 0 || zmq_ctx_set(ctx, ZMQ_THREAD_NAME_PREFIX, prefix) != 0) {
        err_set("zmq_ctx_set: %s", zmq_strerror(zmq_errno()));
        zmq_ctx_term(ctx);
        return NULL;
    }
    return ctx;
}

/* A socket with proto/sock.c's options, an HWM, and CURVE keys when server_pub is given: the server's
 * secret key (bind) or the server's public key + a fresh key pair (connect). */
static void *sock_new(void *ctx, int type, int hwm, const char *server_pub, const char *server_sec) {
    void *s = zmq_socket(ctx, type);
    if (!s) {
        err_set("zmq_socket: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    int zero = 0, one = 1, rc = 0, ms = 1000;
    rc |= zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    rc |= zmq_setsockopt(s, ZMQ_IPV6, &zero, sizeof zero);
    rc |= zmq_setsockopt(s, type == ZMQ_PUSH ? ZMQ_SNDHWM : ZMQ_RCVHWM, &hwm, sizeof hwm);
    rc |= zmq_setsockopt(s, type == ZMQ_PUSH ? ZMQ_SNDTIMEO : ZMQ_RCVTIMEO, &ms, sizeof ms);
    if (server_pub && type == ZMQ_PULL) {
        rc |= zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one);
        rc |= zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, server_sec, 40);
    } else if (server_pub) {
        char pub[41], sec[41];
        rc |= zmq_curve_keypair(pub, sec);
        rc |= zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_pub, 40);
        rc |= zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40);
        rc |= zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40);
    }
    if (rc != 0) {
        err_set("socket options%s: %s", server_pub ? " (CURVE)" : "", zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    return s;
}

static void *send_loop(void *arg) {
    sender_t *s = arg;
    while (!atomic_load(s->stop)) {
        if (zmq_send_const(s->sock, s->buf, s->len, 0) >= 0) continue;
        int e = zmq_errno();
        if (e == EAGAIN || e == EINTR) continue;   /* the 1 s send timeout: look at the stop flag */
        s->err = e;
        break;
    }
    return NULL;
}

/* One configuration: set up, warm up, measure, tear down. 0 / -1 + err_msg(). */
static int run(const conf_t *c, const void *buf, size_t len, result_t *r) {
    char pub[41] = "", sec[41] = "", endpoint[128] = "";
    if (c->curve) CHECK(zmq_curve_keypair(pub, sec) == 0, "zmq_curve_keypair: %s", zmq_strerror(zmq_errno()));
    atomic_int stop = 0;
    int rc = -1, started = 0;
    size_t ep_len = sizeof endpoint;
    sender_t *tx = calloc((size_t)c->senders, sizeof *tx);
    void *rx_ctx = ctx_new(c->io_threads, 1), *pull = NULL;
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    CHECK_GOTO(tx != NULL, out, "out of memory");
    if (!rx_ctx || !(pull = sock_new(rx_ctx, ZMQ_PULL, RCVHWM, c->curve ? pub : NULL, sec))) goto out;
    CHECK_GOTO(zmq_bind(pull, "tcp://127.0.0.1:*") == 0, out, "bind tcp://127.0.0.1:*: %s", zmq_strerror(zmq_errno()));
    CHECK_GOTO(zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, endpoint, &ep_len) == 0, out, "ZMQ_LAST_ENDPOINT");
    for (int i = 0; i < c->senders; i++) {
        sender_t *s = &tx[i];
        *s = (sender_t){.buf = buf, .len = len, .stop = &stop};
        if (!(s->ctx = ctx_new(c->io_threads, 2))) goto out;
        if (!(s->sock = sock_new(s->ctx, ZMQ_PUSH, SNDHWM, c->curve ? pub : NULL, NULL))) goto out;
        CHECK_GOTO(zmq_connect(s->sock, endpoint) == 0, out, "connect %s: %s", endpoint, zmq_strerror(zmq_errno()));
        CHECK_GOTO(pthread_create(&s->tid, NULL, send_loop, s) == 0, out, "pthread_create");
        started++;
    }
    /* warm-up from the first frame; then measure between two frames */
    double t_first = 0, t0 = 0, t1 = 0, last = now_s(), rx0 = 0, tx0 = 0, p0 = 0;
    long n = -1;
    for (;;) {
        if (zmq_msg_recv(&frame, pull, 0) < 0) {
            int e = zmq_errno();
            CHECK_GOTO(e == EAGAIN || e == EINTR, out, "zmq_msg_recv: %s", zmq_strerror(e));
            CHECK_GOTO(now_s() - last < IDLE_LIMIT_S, out, "no batch for %.0f s%s", IDLE_LIMIT_S,
                       c->curve ? " (CURVE handshake failed?)" : "");
            continue;
        }
        CHECK_GOTO(zmq_msg_size(&frame) == len, out, "received %zu bytes, sent %zu", zmq_msg_size(&frame), len);
        last = now_s();
        if (t_first == 0) t_first = last;
        if (n < 0) {   /* warming up */
            if (last - t_first < WARMUP_S) continue;
            n = 0, t0 = last;
            rx0 = proc_threads_cpu_ms("1/ZMQbg"), tx0 = proc_threads_cpu_ms("2/ZMQbg"), p0 = rusage_ms();
            continue;
        }
        n++;
        if (c->messages > 0 ? n >= c->messages : last - t0 >= c->seconds) break;
    }
    t1 = last;
    r->n = n;
    r->rate = (double)n / (t1 - t0);
    r->gbs = r->rate * (double)len * 1e-9;
    r->rx_io_ms = (proc_threads_cpu_ms("1/ZMQbg") - rx0) / (double)n;
    r->tx_io_ms = (proc_threads_cpu_ms("2/ZMQbg") - tx0) / (double)n;
    r->proc_ms = (rusage_ms() - p0) / (double)n;
    rc = 0;
out:
    atomic_store(&stop, 1);
    for (int i = 0; i < started; i++) {
        pthread_join(tx[i].tid, NULL);
        if (tx[i].err && rc == 0) {
            err_set("sender %d: zmq_send_const: %s", i, zmq_strerror(tx[i].err));
            rc = -1;
        }
    }
    zmq_msg_close(&frame);
    if (pull) zmq_close(pull);
    for (int i = 0; tx && i < c->senders; i++) {
        if (tx[i].sock) zmq_close(tx[i].sock);
        if (tx[i].ctx) zmq_ctx_term(tx[i].ctx);   /* after it returns, ZeroMQ no longer reads buf */
    }
    if (rx_ctx) zmq_ctx_term(rx_ctx);
    free(tx);
    return rc;
}

static void print_row(const conf_t *c, size_t len, const result_t *r) {
    printf("%-5s %5d %9zu %7d %3d %6ld %9.1f %6.3f %8.2f %8.2f %8.2f\n", c->curve ? "on" : "off", c->batch, len,
           c->senders, c->io_threads, r->n, r->rate, r->gbs, r->rx_io_ms, r->tx_io_ms, r->proc_ms);
    fflush(stdout);
}

int main(int argc, char **argv) {
    conf_t c = {.io_threads = 1, .batch = 20, .senders = 1, .seconds = 3.0};
    int both = 0, header = 1, first = 0;
    const cli_opt_t opts[] = {
        {"curve", CLI_BOOL, &c.curve, NULL, NULL, "encrypt the stream with CURVE (default: plain)"},
        {"both", CLI_BOOL, &both, NULL, NULL, "measure plain, then CURVE, and print the ratio of their rates"},
        {"batch", CLI_INT, &c.batch, NULL, "B", "images per batch: frames of B x 150 x 150 x 3 + 200 bytes"},
        {"io-threads", CLI_INT, &c.io_threads, NULL, "N", "ZMQ_IO_THREADS of every context (receiver's and each sender's)"},
        {"senders", CLI_INT, &c.senders, NULL, "K", "PUSH sockets (threads, each with its own context) to the one PULL"},
        {"seconds", CLI_F64, &c.seconds, NULL, "S", "measured time per configuration, after a 0.5 s warm-up"},
        {"messages", CLI_INT, &c.messages, NULL, "N", "measure N batches instead of --seconds (0: use --seconds)"},
        {"header", CLI_INT, &header, NULL, "0|1", "print the column header line (starts with '#')"},
    };
    int rc = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), "[flags]",
                       "Batches/s, GB/s and CPU per batch of a PUSH -> PULL batch stream over tcp://127.0.0.1, "
                       "plain and/or with ZeroMQ CURVE.",
                       &first);
    if (rc != 0) return rc > 0 ? 0 : 2;
    const char *bad = first != argc                          ? "no positional arguments are taken"
                      : c.batch < 1 || c.batch > 4096        ? "--batch: 1 to 4096"
                      : c.io_threads < 1 || c.io_threads > 64 ? "--io-threads: 1 to 64"
                      : c.senders < 1 || c.senders > 64      ? "--senders: 1 to 64"
                      : c.messages < 0                       ? "--messages: 0 or more"
                      : !(c.seconds > 0 && c.seconds <= 3600) ? "--seconds: more than 0, at most 3600"
                                                             : NULL;
    if (bad) {
        fprintf(stderr, "error: %s (see --help)\n", bad);
        return 2;
    }
    if ((c.curve || both) && !zmq_has("curve")) {
        fprintf(stderr, "error: this libzmq was built without CURVE\n");
        return 1;
    }
    if (proc_keep_heap() != 0) {   /* as the stages: ZeroMQ's per-frame blocks (CURVE's too) stay in the heap */
        fprintf(stderr, "error: %s\n", err_msg());
        return 1;
    }
    size_t len = (size_t)c.batch * 150 * 150 * 3 + HEADER_BYTES;
    unsigned char *buf = malloc(len);
    if (!buf) {
        fprintf(stderr, "error: out of memory (%zu bytes)\n", len);
        return 1;
    }
    for (size_t i = 0; i < len; i++) buf[i] = (unsigned char)(i * 2654435761u >> 13);   /* touched once */
    if (header)
        printf("# curve batch     bytes senders io    n batches/s   GB/s rx-io-ms tx-io-ms  proc-ms  (CPU ms per batch)\n");
    result_t res[2];
    int n_runs = both ? 2 : 1;
    for (int i = 0; i < n_runs; i++) {
        if (both) c.curve = i;
        if (run(&c, buf, len, &res[i]) != 0) {
            fprintf(stderr, "error: curve %s, batch %d, %d sender(s), %d I/O thread(s): %s\n", c.curve ? "on" : "off",
                    c.batch, c.senders, c.io_threads, err_msg());
            free(buf);
            return 1;
        }
        print_row(&c, len, &res[i]);
    }
    if (both)
        printf("# ratio curve/plain: %.3f (batches/s), CPU per batch x%.2f (process)\n", res[1].rate / res[0].rate,
               res[1].proc_ms / res[0].proc_ms);
    free(buf);
    return 0;
}
