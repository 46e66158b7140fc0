/* net.c: a stage's context, CURVE keys, allow-list (ZAP) and bad-traffic counts (see net.h).
 *
 * One thread per stage, the guard, owns two kinds of sockets: the ZAP handler (a REP socket on
 * ZeroMQ's fixed inproc endpoint, which libzmq asks about every client that completes a CURVE
 * handshake) and one monitor PAIR per socket of the stage (the handshake events). The stage's own
 * thread creates a monitor PAIR and hands it over under the mutex; the guard polls everything with
 * a short timeout, so a new one is picked up at once and a stop is seen within that time. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "common/log.h"
#include "common/ratelog.h"
#include "common/timeutil.h"
#include "proto/net.h"
#include "proto/sock.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_DOMAIN "pawpipe"   /* set on every bound socket: it also makes libzmq refuse ZMTP 1.0/2.0 peers */
#define GUARD_POLL_MS 100
#define GUARD_DRAIN_POLLS 10000
#define MAX_WATCHED 16         /* sockets of one stage (it has at most five)                              */
#define MAX_ALLOWED 4096       /* keys in an allow folder                                                 */
#define RESCAN_S 1.0           /* the allow folder is read again when it changed, and at least this often */

#define FAIL_EVENTS \
    (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
/* A bound socket also follows every connection it accepts, because libzmq (4.3) reports only some
 * refusals as HANDSHAKE_FAILED: with a ZAP domain set, a peer that does not speak ZMTP 3.x (HTTP, TLS,
 * random bytes, whatever does not start like a ZMTP 3 greeting, and ZMTP 1.0/2.0 peers) and a ZeroMQ
 * socket of a type that cannot talk to this one (a SUB connecting to a PULL) are dropped with a
 * DISCONNECTED event alone (tests/sockfuzz.sh checks every case). A connection that goes without
 * completing its handshake and without a HANDSHAKE_FAILED event is counted as refused too. */
#define BOUND_EVENTS (FAIL_EVENTS | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED)
#define MAX_OPEN 65536         /* connections followed per bound socket; beyond, the silent refusals of the
                                  extra ones are not counted                                              */

typedef struct {
    int *fd;
    int n, cap;
} fdlist_t;

typedef struct {
    void *pair;               /* the monitor's PAIR, owned by the guard once handed over */
    int bound;                /* refused connections on bound sockets, failed handshakes on connected ones */
    uint64_t count;
    ratelog_t log;
    char what[200];
    /* bound sockets (see connection_event): the connections accepted and not gone yet, those gone
     * before their ACCEPTED event came, how many handshakes succeeded (of connections not gone), and
     * HANDSHAKE_FAILED events whose DISCONNECTED is still to come */
    fdlist_t open, early;
    int good, failed_pending;
    /* connected sockets: what the socket is and whom it connects to, for net_check */
    char name[32];
    net_peer_t server;
} watch_t;

typedef struct {
    uint8_t (*keys)[32];
    int n;
    struct timespec mtime;
    double t_scan;
    int scanned;
} allow_t;

struct net {
    void *zctx;
    int own_zctx;
    int curve;                         /* a key was given                      */
    char secret[41], public_[41];      /* this stage's pair, Z85               */
    char server[2][41];                /* loader's, trainer's public keys       */
    int have_server[2];
    const net_config_t *c;
    /* the guard */
    void *zap;
    allow_t allow;
    ratelog_t zap_log;
    pthread_t thread;
    int thread_ok;
    atomic_int stop;
    pthread_mutex_t mu;                /* guards watch[] and n_watch            */
    watch_t watch[MAX_WATCHED];
    int n_watch;
    watch_t *refused_as_client;        /* the first connected socket whose key a server refused */
    /* rejected messages, counted by the stage's thread */
    struct {
        char name[32];
        ratelog_t log;
        char what[64];
    } rej[MAX_WATCHED];
    int n_rej;
};

/* ---- key files -------------------------------------------------------------------------------- */

int net_read_key(const char *path, char z85[41]) {
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "key file %s: %s", path, strerror(errno));
    char line[256];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        /* Z85 has '#' among its digits: a comment is '#' then a blank or the end of the line */
        if (*p == '\n' || *p == '\r' || *p == '\0' || (*p == '#' && strchr(" \t\r\n", p[1]))) continue;
        size_t n = strcspn(p, " \t\r\n");
        if (n != 40) {
            fclose(f);
            err_set("key file %s: a key is 40 Z85 characters, this line has %zu", path, n);
            return -1;
        }
        memcpy(z85, p, 40);
        z85[40] = '\0';
        found = 1;
    }
    fclose(f);
    CHECK(found, "key file %s: no key in it", path);
    uint8_t bin[32];
    CHECK(zmq_z85_decode(bin, z85) != NULL, "key file %s: not a Z85 key", path);
    return 0;
}

