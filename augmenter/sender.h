/* sender.h: sending batches without copying them: each frame is encoded into one of a few buffers
 * allocated once, and ZeroMQ sends straight from it and hands it back when the bytes are out. */
#ifndef PAWPIPE_SENDER_H
#define PAWPIPE_SENDER_H

#include <signal.h>

#include "proto/proto.h"

typedef struct sender sender_t;

/* n_bufs: frames that may be on their way at once (the socket's high-water mark + 2 is enough). */
int sender_new(void *sock, int n_bufs, sender_t **out);   /* 0 / -1 + err_msg() */

/* Encode m into a free buffer and send it, waiting (and noticing *stop) while the peer's queue is
 * full. Adds the time of the encode and of the send calls (not of the waits) to *ms.
 * 0 sent, 1 stopped before it could be sent, -1 error. */
int sender_send(sender_t *s, const proto_msg_t *m, const volatile sig_atomic_t *stop, double *ms);

/* Call after the socket is closed: waits (a little) for ZeroMQ to hand every buffer back. */
void sender_destroy(sender_t **s);

#endif
