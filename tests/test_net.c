/* test_net.c: proto/net.c on real TCP sockets of 127.0.0.1: key files, the loopback rule, CURVE with
 * an allow folder (an admitted client gets through, others are refused and counted, removing a key
 * refuses that client's next connection), and rate-limited counting of rejected messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "common/check.h"
#include "common/timeutil.h"
#include "proto/net.h"
#include "test.h"
#include "testlib.h"

static char g_dir[256];

/* A key pair as keygen writes it: DIR/name.key and, in folder pub_dir, name.pub. */
static void make_pair(const char *name, const char *pub_dir) {
    char pub[41], sec[41], path[512], text[128];
    ASSERT(zmq_curve_keypair(pub, sec) == 0);
    snprintf(path, sizeof path, "%s/%s.key", g_dir, name);
    snprintf(text, sizeof text, "# the secret key of %s\n%s\n", name, sec);
    tl_write_text(path, text);
    snprintf(path, sizeof path, "%s/%s.pub", pub_dir, name);
    snprintf(text, sizeof text, "# the public key of %s\n%s\n", name, pub);
    tl_write_text(path, text);
}

static char *path_of(const char *name) {   /* g_dir/name, in one of a few static buffers */
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", g_dir, name);
    return buf[i];
}

/* The endpoint a socket bound to tcp://127.0.0.1:* got. */
static void last_endpoint(void *s, char *ep, size_t size) {
    ASSERT(zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &size) == 0);
}

/* Wait up to ms for a message on s: 1 with one (its text in buf), 0 without. */
static int recv_within(void *s, int ms, char *buf, size_t size) {
    zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
    if (zmq_poll(&it, 1, ms) <= 0) return 0;
    int n = zmq_recv(s, buf, size - 1, ZMQ_DONTWAIT);
    if (n < 0) return 0;
    buf[n < (int)size - 1 ? n : (int)size - 1] = '\0';
    return 1;
}

/* Poll net's counts until refused reaches want or ms pass; the last count. */
static uint64_t wait_refused(net_t *n, uint64_t want, int ms) {
    net_counts_t k;
    for (int t = 0;; t += 20) {
        net_counts(n, &k);
        if (k.refused >= want || t >= ms) return k.refused;
        sleep_ms(20);
    }
}

TEST(key_files_are_read_and_bad_ones_named) {
    char z85[41], pub[41], sec[41];
    ASSERT(zmq_curve_keypair(pub, sec) == 0);
    char text[200];
    /* Z85 has '#' among its digits: only '#' and a blank starts a comment */
    snprintf(text, sizeof text, "# comment\n\n%s\n", pub);
    tl_write_text(path_of("ok.pub"), text);
    EXPECT(net_read_key(path_of("ok.pub"), z85) == 0 && strcmp(z85, pub) == 0);
    tl_write_text(path_of("short.pub"), "abc\n");
    EXPECT(net_read_key(path_of("short.pub"), z85) != 0 && strstr(err_msg(), "short.pub") && strstr(err_msg(), "40"));
    tl_write_text(path_of("empty.pub"), "# nothing\n");
    EXPECT(net_read_key(path_of("empty.pub"), z85) != 0 && strstr(err_msg(), "no key"));
    tl_write_text(path_of("bad.pub"), "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n");   /* '~' is not Z85 */
    EXPECT(net_read_key(path_of("bad.pub"), z85) != 0 && strstr(err_msg(), "Z85"));
    EXPECT(net_read_key(path_of("missing.pub"), z85) != 0 && strstr(err_msg(), "missing.pub"));
    err_clear();
}

TEST(only_loopback_is_local) {
    EXPECT(net_endpoint_is_local("tcp://127.0.0.1:5555"));
    EXPECT(net_endpoint_is_local("tcp://127.1.2.3:*"));
    EXPECT(net_endpoint_is_local("tcp://localhost:5555"));
    EXPECT(net_endpoint_is_local("tcp://[::1]:5555"));
    EXPECT(net_endpoint_is_local("ipc:///tmp/x"));
    EXPECT(net_endpoint_is_local("inproc://x"));
    EXPECT(!net_endpoint_is_local("tcp://0.0.0.0:5555"));
    EXPECT(!net_endpoint_is_local("tcp://*:5555"));
    EXPECT(!net_endpoint_is_local("tcp://10.0.0.1:5555"));
    EXPECT(!net_endpoint_is_local("tcp://127.evil.example:5555"));
    EXPECT(!net_endpoint_is_local("tcp://eth0:5555"));
}

TEST(binding_beyond_loopback_needs_keys_or_insecure) {
    net_config_t c = {0};
    net_t *n = NULL;
    REQUIRE(net_open(&c, NULL, "test", &n) == 0);
    void *s = net_bind(n, ZMQ_PULL, "tcp://0.0.0.0:*", 0, "batches");
    EXPECT(s == NULL && strstr(err_msg(), "--insecure") && strstr(err_msg(), "batches"));
    err_clear();
    net_close(&n);
    c.insecure = 1;
    REQUIRE(net_open(&c, NULL, "test", &n) == 0);
    s = net_bind(n, ZMQ_PULL, "tcp://0.0.0.0:*", 0, "batches");
    EXPECT(s != NULL);
    if (s) zmq_close(s);
    net_close(&n);
}