static int load_keys(net_t *n, const net_config_t *c) {
    if (!c->key) {
        if (c->allow || c->loader_key || c->trainer_key)
            LOG_W("--allow, --loader-key and --trainer-key do nothing without --key: this stage runs without CURVE");
        return 0;
    }
    CHECK(zmq_has("curve"), "--key: this libzmq was built without CURVE");
    TRY(net_read_key(c->key, n->secret));
    CHECK(zmq_curve_public(n->public_, n->secret) == 0, "--key %s: %s", c->key, zmq_strerror(zmq_errno()));
    struct stat st;
    if (stat(c->key, &st) == 0 && (st.st_mode & 0004))
        LOG_W("--key %s can be read by every user of this host: chmod 600 it", c->key);
    const char *server[2] = {c->loader_key, c->trainer_key};
    for (int i = 0; i < 2; i++)
        if (server[i]) {
            TRY(net_read_key(server[i], n->server[i]));
            n->have_server[i] = 1;
        }
    n->curve = 1;
    return 0;
}

/* ---- the allow folder ------------------------------------------------------------------------- */

static int has_suffix(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a > b && strcmp(s + a - b, suffix) == 0;
}

/* Read dir's *.pub files again when the folder changed (or RESCAN_S passed). A file that is not a key
 * is logged and left out; a folder that cannot be read admits nobody. */
static void allow_refresh(net_t *n) {
    allow_t *a = &n->allow;
    const char *dir = n->c->allow;
    struct stat st;
    double now = now_s();
    int ok = stat(dir, &st) == 0;
    if (ok && a->scanned && st.st_mtim.tv_sec == a->mtime.tv_sec && st.st_mtim.tv_nsec == a->mtime.tv_nsec &&
        now - a->t_scan < RESCAN_S)
        return;
    a->n = 0;
    a->scanned = 1;
    a->t_scan = now;
    DIR *d = ok ? opendir(dir) : NULL;
    if (!d) {
        LOG_W("--allow %s: %s: nobody is admitted", dir, strerror(errno));
        return;
    }
    a->mtime = st.st_mtim;
    struct dirent *e;
    while ((e = readdir(d)) && a->n < MAX_ALLOWED) {
        if (!has_suffix(e->d_name, ".pub")) continue;
        char path[4096], z85[41];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (net_read_key(path, z85) != 0) {
            LOG_W("--allow: %s (left out)", err_msg());
            err_clear();
            continue;
        }
        zmq_z85_decode(a->keys[a->n++], z85);
    }
    closedir(d);
}

static int allowed(net_t *n, const uint8_t *key) {
    allow_refresh(n);
    for (int i = 0; i < n->allow.n; i++)
        if (memcmp(n->allow.keys[i], key, 32) == 0) return 1;
    return 0;
}

/* ---- the guard thread: ZAP requests and monitor events ----------------------------------------- */

