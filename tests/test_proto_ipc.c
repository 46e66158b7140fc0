/* test_proto_ipc.c: sock.h between two processes over ipc://. A forked child PUSHes a bad frame, a
 * multi-part message, a job, a 2 MB batch and END_RUN; the parent PULLs, decodes and compares them,
 * and answers with a credit on a second socket, which the child checks. Every wait is bounded: a
 * silent peer makes the test fail, never hang. Also: timeouts, a full send, a terminated context, a
 * stage's own or given context. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/check.h"
#include "common/timeutil.h"
#include "proto/sock.h"
#include "test.h"
#include "test_proto_samples.h"
#include "testlib.h"

#define WAIT_MS 10000           /* any single wait for the peer */
#define BATCH_SEQ 77

static char g_dir[256], g_up[300], g_down[300]; /* ipc endpoints: child -> parent, parent -> child */
static proto_msg_t g_msg, g_want;
static uint8_t g_px[32 * 150 * 150 * 3], g_px_want[sizeof g_px];

/* The child: returns its exit code (0 when the parent's credit named the batch). */
static int child(void) {
    int code = 10;
    proto_buf_t buf = {0};
    void *ctx = zmq_ctx_new();
    void *push = ctx ? sock_connect(ctx, ZMQ_PUSH, g_up, 0) : NULL;
    void *pull = push ? sock_connect(ctx, ZMQ_PULL, g_down, 0) : NULL;
    if (!pull) goto done;
    code = 11;
    if (zmq_send(push, "\x92\x01\x02", 3, 0) != 3) goto done;              /* a bad frame: [1, 2]  */
    if (zmq_send(push, "a", 1, ZMQ_SNDMORE) != 1 || zmq_send(push, "b", 1, 0) != 1) goto done; /* 2 parts */
    code = 12;
    sample_msg(0, &g_msg);
    if (sock_send(push, &g_msg, &buf, 0) != 0) goto done;
    sample_batch(&g_msg, BATCH_SEQ, 32, 150, 150, 3, g_px);
    if (sock_send(push, &g_msg, &buf, 0) != 0) goto done;
    g_msg = (proto_msg_t){.kind = PROTO_CONTROL, .control = {.op = PROTO_CTRL_END_RUN, .seq = BATCH_SEQ + 1, .epoch = 11}};
    if (sock_send(push, &g_msg, &buf, 0) != 0) goto done;
    code = 13;
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    int rc = sock_recv(pull, &frame, NULL, &g_msg, WAIT_MS);
    if (rc == 1 && g_msg.kind == PROTO_CREDIT && g_msg.credit.seq == BATCH_SEQ) code = 0;
    else fprintf(stderr, "  child: sock_recv %d (%s)\n", rc, rc < 0 ? err_msg() : "");
    zmq_msg_close(&frame);
done:
    if (code) fprintf(stderr, "  child: failed with %d: %s\n", code, err_msg());
    sock_close(&pull);
    sock_close(&push);
    if (ctx) zmq_ctx_term(ctx);
    proto_buf_free(&buf);
    return code;
}

