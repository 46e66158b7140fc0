/* net_intruder.c: a CURVE client for tests/multihost.sh, written on plain libzmq (not proto/net.c,
 * which it tests). It knows the servers' public keys, as anyone may, and holds a key of its own:
 *
 * Intruder (the default; a key that is not admitted): does what an augmenter and an evaluator do,
 *   - a PUSH to the trainer's batch socket, sending well-formed batches (seq 0, 1, ... with the run's
 *     shape, the images filled with the bytes "INTRUDER"), which the trainer would take if they got in;
 *   - a SUB, subscribed to everything, to a PUB socket: the trainer's checkpoints (or, with --sub-key,
 *     another server's PUB, e.g. the loader's control socket);
 *   for --seconds or until SIGTERM / SIGINT. It reconnects every --reconnect-ms (no back-off, so a
 *   server sees it however late that starts), and comes back with a new socket --reconnect-ms after
 *   each refusal (libzmq itself gives up a connection the server refused). Then it prints on stdout
 *     sent N                 batches ZeroMQ took (queued, at most about --hwm per socket, and dropped
 *                            with the socket when the server refuses it)
 *     attempts A             sends tried (ZMQ_DONTWAIT)
 *     received M             messages that came in on the SUB
 *     handshakes succeeded S handshakes the servers completed (so 0 when it was kept out)
 *     handshakes failed F (R refused by the server's authentication)
 *   and exits 0 when nothing was received and no handshake succeeded, 3 otherwise.
 *
 * Probe (--probe): only the SUB; waits for the outcome of the first handshake, prints "admitted" (exit 0)
 *   or "refused: WHY" (exit 4), or "no handshake" after --seconds (exit 5).
 *
 * 1 or 2: an error (bad flags, a failing libzmq call). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <zmq.h>

#include "common/check.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "proto/net.h"
#include "proto/proto.h"

#define FAIL_EVENTS \
    (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

typedef struct {
    const char *name, *endpoint;
    int type;
    const char *server_key;
    void *sock, *mon;
    int n_opened;
    uint64_t ok, failed, auth, failed_at_open;
    double reopen_at;   /* > 0: closed after a refusal, to be opened again then (now_s()) */
    char last_why[160];
} side_t;