/* Receive every frame of one message into parts (at most max, each up to 256 bytes kept); the count. */
static int recv_parts(void *s, char parts[][256], size_t *lens, int max) {
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return n ? n : -1;
        }
        if (n < max) {
            size_t len = zmq_msg_size(&m) < 255 ? zmq_msg_size(&m) : 255;
            memcpy(parts[n], zmq_msg_data(&m), len);
            parts[n][len] = '\0';
            lens[n] = zmq_msg_size(&m);
        }
        n++;
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    return n;
}

/* A ZAP request (RFC 27): version, request id, domain, address, routing id, mechanism, credentials. */
static void zap_answer(net_t *n) {
    char p[8][256];
    size_t len[8] = {0};
    int k = recv_parts(n->zap, p, len, 8);
    if (k < 0) return;
    int ok = k >= 7 && strcmp(p[5], "CURVE") == 0 && len[6] == 32 && allowed(n, (const uint8_t *)p[6]);
    if (!ok) {
        char key[41] = "?";
        if (k >= 7 && len[6] == 32) zmq_z85_encode(key, (const uint8_t *)p[6], 32);
        ratelog_note(&n->zap_log, "%s from %s with key %s", k >= 6 ? p[5] : "?", k >= 4 ? p[3] : "?", key);
    }
    const char *code = ok ? "200" : "400", *text = ok ? "OK" : "key not admitted";
    zmq_send(n->zap, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(n->zap, p[1], k >= 2 ? len[1] : 0, ZMQ_SNDMORE);
    zmq_send(n->zap, code, 3, ZMQ_SNDMORE);
    zmq_send(n->zap, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(n->zap, "", 0, ZMQ_SNDMORE);
    zmq_send(n->zap, "", 0, 0);
}

static const char *failure_name(uint16_t event, uint32_t value, int bound, char *buf, size_t size) {
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) snprintf(buf, size, "authentication refused (ZAP status %u)", value);
    else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        snprintf(buf, size, "protocol error 0x%08x (not ZeroMQ, wrong keys or wrong security settings)", value);
    else if (bound) snprintf(buf, size, "the peer went away during the handshake (%s)", zmq_strerror((int)value));
    else
        snprintf(buf, size, "the server dropped the connection during the handshake (%s): do its keys and this "
                            "stage's match?", zmq_strerror((int)value));
    return buf;
}

static void count_refusal(net_t *n, watch_t *w, const char *why) {
    pthread_mutex_lock(&n->mu);
    w->count++;
    pthread_mutex_unlock(&n->mu);
    ratelog_note(&w->log, "%s", why);
}

/* fds, oldest first */
static int fds_add(fdlist_t *l, int fd) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        int *d = cap <= MAX_OPEN ? realloc(l->fd, (size_t)cap * sizeof *d) : NULL;
        if (!d) return -1;
        l->fd = d;
        l->cap = cap;
    }
    l->fd[l->n++] = fd;
    return 0;
}

static int fds_remove(fdlist_t *l, int fd) {   /* its index before removal, or -1 */
    int i = 0;
    while (i < l->n && l->fd[i] != fd) i++;
    if (i == l->n) return -1;
    memmove(l->fd + i, l->fd + i + 1, (size_t)(l->n - i - 1) * sizeof *l->fd);
    l->n--;
    return i;
}