TEST(two_processes_push_pull_and_credit) {
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(child());

    void *ctx = zmq_ctx_new();
    void *pull = sock_bind(ctx, ZMQ_PULL, g_up, 4);
    void *push = sock_bind(ctx, ZMQ_PUSH, g_down, 4);
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    proto_buf_t buf = {0};
    if (!pull || !push) fprintf(stderr, "  %s\n", err_msg());
    EXPECT(pull && push);
    /* The child sends, in order: a bad frame, a multi-part message, a job, a batch, END_RUN. The first
     * wait that ends without a frame ends the exchange: a silent peer fails the test in WAIT_MS. */
    int ok = pull && push;
    double t0 = now_ms();
    for (int i = 0; ok && i < 5; i++) {
        int rc = sock_recv(pull, &frame, NULL, &g_msg, WAIT_MS);
        if (rc == 0) {
            fprintf(stderr, "  no frame %d within %d ms: the peer is silent\n", i, WAIT_MS);
            ok = 0;
            break;
        }
        const uint8_t *lo = zmq_msg_data(&frame), *hi = lo + zmq_msg_size(&frame);
        switch (i) {
        case 0: EXPECT(rc == -1 && strstr(err_msg(), "not a map")); break;
        case 1: EXPECT(rc == -1 && strstr(err_msg(), "multi-part message (2 parts)")); break;
        case 2:
            sample_msg(0, &g_want);
            EXPECT(rc == 1 && g_msg.kind == PROTO_JOB && msg_equal(&g_want, &g_msg));
            EXPECT(rc == 1 && g_msg.job.members[0].data >= lo && g_msg.job.members[0].data < hi); /* in place */
            break;
        case 3:
            sample_batch(&g_want, BATCH_SEQ, 32, 150, 150, 3, g_px_want);
            EXPECT(rc == 1 && g_msg.kind == PROTO_BATCH && msg_equal(&g_want, &g_msg));
            break;
        case 4:
            EXPECT(rc == 1 && g_msg.kind == PROTO_CONTROL && g_msg.control.op == PROTO_CTRL_END_RUN &&
                   g_msg.control.seq == BATCH_SEQ + 1 && g_msg.control.epoch == 11);
            break;
        }
    }
    if (ok) {
        fprintf(stderr, "  received 5 frames in %.1f ms\n", now_ms() - t0);
        /* the credit, without blocking on a peer that may be gone: retried until the deadline */
        g_msg = (proto_msg_t){.kind = PROTO_CREDIT, .credit = {.seq = BATCH_SEQ}};
        double end = now_ms() + WAIT_MS;
        int rc;
        while ((rc = sock_send(push, &g_msg, &buf, ZMQ_DONTWAIT)) == 1 && now_ms() < end) {
            struct timespec ts = {0, 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        EXPECT(rc == 0);
        ok = rc == 0;
    }
    EXPECT(ok);
    int st = 0;   /* a failed exchange: kill the child now */
    EXPECT(tl_wait(pid, ok ? WAIT_MS + 5000 : 0, &st) == 0);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    zmq_msg_close(&frame);
    sock_close(&pull);
    sock_close(&push);
    EXPECT(pull == NULL && push == NULL);
    zmq_ctx_term(ctx);
    proto_buf_free(&buf);
}

/* Nobody sends: sock_recv returns 0 after about the timeout. */
TEST(silent_peer_times_out) {
    void *ctx = zmq_ctx_new();
    char ep[320];
    snprintf(ep, sizeof ep, "%s-silent", g_up);
    void *pull = sock_bind(ctx, ZMQ_PULL, ep, 0);
    REQUIRE(pull != NULL);
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    double t0 = now_ms();
    EXPECT(sock_recv(pull, &frame, NULL, &g_msg, 150) == 0);
    double dt = now_ms() - t0;
    EXPECT(dt >= 140 && dt < 3000);
    EXPECT(sock_recv(pull, &frame, NULL, &g_msg, 0) == 0);
    zmq_msg_close(&frame);
    sock_close(&pull);
    zmq_ctx_term(ctx);
}

/* A PUSH without a peer cannot send: ZMQ_DONTWAIT says so with 1. */
TEST(send_would_block) {
    void *ctx = zmq_ctx_new();
    char ep[320];
    snprintf(ep, sizeof ep, "%s-nopeer", g_down);
    void *push = sock_bind(ctx, ZMQ_PUSH, ep, 1);
    REQUIRE(push != NULL);
    proto_buf_t buf = {0};
    sample_msg(3, &g_msg);
    EXPECT(sock_send(push, &g_msg, &buf, ZMQ_DONTWAIT) == 1);
    EXPECT(sock_send(push, &g_msg, &buf, 7) == -1);
    g_msg.kind = 0;
    EXPECT(sock_send(push, &g_msg, &buf, ZMQ_DONTWAIT) == -1 && strstr(err_msg(), "unknown message kind"));
    sock_close(&push);
    sock_close(&push); /* NULL is fine */
    zmq_ctx_term(ctx);
    proto_buf_free(&buf);
}

/* A terminated context: the socket itself failed, -2. */
TEST(terminated_context) {
    void *ctx = zmq_ctx_new();
    char ep[320];
    snprintf(ep, sizeof ep, "%s-term", g_up);
    void *pull = sock_bind(ctx, ZMQ_PULL, ep, 0);
    REQUIRE(pull != NULL);
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    REQUIRE(zmq_ctx_shutdown(ctx) == 0);
    EXPECT(sock_recv(pull, &frame, NULL, &g_msg, 1000) == -2);
    zmq_msg_close(&frame);
    sock_close(&pull);
    zmq_ctx_term(ctx);
}

TEST(bad_endpoints) {
    void *ctx = zmq_ctx_new();
    EXPECT(sock_bind(ctx, ZMQ_PULL, "nonsense://x", 0) == NULL && strstr(err_msg(), "nonsense://x"));
    EXPECT(sock_connect(ctx, ZMQ_PUSH, "tcp://", 0) == NULL);
    EXPECT(sock_bind(ctx, ZMQ_PULL, NULL, 0) == NULL);
    EXPECT(sock_bind(NULL, ZMQ_PULL, g_up, 0) == NULL);
    /* a TCP port already bound */
    void *a = sock_bind(ctx, ZMQ_PULL, "tcp://127.0.0.1:*", 0), *b = NULL;
    char ep[128];
    size_t n = sizeof ep;
    EXPECT(a != NULL && zmq_getsockopt(a, ZMQ_LAST_ENDPOINT, ep, &n) == 0);
    if (a) {
        b = sock_bind(ctx, ZMQ_PULL, ep, 0);
        EXPECT(b == NULL && strstr(err_msg(), "binding ") && strstr(err_msg(), ep));
    }
    sock_close(&b);
    sock_close(&a);
    zmq_ctx_term(ctx);
}

/* A stage's context: the caller's is used and left alone, else a new one is made and terminated. */
TEST(context_given_or_own) {
    void *given = zmq_ctx_new(), *z = NULL;
    int own = -1;
    REQUIRE(given != NULL);
    EXPECT(sock_ctx_open(given, &z, &own) == 0 && z == given && own == 0);
    sock_ctx_close(&z, own);
    EXPECT(z == NULL);
    void *s = sock_bind(given, ZMQ_PULL, "inproc://still-alive", 0);   /* not terminated */
    EXPECT(s != NULL);
    sock_close(&s);
    zmq_ctx_term(given);
    EXPECT(sock_ctx_open(NULL, &z, &own) == 0 && z != NULL && own == 1);
    sock_ctx_close(&z, own);
    EXPECT(z == NULL);
    sock_ctx_close(&z, 1);   /* NULL is fine */
}

int main(void) {
    alarm(120); /* a last guard: whatever hangs, the test ends (SIGALRM) instead of waiting for ever */
    /* A fresh directory for the ipc endpoints (tl_tmpdir keeps their paths short enough). */
    if (tl_tmpdir(g_dir, sizeof g_dir, "proto") != 0) {
        fprintf(stderr, "cannot make a scratch folder (%s): %s\n", g_dir, strerror(errno));
        return 1;
    }
    snprintf(g_up, sizeof g_up, "ipc://%s/up", g_dir);
    snprintf(g_down, sizeof g_down, "ipc://%s/down", g_dir);
    RUN(two_processes_push_pull_and_credit);
    RUN(silent_peer_times_out);
    RUN(send_would_block);
    RUN(terminated_context);
    RUN(bad_endpoints);
    RUN(context_given_or_own);
    tl_tmpdir_done(g_dir);   /* ZeroMQ removes what it bound; a test that stopped early may leave some */
    return TEST_SUMMARY();
}
