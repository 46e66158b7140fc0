/* augmenter.c: the augmenter stage's loop: a job in, a batch out (markers forwarded), with the time
 * spent in transport (receive + decode of the job, encode + send of the batch) measured apart from
 * the work, and a summary of both in the log. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "augmenter/augmenter.h"
#include "augmenter/shcache.h"
#include "augmenter/sender.h"
#include "common/check.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/runend.h"
#include "common/timeutil.h"
#include "proto/sock.h"

#define POLL_MS 100
#define JOBS_HWM 1       /* hold at most one job beyond the one in hand: the loader gives the rest to others */
#define BATCHES_HWM 2
#define REPORT_S 30.0

typedef struct {
    const augmenter_config_t *c;
    augmenter_stats_t *st;
    worker_t *w;
    net_t *net;
    void *jobs, *batches, *control;
    int frame_ok;
    zmq_msg_t frame;
    proto_msg_t *in, out;
    sender_t *tx;
    proto_limits_t lim;
    /* totals for the summary */
    uint64_t n_batches, n_images, n_markers;
    double work_ms, recv_ms, send_ms, t_first, t_last, t_report;
    /* CPU time from the first job on: the whole process, ZeroMQ's threads, and this thread's
     * receive/decode/encode/send calls (what is not transport is decode + augment) */
    double cpu0, zmq_cpu0, call_cpu;
} aug_t;

void augmenter_config_default(augmenter_config_t *c) {
    memset(c, 0, sizeof *c);
    c->jobs = SOCK_EP_JOBS;
    c->batches = SOCK_EP_BATCHES;
    c->control = SOCK_EP_CONTROL;
    c->cache_mb = 1024;
    c->cache_shared = "auto";
    c->max_pixels = 50000000;
}

static int setup(aug_t *a) {
    const augmenter_config_t *c = a->c;
    CHECK(c->cache_mb >= 0, "--cache-mb must be at least 0 (got %d)", c->cache_mb);
    CHECK(c->max_pixels >= 1, "--max-pixels must be at least 1");
    proto_limits_default(&a->lim);
    char shared[160] = "";
    if (c->cache_shared && strcmp(c->cache_shared, "auto") == 0) shcache_default_name(c->jobs, shared, sizeof shared);
    else if (c->cache_shared && strcmp(c->cache_shared, "off") != 0) snprintf(shared, sizeof shared, "%s", c->cache_shared);
    TRY(worker_new((size_t)c->cache_mb << 20, shared[0] ? shared : NULL, c->max_pixels, &a->w));
    a->in = calloc(1, sizeof *a->in);
    CHECK(a->in != NULL, "out of memory");
    CHECK(zmq_msg_init(&a->frame) == 0, "zmq_msg_init: %s", zmq_strerror(zmq_errno()));
    a->frame_ok = 1;
    TRY(net_open(&c->net, c->zctx, c->name ? c->name : "augmenter", &a->net));
    a->jobs = net_connect(a->net, ZMQ_PULL, c->jobs, JOBS_HWM, NET_LOADER, "jobs");
    if (!a->jobs) return -1;   /* err_msg() names the socket, the endpoint and the reason */
    a->batches = net_connect(a->net, ZMQ_PUSH, c->batches, BATCHES_HWM, NET_TRAINER, "batches");
    if (!a->batches) return -1;
    a->control = net_connect(a->net, ZMQ_SUB, c->control, 0, NET_LOADER, "control");
    if (!a->control) return -1;
    CHECK(zmq_setsockopt(a->control, ZMQ_SUBSCRIBE, "", 0) == 0, "ZMQ_SUBSCRIBE: %s", zmq_strerror(zmq_errno()));
    TRY(sender_new(a->batches, BATCHES_HWM + 2, &a->tx));
    worker_stats_t ws;
    worker_stats(a->w, &ws);
    LOG_I("jobs from %s, batches to %s; cache %d MiB (%s), images over %" PRId64 " pixels skipped", c->jobs,
          c->batches, c->cache_mb, ws.shared ? "shared by this host's augmenters" : "private", c->max_pixels);
    return 0;
}