/* A bound socket's connection events (BOUND_EVENTS). Each connection it accepts (ACCEPTED, value: its
 * fd) ends in one of: HANDSHAKE_SUCCEEDED (admitted; DISCONNECTED, value: its fd, when it goes),
 * HANDSHAKE_FAILED_* then DISCONNECTED (refused, counted at the failure), or DISCONNECTED alone (refused
 * silently: counted here).
 * - A success does not name its connection, so the oldest open connections are taken to be the admitted
 *   ones (`good` of them). A silent refusal is then misread as the departure of an admitted peer (and
 *   that peer's later departure as the refusal) only when a connection accepted earlier is refused after
 *   a later one was admitted: two handshakes under way at once, the earlier one slower. The totals agree
 *   again once both have gone.
 * - libzmq reports ACCEPTED after it handed the connection to an I/O thread: with more than one
 *   (--io-threads), the connection's other events may come first. A DISCONNECTED of a connection not
 *   accepted yet is judged as the newest one's, and its ACCEPTED, when it comes, is ignored.
 * - With one I/O thread a HANDSHAKE_FAILED event comes right before its connection's DISCONNECTED; with
 *   more, another connection's DISCONNECTED may come between them, which can swap which of two
 *   connections is taken for the refused one, not the count. */
static void connection_event(net_t *n, watch_t *w, uint16_t event, uint32_t value) {
    int fd = (int)value;
    if (event == ZMQ_EVENT_ACCEPTED) {
        if (fds_remove(&w->early, fd) < 0) (void)fds_add(&w->open, fd);   /* when full: not followed */
    } else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        w->good++;
    } else if (event == ZMQ_EVENT_DISCONNECTED) {
        int i = fds_remove(&w->open, fd);
        if (i < 0) {
            i = w->open.n;
            if (fds_add(&w->early, fd) != 0) return;
        }
        if (w->failed_pending > 0) {
            w->failed_pending--;   /* counted at its HANDSHAKE_FAILED event */
        } else if (i < w->good) {
            w->good--;             /* an admitted peer went */
        } else {
            count_refusal(n, w, "dropped during the handshake: not ZeroMQ 3.x (HTTP, TLS, random bytes, ZMTP "
                                "1.0/2.0) or a ZeroMQ socket of a type that cannot talk to this one");
        }
    }
}

static void monitor_event(net_t *n, watch_t *w) {
    char p[2][256];
    size_t len[2] = {0};
    int k = recv_parts(w->pair, p, len, 2);
    if (k < 1 || len[0] < 6) return;
    uint16_t event;
    uint32_t value;
    memcpy(&event, p[0], 2);
    memcpy(&value, p[0] + 2, 4);
    if (!(event & FAIL_EVENTS)) {
        if (w->bound) connection_event(n, w, event, value);
        return;
    }
    if (w->bound) w->failed_pending++;
    char why[200];
    failure_name(event, value, w->bound, why, sizeof why);
    count_refusal(n, w, why);
    /* libzmq does not reconnect a client whose key the server's ZAP handler refused: the stage would
     * wait for ever, so net_check turns this into an error */
    if (!w->bound && event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        pthread_mutex_lock(&n->mu);
        if (!n->refused_as_client) n->refused_as_client = w;
        pthread_mutex_unlock(&n->mu);
    }
}

static void *guard_main(void *arg) {
    net_t *n = arg;
    zmq_pollitem_t items[MAX_WATCHED + 1];
    /* Once asked to stop, what is already queued is still counted: polls without waiting until one
     * finds nothing, and at most GUARD_DRAIN_POLLS of them (a flood must not keep the stage from ending). */
    for (int drained = 0; drained < GUARD_DRAIN_POLLS;) {
        int stopping = atomic_load(&n->stop);
        int k = 0;
        if (n->zap) items[k++] = (zmq_pollitem_t){.socket = n->zap, .events = ZMQ_POLLIN};
        pthread_mutex_lock(&n->mu);
        int n_watch = n->n_watch;
        for (int i = 0; i < n_watch; i++) items[k++] = (zmq_pollitem_t){.socket = n->watch[i].pair, .events = ZMQ_POLLIN};
        pthread_mutex_unlock(&n->mu);
        int rc = zmq_poll(items, k, stopping ? 0 : GUARD_POLL_MS);
        if (rc < 0 && zmq_errno() != EINTR) break;
        int j = 0, got = 0;
        if (n->zap && (items[j++].revents & ZMQ_POLLIN)) zap_answer(n), got = 1;
        for (int i = 0; rc > 0 && i < n_watch; i++, j++)
            if (items[j].revents & ZMQ_POLLIN) monitor_event(n, &n->watch[i]), got = 1;
        if (stopping && !got) break;
        if (stopping) drained++;
    }
    return NULL;
}