#define SETOPT(s, opt, val, len)                                                                     \
    do {                                                                                             \
        if (zmq_setsockopt(s, opt, val, len) != 0) {                                                 \
            fprintf(stderr, "net_intruder: zmq_setsockopt(" #opt "): %s\n", zmq_strerror(zmq_errno())); \
            return -1;                                                                               \
        }                                                                                            \
    } while (0)

/* A CURVE client socket with a monitor of its handshakes, connected to s->endpoint. */
static int open_side(void *ctx, side_t *s, const char *public_key, const char *secret_key, int hwm, int reconnect_ms) {
    int type = s->type;
    const char *server_key = s->server_key;
    s->sock = zmq_socket(ctx, type);
    if (!s->sock) {
        fprintf(stderr, "net_intruder: zmq_socket: %s\n", zmq_strerror(zmq_errno()));
        return -1;
    }
    int zero = 0, ivl = reconnect_ms;
    SETOPT(s->sock, ZMQ_LINGER, &zero, sizeof zero);
    SETOPT(s->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    SETOPT(s->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    SETOPT(s->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    SETOPT(s->sock, ZMQ_RECONNECT_IVL_MAX, &zero, sizeof zero);   /* 0: no back-off */
    SETOPT(s->sock, ZMQ_CURVE_SERVERKEY, server_key, 40);
    SETOPT(s->sock, ZMQ_CURVE_PUBLICKEY, public_key, 40);
    SETOPT(s->sock, ZMQ_CURVE_SECRETKEY, secret_key, 40);
    if (type == ZMQ_SUB) SETOPT(s->sock, ZMQ_SUBSCRIBE, "", 0);
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://intruder-monitor-%s-%d", s->name, s->n_opened++);
    if (zmq_socket_monitor(s->sock, ep, FAIL_EVENTS | ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0 ||
        !(s->mon = zmq_socket(ctx, ZMQ_PAIR)) || zmq_connect(s->mon, ep) != 0) {
        fprintf(stderr, "net_intruder: monitor of %s: %s\n", s->name, zmq_strerror(zmq_errno()));
        return -1;
    }
    if (zmq_connect(s->sock, s->endpoint) != 0) {
        fprintf(stderr, "net_intruder: connect %s: %s\n", s->endpoint, zmq_strerror(zmq_errno()));
        return -1;
    }
    s->failed_at_open = s->failed;
    s->reopen_at = 0;
    return 0;
}

static void close_side(side_t *s) {
    if (s->sock) zmq_close(s->sock);
    if (s->mon) zmq_close(s->mon);
    s->sock = s->mon = NULL;
}

/* Take the monitor's queued events; 1 when a handshake event came. */
static int drain_events(side_t *s) {
    int any = 0;
    if (!s->mon) return 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return any;
        }
        uint16_t event = 0;
        uint32_t value = 0;
        int first = zmq_msg_size(&m) >= 6;
        if (first) {
            memcpy(&event, zmq_msg_data(&m), 2);
            memcpy(&value, (const char *)zmq_msg_data(&m) + 2, 4);
        }
        int more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        while (more) {   /* the endpoint frame */
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, s->mon, 0) < 0) more = 0;
            else more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        if (!first) continue;
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            s->ok++;
            any = 1;
            LOG_W("%s %s: the handshake SUCCEEDED", s->name, s->endpoint);
        } else if (event & FAIL_EVENTS) {
            s->failed++;
            any = 1;
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
                s->auth++;
                snprintf(s->last_why, sizeof s->last_why, "authentication refused (ZAP status %u)", value);
            } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
                snprintf(s->last_why, sizeof s->last_why, "protocol error 0x%08x", value);
            else snprintf(s->last_why, sizeof s->last_why, "handshake failed: %s", zmq_strerror((int)value));
            if (s->failed <= 3) LOG_I("%s %s: %s", s->name, s->endpoint, s->last_why);
        }
    }
}