static void report(aug_t *a, const char *what) {
    worker_stats_t ws;
    worker_stats(a->w, &ws);
    double b = a->n_batches ? (double)a->n_batches : 1.0, span = a->t_last - a->t_first;
    double cpu = a->n_batches ? cpu_process_ms() - a->cpu0 : 0.0;
    double transport = a->n_batches ? a->call_cpu + proc_threads_cpu_ms("ZMQbg") - a->zmq_cpu0 : 0.0;
    LOG_I("%s: %" PRIu64 " batches, %" PRIu64 " images (%.1f images/s), %" PRIu64 " markers; per batch: work %.2f ms, "
          "transport %.3f ms (job recv+decode %.3f, batch encode+send %.3f); CPU per batch: work %.2f ms, transport "
          "%.3f ms (%.2f%%: ZeroMQ + msgpack calls and ZeroMQ's I/O thread); decodes %" PRId64 ", unusable files %" PRId64
          ", skipped members %" PRId64 "; %s cache %" PRId64 " images, %.1f MiB of %.0f, hits %" PRId64 ", misses %" PRId64
          ", refused %" PRId64,
          what, a->n_batches, a->n_images, span > 0 ? (double)a->n_images / span : 0.0, a->n_markers,
          a->work_ms / b, (a->recv_ms + a->send_ms) / b, a->recv_ms / b, a->send_ms / b, (cpu - transport) / b,
          transport / b, cpu > 0 ? 100.0 * transport / cpu : 0.0, ws.decodes, ws.decode_failures, ws.skipped,
          ws.shared ? "shared" : "private", ws.cache.entries, (double)ws.cache.bytes / 1048576.0, (double)ws.cache.max_bytes / 1048576.0, ws.cache.hits,
          ws.cache.misses, ws.cache.refused);
}

static void teardown(aug_t *a) {
    if (a->w) report(a, "summary");
    sock_close(&a->jobs);
    sock_close(&a->batches);
    sock_close(&a->control);
    net_close(&a->net);
    sender_destroy(&a->tx);
    if (a->frame_ok) zmq_msg_close(&a->frame);
    free(a->in);
    worker_destroy(&a->w);
}

/* A job that cannot be worked on (a member count or size out of range) is logged and dropped: the
 * loader resends it, and another augmenter fails the same way, so the trainer's wait shows the cause. */
static int on_job(aug_t *a, const volatile sig_atomic_t *stop) {
    if (worker_do_job(a->w, &a->in->job, &a->out.batch) != 0) {
        LOG_E("job %" PRIu64 " dropped: %s", a->in->job.seq, err_msg());
        err_clear();
        return 0;
    }
    a->out.kind = PROTO_BATCH;
    double c0 = cpu_thread_ms();
    int rc = sender_send(a->tx, &a->out, stop, &a->send_ms);
    a->call_cpu += cpu_thread_ms() - c0;
    if (rc < 0) return -1;
    if (rc == 1) return 0;
    a->work_ms += a->out.batch.work_ms;
    a->n_batches++;
    a->n_images += a->out.batch.n;
    if (a->st) {
        worker_stats_t ws;
        worker_stats(a->w, &ws);
        atomic_fetch_add(&a->st->jobs, 1);
        atomic_fetch_add(&a->st->skipped, a->out.batch.skipped);
        atomic_store(&a->st->decodes, (uint64_t)ws.decodes);
    }
    return 0;
}