/* ---- sockets ---------------------------------------------------------------------------------- */

static const char *peer_name(net_peer_t p) { return p == NET_LOADER ? "loader" : "trainer"; }

int net_endpoint_is_local(const char *ep) {
    if (strncmp(ep, "inproc://", 9) == 0 || strncmp(ep, "ipc://", 6) == 0) return 1;
    if (strncmp(ep, "tcp://", 6) != 0) return 0;
    const char *host = ep + 6, *colon = strrchr(host, ':');
    size_t len = colon ? (size_t)(colon - host) : strlen(host);
    if (len == 9 && strncmp(host, "localhost", 9) == 0) return 1;
    if ((len == 5 && strncmp(host, "[::1]", 5) == 0)) return 1;
    if (len >= 4 && strncmp(host, "127.", 4) == 0) {
        for (size_t i = 4; i < len; i++)
            if (!(host[i] == '.' || (host[i] >= '0' && host[i] <= '9'))) return 0;
        return 1;
    }
    return 0;
}

typedef struct {
    net_t *n;
    int bind;
    net_peer_t server;
    const char *name;
    void *pair;   /* out: the monitor's PAIR */
} open_arg_t;

#define SETOPT(s, opt, val, len, name) \
    CHECK(zmq_setsockopt(s, opt, val, len) == 0, "%s: %s", name, zmq_strerror(zmq_errno()))

static int setup_socket(void *s, void *arg) {
    open_arg_t *o = arg;
    net_t *n = o->n;
    int one = 1;
    if (o->bind) SETOPT(s, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN, strlen(ZAP_DOMAIN), "ZMQ_ZAP_DOMAIN");
    if (n->curve && o->bind) {
        SETOPT(s, ZMQ_CURVE_SERVER, &one, sizeof one, "ZMQ_CURVE_SERVER");
        SETOPT(s, ZMQ_CURVE_SECRETKEY, n->secret, 40, "ZMQ_CURVE_SECRETKEY");
    } else if (n->curve) {
        CHECK(n->have_server[o->server], "%s: with --key, --%s-key is needed (the %s's public key)", o->name,
              peer_name(o->server), peer_name(o->server));
        SETOPT(s, ZMQ_CURVE_SERVERKEY, n->server[o->server], 40, "ZMQ_CURVE_SERVERKEY");
        SETOPT(s, ZMQ_CURVE_PUBLICKEY, n->public_, 40, "ZMQ_CURVE_PUBLICKEY");
        SETOPT(s, ZMQ_CURVE_SECRETKEY, n->secret, 40, "ZMQ_CURVE_SECRETKEY");
    }
    /* the monitor, set up before the socket binds or connects so that no connection is missed */
    /* a name no other monitor of this process had: stages in one process (tests) share a context,
     * where a closing socket's monitor may still hold its name for a moment */
    static atomic_uint monitors;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://pawpipe-monitor-%d-%u", (int)getpid(), atomic_fetch_add(&monitors, 1));
    CHECK(zmq_socket_monitor(s, ep, o->bind ? BOUND_EVENTS : FAIL_EVENTS) == 0, "zmq_socket_monitor: %s",
          zmq_strerror(zmq_errno()));
    o->pair = zmq_socket(n->zctx, ZMQ_PAIR);
    CHECK(o->pair != NULL, "zmq_socket(PAIR): %s", zmq_strerror(zmq_errno()));
    int zero = 0;   /* nothing of ours may hold up the context's end (zmq_ctx_term) */
    SETOPT(o->pair, ZMQ_LINGER, &zero, sizeof zero, "ZMQ_LINGER");
    CHECK(zmq_connect(o->pair, ep) == 0, "zmq_connect %s: %s", ep, zmq_strerror(zmq_errno()));
    return 0;
}

