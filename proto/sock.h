/* sock.h: ZeroMQ helpers shared by every stage: default endpoints, socket set-up, and sending and
 * receiving whole messages with a timeout. Every ZeroMQ call is checked; errors go to err_msg(). */
#ifndef PAWPIPE_SOCK_H
#define PAWPIPE_SOCK_H

#include <zmq.h>

#include "proto/proto.h"

/* Default endpoints on one machine. Long-lived stages bind, the others connect.
 *   jobs        loader binds PUSH      augmenters connect PULL
 *   credits     loader binds PULL      trainer connects PUSH   (credits, START)
 *   batches     trainer binds PULL     augmenters connect PUSH
 *   checkpoints trainer binds PUB      evaluators connect SUB  (checkpoints, metrics, the run's end)
 *   control     loader binds PUB       augmenters connect SUB  (the run's end)
 * Each can be overridden by a flag or by the environment variable named beside it. */
#define SOCK_EP_JOBS_BIND          "tcp://127.0.0.1:5555"   /* PAWPIPE_JOBS_BIND        */
#define SOCK_EP_JOBS               "tcp://127.0.0.1:5555"   /* PAWPIPE_JOBS             */
#define SOCK_EP_CREDITS_BIND       "tcp://127.0.0.1:5556"   /* PAWPIPE_CREDITS_BIND     */
#define SOCK_EP_CREDITS            "tcp://127.0.0.1:5556"   /* PAWPIPE_CREDITS          */
#define SOCK_EP_BATCHES_BIND       "tcp://127.0.0.1:5557"   /* PAWPIPE_BATCHES_BIND     */
#define SOCK_EP_BATCHES            "tcp://127.0.0.1:5557"   /* PAWPIPE_BATCHES          */
#define SOCK_EP_CHECKPOINTS_BIND   "tcp://127.0.0.1:5558"   /* PAWPIPE_CHECKPOINTS_BIND */
#define SOCK_EP_CHECKPOINTS        "tcp://127.0.0.1:5558"   /* PAWPIPE_CHECKPOINTS      */
#define SOCK_EP_CONTROL_BIND       "tcp://127.0.0.1:5559"   /* PAWPIPE_CONTROL_BIND     */
#define SOCK_EP_CONTROL            "tcp://127.0.0.1:5559"   /* PAWPIPE_CONTROL          */

/* A connecting socket whose peer is gone tries again after 100 ms, doubling up to this: a stage
 * waiting for a crashed peer to come back costs next to no CPU (and no storm of name lookups). */
#define SOCK_RECONNECT_MAX_MS 5000

/* How long the end of a run is announced on a PUB socket (sock_announce_end) before its stage exits:
 * subscribers that are reconnecting get it too. */
#define SOCK_ANNOUNCE_MS 1000

/* The ZeroMQ context of a stage: the caller's when it gives one (tests run stages as threads over
 * inproc://, which needs one shared context), else a new one, which *own then says to terminate.
 * 0 / -1 + err_msg(). sock_ctx_close terminates it when own (close its sockets first) and NULLs it. */
int sock_ctx_open(void *given, void **zctx, int *own);
void sock_ctx_close(void **zctx, int own);

/* Create a socket of `type`, set linger 0, IPv6 off and the high-water marks (<= 0: the ZeroMQ
 * default), then bind or connect. Returns the socket or NULL with err_msg(). */
void *sock_bind(void *zctx, int type, const char *endpoint, int hwm);
void *sock_connect(void *zctx, int type, const char *endpoint, int hwm);
void sock_close(void **sock);   /* closes and NULLs; NULL is fine */

/* Both of the above: bind when bind is 1, else connect; setup (when not NULL) is called on the new
 * socket before it binds or connects, for further options (net.c's CURVE keys), 0 / -1 + err_msg(). */
typedef int (*sock_setup_fn)(void *sock, void *arg);
void *sock_open(void *zctx, int type, const char *endpoint, int hwm, int bind, sock_setup_fn setup, void *arg);

/* Encode m with scratch and send it as one frame. flags: 0 or ZMQ_DONTWAIT.
 * Returns 0, 1 when ZMQ_DONTWAIT and the send would block, or -1 with err_msg(). A blocking send
 * retries after EINTR, so a caller that must notice a stop flag should use ZMQ_DONTWAIT. */
int sock_send(void *sock, const proto_msg_t *m, proto_buf_t *scratch, int flags);

/* Publish the end of the run (CONTROL END_RUN with seq = the run's steps, epochs) on pub, every 100
 * ms for SOCK_ANNOUNCE_MS, then wait up to that long more for ZeroMQ to hand the messages over.
 * 0 / -1 + err_msg(). */
int sock_announce_end(void *pub, proto_buf_t *scratch, uint64_t steps, uint32_t epochs);

/* 1 when m is the end of the run as announced on a PUB socket (CONTROL END_RUN), else 0. */
int sock_is_run_end(const proto_msg_t *m);

/* Receive one frame into *frame (initialised by the caller once with zmq_msg_init and closed once
 * at the end; this function reuses it) and decode it into *out, which points into *frame.
 * timeout_ms < 0 waits for ever. Returns 1 with a message, 0 on timeout (or EINTR), -1 when the
 * frame could not be decoded (err_msg() says why; the socket is fine, go on), -2 when the socket
 * itself failed (e.g. the context was terminated). */
int sock_recv(void *sock, zmq_msg_t *frame, const proto_limits_t *lim, proto_msg_t *out, int timeout_ms);

#endif