static int on_marker(aug_t *a, const volatile sig_atomic_t *stop) {
    const proto_control_t *k = &a->in->control;
    if (k->op != PROTO_CTRL_END_EPOCH && k->op != PROTO_CTRL_END_RUN) {
        net_rejected(a->net, "jobs", "a %s control is not for this socket", proto_ctrl_name(k->op));
        return 0;
    }
    a->out.kind = PROTO_CONTROL;
    a->out.control = *k;
    double c0 = cpu_thread_ms();
    int rc = sender_send(a->tx, &a->out, stop, &a->send_ms);
    a->call_cpu += cpu_thread_ms() - c0;
    if (rc < 0) return -1;
    if (rc == 0) {
        a->n_markers++;
        if (a->st) atomic_fetch_add(&a->st->markers, 1);
        LOG_D("forwarded %s %" PRIu64, proto_ctrl_name(k->op), k->seq);
    }
    return 0;
}

/* The loader's control socket: 1 when it announced the end of the run, 0 otherwise, -1 on failure. */
static int take_control(aug_t *a) {
    int rc = sock_recv(a->control, &a->frame, &a->lim, a->in, 0);
    if (rc == -2) return -1;
    if (rc == -1) {
        net_rejected(a->net, "control", "%s", err_msg());
        err_clear();
        return 0;
    }
    if (rc == 1 && sock_is_run_end(a->in)) {
        LOG_I("the loader announced the end of the run");
        return 1;
    }
    return 0;
}

static int loop(aug_t *a, const volatile sig_atomic_t *stop) {
    a->t_report = now_s();
    int64_t t_idle = now_ms(), t_checked = 0;   /* t_idle: the start, or the last job */
    while (!*stop) {
        zmq_pollitem_t it[2] = {{a->jobs, 0, ZMQ_POLLIN, 0}, {a->control, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(it, 2, POLL_MS) < 0) {
            if (zmq_errno() == EINTR) continue;
            err_set("zmq_poll: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
        if (a->n_batches && now_s() - a->t_report > REPORT_S) {
            report(a, "so far");
            a->t_report = now_s();
        }
        if (it[1].revents & ZMQ_POLLIN) {
            int end = take_control(a);
            if (end < 0) return -1;
            if (end) return 0;
        }
        if (!(it[0].revents & ZMQ_POLLIN)) {
            if (net_check(a->net) != 0) return -1;   /* the loader or the trainer refused our key */
            if (runend_seen(a->c->run_dir, t_idle, &t_checked)) {
                LOG_I("%s/%s: the run is over", a->c->run_dir, RUNEND_FILE);
                return 0;
            }
            continue;
        }
        t_idle = now_ms();
        double t0 = now_s();
        if (!a->n_batches && !a->cpu0) {   /* CPU accounting starts with the first job */
            a->cpu0 = cpu_process_ms();
            a->zmq_cpu0 = proc_threads_cpu_ms("ZMQbg");
        }
        double c0 = cpu_thread_ms();
        int rc = sock_recv(a->jobs, &a->frame, &a->lim, a->in, 0);
        a->call_cpu += cpu_thread_ms() - c0;
        if (rc == -2) return -1;
        if (rc == 0) continue;
        if (rc == -1) {
            net_rejected(a->net, "jobs", "%s", err_msg());
            err_clear();
            if (a->st) atomic_fetch_add(&a->st->rejected, 1);
            continue;
        }
        a->recv_ms += (now_s() - t0) * 1000.0;
        if (a->in->kind == PROTO_JOB) {
            if (!a->n_batches) a->t_first = t0;
            TRY(on_job(a, stop));
            a->t_last = now_s();
        } else if (a->in->kind == PROTO_CONTROL) {
            TRY(on_marker(a, stop));
        } else {
            net_rejected(a->net, "jobs", "a %s message is not for this socket", proto_kind_name(a->in->kind));
        }
    }
    return 0;
}

int augmenter_run(const augmenter_config_t *c, const volatile sig_atomic_t *stop, augmenter_stats_t *stats) {
    log_set_thread_name(c->name ? c->name : "augmenter");
    aug_t *a = calloc(1, sizeof *a);
    CHECK(a != NULL, "out of memory");
    a->c = c;
    a->st = stats;
    int rc = setup(a);
    if (rc == 0) rc = loop(a, stop);
    teardown(a);
    free(a);
    return rc;
}