static void *open_socket(net_t *n, int type, const char *endpoint, int hwm, int bind, net_peer_t server,
                         const char *name) {
    if (bind && !n->curve && endpoint && !net_endpoint_is_local(endpoint)) {
        if (!n->c->insecure) {
            err_set("%s: binding %s, which other hosts can reach, needs CURVE keys (--key, --allow) or --insecure",
                    name, endpoint);
            return NULL;
        }
        LOG_W("%s: %s bound without CURVE (--insecure): whoever reaches it is trusted", name, endpoint);
    }
    if (bind && n->curve && !n->zap) {
        err_set("%s: a stage that binds needs --allow DIR with --key (the public keys of the clients it admits)", name);
        return NULL;
    }
    pthread_mutex_lock(&n->mu);
    int full = n->n_watch >= MAX_WATCHED;
    pthread_mutex_unlock(&n->mu);
    if (full) {
        err_set("%s: more than %d sockets in one stage", name, MAX_WATCHED);
        return NULL;
    }
    open_arg_t o = {.n = n, .bind = bind, .server = server, .name = name};
    void *s = sock_open(n->zctx, type, endpoint, hwm, bind, setup_socket, &o);
    if (!s) {
        if (o.pair) zmq_close(o.pair);
        err_prepend("%s socket", name);
        return NULL;
    }
    char ep[128];   /* the port a wildcard bind got, for the log */
    size_t size = sizeof ep;
    if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &size) != 0 || !ep[0]) snprintf(ep, sizeof ep, "%s", endpoint);
    pthread_mutex_lock(&n->mu);
    watch_t *w = &n->watch[n->n_watch];
    memset(w, 0, sizeof *w);
    w->pair = o.pair;
    w->bound = bind;
    w->server = server;
    snprintf(w->name, sizeof w->name, "%s", name);
    snprintf(w->what, sizeof w->what, bind ? "%s %s: refused a connection" : "%s %s: the handshake failed", name, ep);
    w->log.what = w->what;
    n->n_watch++;
    pthread_mutex_unlock(&n->mu);
    if (n->curve) LOG_D("%s: %s %s with CURVE", name, bind ? "bound" : "connected", endpoint);
    return s;
}

void *net_bind(net_t *n, int type, const char *endpoint, int hwm, const char *name) {
    return open_socket(n, type, endpoint, hwm, 1, NET_LOADER, name);
}

void *net_connect(net_t *n, int type, const char *endpoint, int hwm, net_peer_t server, const char *name) {
    return open_socket(n, type, endpoint, hwm, 0, server, name);
}

/* ---- the stage's side ------------------------------------------------------------------------- */

void net_rejected(net_t *n, const char *name, const char *fmt, ...) {
    int i = 0;
    while (i < n->n_rej && strcmp(n->rej[i].name, name) != 0) i++;
    if (i == n->n_rej) {
        if (i == MAX_WATCHED) i--;   /* cannot happen with the stages' few sockets: share the last */
        else {
            n->n_rej++;
            snprintf(n->rej[i].name, sizeof n->rej[i].name, "%s", name);
            snprintf(n->rej[i].what, sizeof n->rej[i].what, "%s: rejected a message", name);
            n->rej[i].log.what = n->rej[i].what;
        }
    }
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    ratelog_note(&n->rej[i].log, "%s", why);
}

void net_counts(net_t *n, net_counts_t *out) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n->n_rej; i++) out->rejected += n->rej[i].log.count;
    pthread_mutex_lock(&n->mu);
    for (int i = 0; i < n->n_watch; i++) *(n->watch[i].bound ? &out->refused : &out->failed) += n->watch[i].count;
    pthread_mutex_unlock(&n->mu);
}

