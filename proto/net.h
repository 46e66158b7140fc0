/* net.h: how a stage meets the network (docs/security.md).
 *
 * - Its ZeroMQ context, with --io-threads I/O threads.
 * - CURVE when it has a key: every socket it binds is a CURVE server with the stage's secret key
 *   and admits only the clients whose public keys are files in its --allow folder (a ZAP handler,
 *   which reads the folder again when it changes: removing a key refuses that client's next
 *   connection); every socket it connects is a CURVE client with the stage's key pair and the
 *   server's public key (--loader-key, --trainer-key).
 * - One rule for addresses: without a key a stage binds only loopback (and ipc://, inproc://);
 *   anything else needs --insecure, and is logged as a warning.
 * - Bad traffic is counted, not logged line by line: messages a stage rejects (net_rejected) and
 *   connections its bound sockets refuse (failed handshakes: no admitted key, wrong keys, not ZeroMQ
 *   at all) are logged rate-limited (common/ratelog.h) and summed up when the stage closes.
 *
 * Key files are what `keygen` writes: NAME.key holds the 40-character Z85 secret key, NAME.pub the
 * public one; lines that start with '#' and a blank are comments (Z85 itself uses '#'). */
#ifndef PAWPIPE_NET_H
#define PAWPIPE_NET_H

#include <stdint.h>

#include "common/cli.h"

typedef struct {
    const char *key;          /* --key FILE: this stage's secret key; NULL: no CURVE                 */
    const char *allow;        /* --allow DIR: public keys (*.pub) of the clients a binding stage
                                 admits (needed with --key by stages that bind)                     */
    const char *loader_key;   /* --loader-key FILE: the loader's public key (stages that connect)    */
    const char *trainer_key;  /* --trainer-key FILE: the trainer's public key                        */
    int insecure;             /* --insecure: bind beyond loopback without keys                       */
    int io_threads;           /* --io-threads N: ZeroMQ I/O threads (0: ZeroMQ's default, 1)         */
} net_config_t;

/* The flags of net_config_t, for a stage's cli table; a stage lists the ones that apply to it. */
#define NET_OPT_KEY(n)                                                                                  \
    {"key", CLI_STR, &(n)->key, "PAWPIPE_KEY", "FILE",                                                  \
     "this stage's CURVE secret key (keygen's NAME.key): encrypt and authenticate every socket"}
#define NET_OPT_ALLOW(n)                                                                                \
    {"allow", CLI_STR, &(n)->allow, "PAWPIPE_ALLOW", "DIR",                                             \
     "with --key: admit only the clients whose public keys (*.pub) are in DIR (read again when it changes)"}
#define NET_OPT_LOADER_KEY(n)                                                                           \
    {"loader-key", CLI_STR, &(n)->loader_key, "PAWPIPE_LOADER_KEY", "FILE",                             \
     "with --key: the loader's public key (its .pub file)"}
#define NET_OPT_TRAINER_KEY(n)                                                                          \
    {"trainer-key", CLI_STR, &(n)->trainer_key, "PAWPIPE_TRAINER_KEY", "FILE",                          \
     "with --key: the trainer's public key (its .pub file)"}
#define NET_OPT_INSECURE(n)                                                                             \
    {"insecure", CLI_BOOL, &(n)->insecure, "PAWPIPE_INSECURE", NULL,                                    \
     "without --key, bind addresses other than loopback anyway (anyone who reaches them is trusted)"}
#define NET_OPT_IO_THREADS(n)                                                                           \
    {"io-threads", CLI_INT, &(n)->io_threads, "PAWPIPE_IO_THREADS", "N",                                \
     "ZeroMQ I/O threads, 0: ZeroMQ's default (1); CURVE encryption runs in them: more for fast streams with --key"}

/* The servers a stage connects to, whose public keys it needs with --key. */
typedef enum { NET_LOADER = 0, NET_TRAINER = 1 } net_peer_t;

typedef struct net net_t;

/* Load the keys, make the context (or use given_zctx: tests run stages as threads that share one;
 * --io-threads applies only to a context of our own) and start the thread that answers ZAP requests
 * and watches the sockets' handshakes. stage heads its errors. 0 / -1 + err_msg(). */
int net_open(const net_config_t *c, void *given_zctx, const char *stage, net_t **out);

/* Create a socket as sock.h does, with CURVE when the stage has a key, then bind or connect it; name
 * says what it is in the log ("jobs"). The endpoint rule above is checked before binding. Returns the
 * socket (closed by the caller, before net_close) or NULL + err_msg(). */
void *net_bind(net_t *n, int type, const char *endpoint, int hwm, const char *name);
void *net_connect(net_t *n, int type, const char *endpoint, int hwm, net_peer_t server, const char *name);

/* Count a message rejected on socket `name` (printf-style: what was wrong with it), logged
 * rate-limited. Only from the thread that uses the stage's sockets. */
void net_rejected(net_t *n, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

typedef struct {
    uint64_t rejected;   /* messages rejected (net_rejected)                                  */
    uint64_t refused;    /* connections refused by bound sockets (failed handshakes)          */
    uint64_t failed;     /* handshakes of connecting sockets that failed (the other side's keys) */
} net_counts_t;
void net_counts(net_t *n, net_counts_t *out);

/* -1 + err_msg() once a server has refused this stage's key: libzmq never connects that socket
 * again, so a stage waiting on it would wait for ever. Stages call it while they wait. 0 otherwise. */
int net_check(net_t *n);

/* Log the summary line ("network: N messages rejected, M connections refused ..."), stop the
 * thread and terminate the context when it is ours (close the sockets first). NULL is fine. */
void net_close(net_t **n);

/* 1 when endpoint stays on this host: ipc://, inproc://, tcp:// on 127.x.x.x, ::1 or localhost. */
int net_endpoint_is_local(const char *endpoint);

/* Read a key file: the first line that is not a '#' comment or blank must be a 40-character Z85 key.
 * z85 gets it with its terminating NUL (41 bytes). 0 / -1 + err_msg() naming the file. */
int net_read_key(const char *path, char z85[41]);

#endif