int main(int argc, char **argv) {
    const char *key = NULL, *trainer_key = NULL, *sub_key = NULL, *batches = NULL, *sub_ep = NULL,
               *level = "info";
    double seconds = 10.0;
    int height = 0, width = 0, batch = 0, steps = 0, seqs = 16, hwm = 4, interval_ms = 10, reconnect_ms = 100,
        probe = 0;
    const cli_opt_t opts[] = {
        {"key", CLI_STR, &key, NULL, "FILE", "this client's CURVE secret key (keygen's NAME.key)"},
        {"trainer-key", CLI_STR, &trainer_key, NULL, "FILE", "the trainer's public key"},
        {"batches", CLI_STR, &batches, NULL, "ENDPOINT", "the trainer's batch socket (PUSH batches to it)"},
        {"checkpoints", CLI_STR, &sub_ep, NULL, "ENDPOINT", "a PUB socket to subscribe to (the trainer's checkpoints)"},
        {"sub-key", CLI_STR, &sub_key, NULL, "FILE",
         "the public key of the server of --checkpoints when it is not the trainer (e.g. the loader's)"},
        {"probe", CLI_BOOL, &probe, NULL, NULL,
         "only subscribe, and report whether the first handshake is admitted or refused"},
        {"seconds", CLI_F64, &seconds, NULL, "S", "how long to go on (SIGTERM ends it sooner)"},
        {"height", CLI_INT, &height, NULL, "H", "image height of the batches (the run's)"},
        {"width", CLI_INT, &width, NULL, "W", "image width of the batches (the run's)"},
        {"batch", CLI_INT, &batch, NULL, "B", "images per batch (the run's)"},
        {"steps-per-epoch", CLI_INT, &steps, NULL, "N", "batches per epoch, for the batches' epoch and step; 0: all epoch 0"},
        {"seqs", CLI_INT, &seqs, NULL, "N", "send seq 0..N-1, then again"},
        {"hwm", CLI_INT, &hwm, NULL, "N", "high-water marks of the sockets"},
        {"interval-ms", CLI_INT, &interval_ms, NULL, "MS", "pause between two sends"},
        {"reconnect-ms", CLI_INT, &reconnect_ms, NULL, "MS", "reconnect interval, without back-off"},
        {"log-level", CLI_STR, &level, NULL, "LEVEL", "debug, info, warn or error"},
    };
    int rc = cli_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]),
                       "--key FILE --trainer-key FILE --batches EP --checkpoints EP --height H --width W --batch B\n"
                       "       net_intruder --probe --key FILE --trainer-key FILE --checkpoints EP",
                       "A CURVE client that pushes batches to the trainer and subscribes to a PUB socket, then "
                       "prints what got\nthrough; or (--probe) says whether the server admits its key "
                       "(tests/multihost.sh).",
                       NULL);
    if (rc == 1) return 0;
    if (rc < 0) return 2;
    if (log_setup(probe ? "probe" : "intruder", level) != 0) return 2;
    if (!key || !(trainer_key || sub_key) || !sub_ep || (!probe && (!trainer_key || !batches)) ||
        (!probe && (height < 1 || width < 1 || batch < 1 || batch > PROTO_MAX_MEMBERS)) || seqs < 1 || hwm < 1 ||
        interval_ms < 1 || reconnect_ms < 1 || seconds <= 0) {
        fprintf(stderr, "net_intruder: missing or bad flags (see --help)\n");
        return 2;
    }
    char secret[41], public_[41], trainer[41] = "", sub_server[41];
    if (net_read_key(key, secret) != 0 || (trainer_key && net_read_key(trainer_key, trainer) != 0) ||
        (sub_key && net_read_key(sub_key, sub_server) != 0)) {
        fprintf(stderr, "net_intruder: %s\n", err_msg());
        return 2;
    }
    if (!sub_key) memcpy(sub_server, trainer, sizeof trainer);
    if (zmq_curve_public(public_, secret) != 0) {
        fprintf(stderr, "net_intruder: zmq_curve_public: %s\n", zmq_strerror(zmq_errno()));
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    pid_t parent = getppid();   /* as the stages do with PAWPIPE_DIE_WITH_PARENT=1: a test's processes end with it */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) == 0 && getppid() != parent) g_stop = 1;

    void *ctx = zmq_ctx_new();
    side_t push = {.name = "batches", .endpoint = batches, .type = ZMQ_PUSH},
           sub = {.name = "checkpoints", .endpoint = sub_ep, .type = ZMQ_SUB};
    int status = 1;
    proto_msg_t *m = calloc(1, sizeof *m);
    size_t image_bytes = (size_t)batch * (size_t)height * (size_t)width * 3;
    uint8_t *images = probe ? NULL : malloc(image_bytes);
    proto_buf_t enc = {0};
    zmq_msg_t in;
    zmq_msg_init(&in);
    if (!ctx || !m || (!probe && !images)) {
        fprintf(stderr, "net_intruder: out of memory\n");
        goto done;
    }
    if (!probe) {
        for (size_t i = 0; i < image_bytes; i++) images[i] = (uint8_t)"INTRUDER"[i % 8];
        push.server_key = trainer;
        if (open_side(ctx, &push, public_, secret, hwm, reconnect_ms) != 0) goto done;
    }
    sub.server_key = sub_server;
    if (open_side(ctx, &sub, public_, secret, hwm, reconnect_ms) != 0) goto done;
    if (probe) LOG_I("probing %s with the key of %s", sub_ep, key);
    else LOG_I("pushing %dx%dx%dx3 batches to %s, subscribed to %s, for %.1f s", batch, height, width, batches, sub_ep,
               seconds);
    uint64_t sent = 0, attempts = 0, received = 0;
    double t_end = now_s() + seconds;
    for (uint64_t i = 0; !g_stop && now_s() < t_end; i++) {
        if (!probe) {
            uint64_t seq = i % (uint64_t)seqs;
            proto_batch_t *b = &m->batch;
            m->kind = PROTO_BATCH;
            memset(b, 0, sizeof *b);
            b->seq = seq;
            b->epoch = steps > 0 ? (uint32_t)(seq / (uint64_t)steps) : 0;
            b->step = steps > 0 ? (uint32_t)(seq % (uint64_t)steps) : (uint32_t)seq;
            b->n = (uint32_t)batch;
            b->height = (uint32_t)height;
            b->width = (uint32_t)width;
            b->channels = 3;
            b->images = images;
            b->images_len = image_bytes;
            for (int k = 0; k < batch; k++) {
                b->labels[k] = (uint8_t)(k & 1);
                b->ids[k] = (uint32_t)k;
            }
            b->work_ms = 1.0;
            if (proto_encode(m, &enc) != 0) {
                fprintf(stderr, "net_intruder: proto_encode: %s\n", err_msg());
                goto done;
            }
            attempts++;
            if (!push.sock) {
            } else if (zmq_send(push.sock, enc.data, enc.len, ZMQ_DONTWAIT) >= 0) sent++;
            else if (zmq_errno() != EAGAIN && zmq_errno() != EINTR) {
                fprintf(stderr, "net_intruder: send: %s\n", zmq_strerror(zmq_errno()));
                goto done;
            }
        }
        zmq_pollitem_t items[3];
        int n_items = 0;
        if (sub.sock) {
            items[n_items++] = (zmq_pollitem_t){.socket = sub.sock, .events = ZMQ_POLLIN};
            items[n_items++] = (zmq_pollitem_t){.socket = sub.mon, .events = ZMQ_POLLIN};
        }
        if (push.mon) items[n_items++] = (zmq_pollitem_t){.socket = push.mon, .events = ZMQ_POLLIN};
        if (zmq_poll(items, n_items, interval_ms) < 0 && zmq_errno() != EINTR) {
            fprintf(stderr, "net_intruder: zmq_poll: %s\n", zmq_strerror(zmq_errno()));
            goto done;
        }
        while (sub.sock && zmq_msg_recv(&in, sub.sock, ZMQ_DONTWAIT) >= 0) {
            received++;
            if (received <= 3) LOG_W("received a %zu-byte message on %s", zmq_msg_size(&in), sub_ep);
        }
        int ev = drain_events(&sub);
        if (!probe) drain_events(&push);
        if (probe && ev) break;
        /* libzmq gives up a connection the server refused (it does not reconnect after a protocol
         * error): an intruder comes back with a new socket */
        side_t *sides[2] = {&sub, &push};
        for (int k = 0; !probe && k < 2; k++) {
            side_t *s = sides[k];
            if (s->sock && s->failed > s->failed_at_open) {
                close_side(s);
                s->reopen_at = now_s() + reconnect_ms / 1000.0;
            } else if (!s->sock && s->reopen_at > 0 && now_s() >= s->reopen_at &&
                       open_side(ctx, s, public_, secret, hwm, reconnect_ms) != 0)
                goto done;
        }
    }
    if (probe) {
        if (sub.ok) printf("admitted\n");
        else if (sub.failed) printf("refused: %s\n", sub.last_why);
        else printf("no handshake in %.1f s\n", seconds);
        status = sub.ok ? 0 : sub.failed ? 4 : 5;
    } else {
        drain_events(&sub);
        drain_events(&push);
        printf("sent %" PRIu64 "\nattempts %" PRIu64 "\nreceived %" PRIu64 "\nhandshakes succeeded %" PRIu64
               "\nhandshakes failed %" PRIu64 " (%" PRIu64 " refused by the server's authentication)\n",
               sent, attempts, received, push.ok + sub.ok, push.failed + sub.failed, push.auth + sub.auth);
        LOG_I("batches: %" PRIu64 " handshakes failed (%" PRIu64 " refused), %" PRIu64
              " succeeded; checkpoints: %" PRIu64 " failed (%" PRIu64 " refused), %" PRIu64 " succeeded",
              push.failed, push.auth, push.ok, sub.failed, sub.auth, sub.ok);
        status = received == 0 && push.ok + sub.ok == 0 ? 0 : 3;
    }
    fflush(stdout);
done:
    zmq_msg_close(&in);
    close_side(&push);
    close_side(&sub);
    if (ctx) zmq_ctx_term(ctx);
    proto_buf_free(&enc);
    free(images);
    free(m);
    return status;
}