int net_check(net_t *n) {
    pthread_mutex_lock(&n->mu);
    const watch_t *w = n->refused_as_client;
    pthread_mutex_unlock(&n->mu);
    if (!w) return 0;
    err_set("%s socket: the %s refused this stage's key (not in its --allow folder?); a refused client is not "
            "let in again: add the key there and start this stage again",
            w->name, peer_name(w->server));
    return -1;
}

int net_open(const net_config_t *c, void *given_zctx, const char *stage, net_t **out) {
    *out = NULL;
    CHECK(c->io_threads >= 0 && c->io_threads <= 64, "--io-threads must be 0-64 (got %d)", c->io_threads);
    net_t *n = calloc(1, sizeof *n);
    CHECK(n != NULL, "out of memory");
    n->c = c;
    pthread_mutex_init(&n->mu, NULL);
    n->zap_log.what = "ZAP: refused a client";
    if (load_keys(n, c) != 0) goto fail;
    if (sock_ctx_open(given_zctx, &n->zctx, &n->own_zctx) != 0) goto fail;
    if (n->own_zctx && c->io_threads > 0 && zmq_ctx_set(n->zctx, ZMQ_IO_THREADS, c->io_threads) != 0) {
        err_set("ZMQ_IO_THREADS %d: %s", c->io_threads, zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (n->curve && c->allow) {
        n->allow.keys = calloc(MAX_ALLOWED, sizeof *n->allow.keys);
        if (!n->allow.keys) {
            err_set("out of memory");
            goto fail;
        }
        allow_refresh(n);
        LOG_I("CURVE on; %d admitted client keys in %s", n->allow.n, c->allow);
        n->zap = zmq_socket(n->zctx, ZMQ_REP);
        int zero = 0;   /* a reply to a connection already gone must not hold up zmq_ctx_term */
        if (!n->zap || zmq_setsockopt(n->zap, ZMQ_LINGER, &zero, sizeof zero) != 0 || zmq_bind(n->zap, ZAP_ENDPOINT) != 0) {
            err_set("the ZAP handler (%s): %s%s", ZAP_ENDPOINT, zmq_strerror(zmq_errno()),
                    zmq_errno() == EADDRINUSE ? " (one stage with keys per ZeroMQ context)" : "");
            goto fail;
        }
    } else if (n->curve) LOG_I("CURVE on");
    if (pthread_create(&n->thread, NULL, guard_main, n) != 0) {
        err_set("pthread_create: %s", strerror(errno));
        goto fail;
    }
    n->thread_ok = 1;
    *out = n;
    return 0;
fail:
    err_prepend("%s", stage);
    net_close(&n);
    return -1;
}

void net_close(net_t **pn) {
    net_t *n = *pn;
    if (!n) return;
    if (n->thread_ok) {
        atomic_store(&n->stop, 1);
        pthread_join(n->thread, NULL);
    }
    for (int i = 0; i < n->n_rej; i++) ratelog_flush(&n->rej[i].log);
    for (int i = 0; i < n->n_watch; i++) ratelog_flush(&n->watch[i].log);
    ratelog_flush(&n->zap_log);
    net_counts_t k;
    net_counts(n, &k);
    if (n->thread_ok)
        LOG_I("network: %" PRIu64 " messages rejected, %" PRIu64 " connections refused, %" PRIu64
              " failed handshakes as a client%s",
              k.rejected, k.refused, k.failed, n->curve ? " (CURVE on)" : "");
    for (int i = 0; i < n->n_watch; i++) {
        zmq_close(n->watch[i].pair);
        free(n->watch[i].open.fd);
        free(n->watch[i].early.fd);
    }
    if (n->zap) zmq_close(n->zap);
    sock_ctx_close(&n->zctx, n->own_zctx);
    pthread_mutex_destroy(&n->mu);
    free(n->allow.keys);
    free(n);
    *pn = NULL;
}