TEST(keys_needed_where_they_are_used) {
    net_config_t c = {.key = path_of("server.key")};
    net_t *n = NULL;
    REQUIRE(net_open(&c, NULL, "test", &n) == 0);
    EXPECT(net_bind(n, ZMQ_PULL, "tcp://127.0.0.1:*", 0, "batches") == NULL && strstr(err_msg(), "--allow"));
    EXPECT(net_connect(n, ZMQ_PUSH, "tcp://127.0.0.1:9", 0, NET_LOADER, "credits") == NULL &&
           strstr(err_msg(), "--loader-key"));
    err_clear();
    net_close(&n);
    c.key = path_of("missing.key");
    EXPECT(net_open(&c, NULL, "test", &n) != 0 && strstr(err_msg(), "missing.key") && n == NULL);
    c = (net_config_t){.io_threads = -1};
    EXPECT(net_open(&c, NULL, "test", &n) != 0 && strstr(err_msg(), "--io-threads"));
    err_clear();
}

/* A CURVE client of the server at ep with the key pair `name`: its net and a PUSH socket. */
static void *client(const char *name, const char *ep, net_config_t *c, net_t **n) {
    *c = (net_config_t){.trainer_key = path_of("server.pub")};
    char key[64];
    snprintf(key, sizeof key, "%s.key", name);
    c->key = path_of(key);
    if (net_open(c, NULL, name, n) != 0) return NULL;
    return net_connect(*n, ZMQ_PUSH, ep, 0, NET_TRAINER, "batches");
}

TEST(curve_admits_the_allowed_refuses_the_rest_and_forgets_removed_keys) {
    char allow[300];
    snprintf(allow, sizeof allow, "%s/allow", g_dir);
    net_config_t sc = {.key = path_of("server.key"), .allow = allow};
    net_t *srv = NULL;
    REQUIRE(net_open(&sc, NULL, "server", &srv) == 0);
    void *pull = net_bind(srv, ZMQ_PULL, "tcp://127.0.0.1:*", 0, "batches");
    REQUIRE(pull != NULL);
    char ep[128], buf[64];
    last_endpoint(pull, ep, sizeof ep);

    net_config_t ac, bc, pc;
    net_t *an = NULL, *bn = NULL, *pn = NULL;
    void *a = client("admitted", ep, &ac, &an), *b = client("stranger", ep, &bc, &bn);
    REQUIRE(a != NULL && b != NULL);
    EXPECT(zmq_send(a, "from a", 6, 0) == 6);
    EXPECT(zmq_send(b, "from b", 6, ZMQ_DONTWAIT) == 6 || zmq_errno() == EAGAIN);
    EXPECT(recv_within(pull, 3000, buf, sizeof buf) && strcmp(buf, "from a") == 0);
    EXPECT(!recv_within(pull, 500, buf, sizeof buf));          /* nothing of the stranger's */
    EXPECT(wait_refused(srv, 1, 3000) >= 1);
    net_counts_t k;
    for (int t = 0; t < 150 && net_check(bn) == 0; t++) sleep_ms(20);
    net_counts(bn, &k);
    EXPECT(k.failed >= 1);                                      /* the stranger knows it was refused */
    /* libzmq never tries a refused key again: the stage is told, instead of waiting for ever */
    EXPECT(net_check(bn) != 0 && strstr(err_msg(), "trainer refused this stage's key"));
    EXPECT(net_check(an) == 0);
    err_clear();

    /* a plain client (no CURVE) does not get through either */
    pc = (net_config_t){0};
    REQUIRE(net_open(&pc, NULL, "plain", &pn) == 0);
    void *p = net_connect(pn, ZMQ_PUSH, ep, 0, NET_TRAINER, "batches");
    REQUIRE(p != NULL);
    EXPECT(zmq_send(p, "plain", 5, ZMQ_DONTWAIT) == 5 || zmq_errno() == EAGAIN);
    EXPECT(!recv_within(pull, 500, buf, sizeof buf));
    uint64_t refused = wait_refused(srv, 2, 3000);
    EXPECT(refused >= 2);

    /* the admitted key removed: that client's next connection is refused */
    zmq_close(a);
    net_close(&an);
    EXPECT(unlink(path_of("allow/admitted.pub")) == 0);
    a = client("admitted", ep, &ac, &an);
    REQUIRE(a != NULL);
    EXPECT(zmq_send(a, "again", 5, ZMQ_DONTWAIT) == 5 || zmq_errno() == EAGAIN);
    EXPECT(!recv_within(pull, 1000, buf, sizeof buf));
    EXPECT(wait_refused(srv, refused + 1, 3000) >= refused + 1);

    zmq_close(a);
    zmq_close(b);
    zmq_close(p);
    zmq_close(pull);
    net_close(&an);
    net_close(&bn);
    net_close(&pn);
    net_close(&srv);
}

TEST(rejected_messages_are_counted) {
    net_config_t c = {0};
    net_t *n = NULL;
    REQUIRE(net_open(&c, NULL, "test", &n) == 0);
    for (int i = 0; i < 1000; i++) net_rejected(n, i % 2 ? "credits" : "batches", "not msgpack");
    net_counts_t k;
    net_counts(n, &k);
    EXPECT(k.rejected == 1000 && k.refused == 0);
    net_close(&n);
}

int main(void) {
    if (tl_tmpdir(g_dir, sizeof g_dir, "net") != 0) {
        perror("mkdtemp");
        return 1;
    }
    char allow[300];
    snprintf(allow, sizeof allow, "%s/allow", g_dir);
    mkdir(allow, 0755);
    make_pair("server", g_dir);
    make_pair("admitted", allow);
    make_pair("stranger", g_dir);
    RUN(key_files_are_read_and_bad_ones_named);
    RUN(only_loopback_is_local);
    RUN(binding_beyond_loopback_needs_keys_or_insecure);
    RUN(keys_needed_where_they_are_used);
    RUN(curve_admits_the_allowed_refuses_the_rest_and_forgets_removed_keys);
    RUN(rejected_messages_are_counted);
    tl_tmpdir_done(g_dir);
    return TEST_SUMMARY();
}
