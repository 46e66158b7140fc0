/* loader.c: the loader stage: waits for the trainer's START, then keeps at most W jobs in flight,
 * sends them (and the END_EPOCH / END_RUN markers) in stream order, resends what is not credited in
 * time, and returns once the trainer has credited END_RUN. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/check.h"
#include "common/log.h"
#include "common/runend.h"
#include "common/timeutil.h"
#include "image/dataset.h"
#include "loader/internal.h"
#include "proto/sock.h"

#define POLL_MS 50
#define BACKOFF_MAX 3          /* resend timeouts: T, 2T, 4T, 8T, 8T, ... */
#define JOBS_HWM 2             /* small queues per augmenter: jobs go to whoever is free */

typedef struct {
    const loader_config_t *c;
    loader_stats_t *st;
    nn_model_t model;
    ds_split_t train;
    plan_t plan;
    jobmaker_t jm;
    flight_t fl;
    proto_limits_t lim;
    geom_t own;                /* from flags and spec                                      */
    geom_t g;                  /* of the current START                                     */
    int started;
    pos_t cur;                 /* the next item to make                                    */
    net_t *net;
    void *jobs, *credits, *control;
    zmq_msg_t frame;
    proto_msg_t *in, *tx;            /* decode and encode scratch (large), allocated once            */
    proto_buf_t scratch;            /* markers are encoded on each send                         */
    int end_credited;          /* END_RUN credited                                          */
    int done;                  /* ... and every item before it: the run is complete          */
    int shutdown;              /* SHUTDOWN received                                         */
    int frame_ok;
    double t_epoch;            /* when the current epoch's first job was made              */
    uint64_t epoch_resent;
} loader_t;

void loader_config_default(loader_config_t *c) {
    memset(c, 0, sizeof *c);
    c->epochs = 0;
    c->steps_per_epoch = -1;
    c->window = 8;
    c->resend_ms = 10000;
    c->jobs_bind = SOCK_EP_JOBS_BIND;
    c->credits_bind = SOCK_EP_CREDITS_BIND;
    c->control_bind = SOCK_EP_CONTROL_BIND;
}

static int is_dir(const char *dir, const char *sub) {
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Keras' "Found N images belonging to K classes." for the other splits, when present. */
static void print_other_splits(const char *dir) {
    const char *names[] = {"validation", "test"};
    for (int i = 0; i < 2; i++) {
        if (!is_dir(dir, names[i])) continue;
        ds_split_t s;
        int64_t ignored = 0;
        memset(&s, 0, sizeof s);
        if (ds_index(dir, names[i], 1, &s, &ignored) == 0) {
            ds_print_summary(&s);
        } else {
            LOG_W("%s split: %s", names[i], err_msg());
            err_clear();
        }
        ds_free(&s);
    }
    fflush(stdout);
}

static int setup(loader_t *L) {
    const loader_config_t *c = L->c;
    CHECK(c->data_dir && *c->data_dir, "no data folder (--data DIR)");
    CHECK(c->model_path && *c->model_path, "no model spec (--model MODEL.ini)");
    CHECK(c->window >= 1, "--window must be at least 1 (got %d)", c->window);
    CHECK(c->resend_ms >= 1, "--resend-ms must be at least 1 (got %d)", c->resend_ms);
    CHECK(c->epochs >= 0, "--epochs must be at least 0 (got %d)", c->epochs);
    CHECK(c->steps_per_epoch >= -1, "--steps-per-epoch must be at least -1 (got %d)", c->steps_per_epoch);
    proto_limits_default(&L->lim);
    TRY(nn_model_load(c->model_path, &L->model));
    int64_t ignored = 0;
    if (ds_index(c->data_dir, "train", 2, &L->train, &ignored) != 0) {
        err_prepend("training split of %s", c->data_dir);
        return -1;
    }
    ds_print_summary(&L->train);
    if (ignored) LOG_I("train: %" PRId64 " files with other extensions ignored", ignored);
    print_other_splits(c->data_dir);

    TRY(plan_init(&L->plan, L->train.n_files, L->model.train.batch_size, L->model.train.seed));
    TRY(jobmaker_init(&L->jm, &L->train, &L->plan, &L->model, &L->lim));
    TRY(flight_init(&L->fl, c->window));
    L->own.epochs = (uint32_t)(c->epochs > 0 ? c->epochs : L->model.train.epochs);
    int steps = c->steps_per_epoch >= 0 ? c->steps_per_epoch : L->model.train.steps_per_epoch;
    L->own.steps = steps > 0 ? (uint64_t)steps : (uint64_t)L->plan.per_pass;
    CHECK(L->own.epochs >= 1, "the run has no epochs (spec %s)", c->model_path);

    L->in = calloc(1, sizeof *L->in);
    L->tx = calloc(1, sizeof *L->tx);
    CHECK(L->in != NULL && L->tx != NULL, "out of memory");
    CHECK(zmq_msg_init(&L->frame) == 0, "zmq_msg_init: %s", zmq_strerror(zmq_errno()));
    L->frame_ok = 1;
    TRY(net_open(&c->net, c->zctx, "loader", &L->net));
    L->jobs = net_bind(L->net, ZMQ_PUSH, c->jobs_bind, JOBS_HWM, "jobs");
    if (!L->jobs) return -1;   /* err_msg() names the socket, the endpoint and the reason */
    L->credits = net_bind(L->net, ZMQ_PULL, c->credits_bind, 0, "credits");
    if (!L->credits) return -1;
    L->control = net_bind(L->net, ZMQ_PUB, c->control_bind, 0, "control");
    if (!L->control) return -1;
    LOG_I("%" PRId64 " training images, batch %d (%" PRId64 " batches per pass), %u epochs of %" PRIu64
          " steps unless the trainer says otherwise; window %d, resend after %d ms; jobs on %s, credits on %s",
          L->train.n_files, L->plan.batch, L->plan.per_pass, L->own.epochs, L->own.steps, c->window,
          c->resend_ms, c->jobs_bind, c->credits_bind);
    LOG_I("waiting for the trainer's START");
    return 0;
}

static void teardown(loader_t *L) {
    sock_close(&L->jobs);
    sock_close(&L->credits);
    sock_close(&L->control);
    net_close(&L->net);
    if (L->frame_ok) zmq_msg_close(&L->frame);
    free(L->in);
    free(L->tx);
    proto_buf_free(&L->scratch);
    flight_free(&L->fl);
    jobmaker_free(&L->jm);
    plan_free(&L->plan);
    ds_free(&L->train);
    nn_model_free(&L->model);
}

/* Seq of the oldest item not acknowledged: the bottom of the credit window. */
static uint64_t lowest_unacked(loader_t *L) { return L->fl.count ? flight_at(&L->fl, 0)->pos.seq : L->cur.seq; }

static void publish_in_flight(loader_t *L) {
    if (!L->st) return;
    int n = flight_batches(&L->fl);
    atomic_store(&L->st->in_flight, n);
    if (n > atomic_load(&L->st->max_in_flight)) atomic_store(&L->st->max_in_flight, n);
}

static void on_start(loader_t *L, const proto_control_t *s) {
    geom_t g = L->own;
    if (s->epochs > 0) g.epochs = s->epochs;
    if (s->steps_per_epoch > 0) g.steps = (uint64_t)s->steps_per_epoch;
    else if (s->steps_per_epoch == 0) g.steps = (uint64_t)L->plan.per_pass;
    if (L->started && g.epochs == L->g.epochs && g.steps == L->g.steps && s->seq == lowest_unacked(L)) {
        LOG_D("START at %" PRIu64 " repeated: carrying on", s->seq);
        return;
    }
    if (g.epochs != L->own.epochs || g.steps != L->own.steps)
        LOG_W("the trainer asks for %u epochs of %" PRIu64 " steps; flags and spec said %u of %" PRIu64
              ": using the trainer's", g.epochs, g.steps, L->own.epochs, L->own.steps);
    if (L->started)
        LOG_I("START at seq %" PRIu64 ": restarting the stream there (%d items in flight dropped)", s->seq,
              L->fl.count);
    else
        LOG_I("START at seq %" PRIu64 " (epoch %" PRIu64 "): %u epochs of %" PRIu64 " steps", s->seq,
              s->seq / g.steps + 1, g.epochs, g.steps);
    L->g = g;
    L->started = 1;
    flight_clear(&L->fl);
    L->cur = pos_first(&g, s->seq);
    L->t_epoch = now_s();
    L->epoch_resent = 0;
    if (L->st) atomic_fetch_add(&L->st->starts, 1);
    publish_in_flight(L);
}

static void on_acked(loader_t *L, item_t *it) {
    it->acked = 1;
    /* evidence of loss for the older items still waiting: something sent after them got through */
    for (int i = 0; i < L->fl.count && flight_at(&L->fl, i) != it; i++) flight_at(&L->fl, i)->passed = 1;
    if (L->st) atomic_fetch_add(&L->st->credits, 1);
    if (it->pos.kind == ITEM_END_EPOCH) {
        double dt = now_s() - L->t_epoch;
        LOG_I("epoch %u/%u taken by the trainer: %.1f s (%.1f batches/s), %" PRIu64 " resends", it->pos.epoch + 1,
              L->g.epochs, dt, dt > 0 ? (double)L->g.steps / dt : 0.0, L->epoch_resent);
        L->t_epoch = now_s();
        L->epoch_resent = 0;
    } else if (it->pos.kind == ITEM_END_RUN) {
        L->end_credited = 1;   /* done once everything before it is credited too */
    }
}

/* Credits, markers echoed back as credits, START and SHUTDOWN. */
static int drain_credits(loader_t *L) {
    for (;;) {
        int rc = sock_recv(L->credits, &L->frame, &L->lim, L->in, 0);
        if (rc == 0) return 0;
        if (rc == -2) return -1;
        if (rc == -1) {
            net_rejected(L->net, "credits", "%s", err_msg());
            err_clear();
            continue;
        }
        const proto_msg_t *m = L->in;
        if (m->kind == PROTO_CREDIT) {
            item_t *it = L->started ? flight_find(&L->fl, ITEM_BATCH, m->credit.seq) : NULL;
            if (it && !it->acked) on_acked(L, it);
            else LOG_D("credit for %" PRIu64 ": not in flight", m->credit.seq);
        } else if (m->kind == PROTO_CONTROL) {
            const proto_control_t *k = &m->control;
            if (k->op == PROTO_CTRL_START) {
                on_start(L, k);
            } else if (k->op == PROTO_CTRL_END_EPOCH || k->op == PROTO_CTRL_END_RUN) {
                item_kind_t kind = k->op == PROTO_CTRL_END_EPOCH ? ITEM_END_EPOCH : ITEM_END_RUN;
                item_t *it = L->started ? flight_find(&L->fl, kind, k->seq) : NULL;
                if (it && !it->acked) on_acked(L, it);
            } else if (k->op == PROTO_CTRL_SHUTDOWN) {
                LOG_I("SHUTDOWN received: stopping");
                L->shutdown = 1;
                return 0;
            }
        } else {
            net_rejected(L->net, "credits", "a %s message is not for this socket", proto_kind_name(m->kind));
        }
    }
}

/* Make new items while the window allows: seq < lowest unacknowledged + W. */
static int fill(loader_t *L) {
    while (L->started && L->cur.kind != ITEM_DONE) {
        uint64_t low = lowest_unacked(L);
        if (L->cur.seq >= low + (uint64_t)L->c->window) return 0;
        item_t *it = flight_push(&L->fl, &L->cur);
        if (!it) return 0;
        if (it->pos.kind == ITEM_BATCH) {
            if (jobmaker_make(&L->jm, &it->pos, &L->fl.pool[it->buf]) != 0) {
                err_prepend("job %" PRIu64 ": ", it->pos.seq);
                return -1;
            }
            if (it->pos.step == 0) LOG_I("epoch %u/%u: making its %" PRIu64 " jobs", it->pos.epoch + 1,
                                         L->g.epochs, L->g.steps);
        }
        L->cur = pos_next(&L->g, &L->cur);
    }
    return 0;
}

/* One frame, without blocking: 0 sent, 1 would block, -1 error. */
static int send_frame(void *sock, const proto_buf_t *b) {
    if (zmq_send(sock, b->data, b->len, ZMQ_DONTWAIT) >= 0) return 0;
    int e = zmq_errno();
    if (e == EAGAIN || e == EINTR) return 1;
    err_set("zmq_send: %s", zmq_strerror(e));
    return -1;
}

static int send_item(loader_t *L, item_t *it) {
    if (it->pos.kind == ITEM_BATCH) return send_frame(L->jobs, &L->fl.pool[it->buf]);
    L->tx->kind = PROTO_CONTROL;
    L->tx->control = (proto_control_t){.op = it->pos.kind == ITEM_END_EPOCH ? PROTO_CTRL_END_EPOCH : PROTO_CTRL_END_RUN,
                                     .seq = it->pos.seq, .epoch = it->pos.epoch, .epochs = L->g.epochs,
                                     .steps_per_epoch = (int32_t)L->g.steps};
    TRY(proto_encode(L->tx, &L->scratch));
    return send_frame(L->jobs, &L->scratch);
}

/* Item i is to be sent: never sent yet, or its timeout expired and it is either the oldest item in
 * flight or one that a later item has overtaken (credited after it). A trainer that is merely slow
 * credits in order, so it costs at most the oldest item's resend per timeout, not the whole window. */
static int is_due(const item_t *it, int i, int64_t now) {
    if (it->acked) return 0;
    if (!it->sent) return 1;
    return now >= it->due_ms && (i == 0 || it->passed);
}

/* Send what was never sent, and again what has waited too long for its credit, oldest first. */
static int send_due(loader_t *L) {
    int64_t now = now_ms();
    for (int i = 0; i < L->fl.count; i++) {
        item_t *it = flight_at(&L->fl, i);
        if (!is_due(it, i, now)) continue;
        int rc = send_item(L, it);
        if (rc < 0) return -1;
        if (rc == 1) return 0;   /* no augmenter ready: try again after the next poll */
        if (it->sent) {
            LOG_W("%s %" PRIu64 " not credited %" PRId64 " ms after its last send: sent again (send %d)",
                  it->pos.kind == ITEM_BATCH ? "job" : it->pos.kind == ITEM_END_EPOCH ? "END_EPOCH" : "END_RUN",
                  it->pos.seq, now - it->sent_ms, it->attempts + 1);
            L->epoch_resent++;
            if (L->st) atomic_fetch_add(&L->st->resent, 1);
        } else if (L->st) {
            atomic_fetch_add(it->pos.kind == ITEM_BATCH ? &L->st->jobs_sent : &L->st->markers_sent, 1);
        }
        int shift = it->attempts < BACKOFF_MAX ? it->attempts : BACKOFF_MAX;
        it->sent = 1;
        it->passed = 0;
        it->sent_ms = now;
        it->attempts++;
        it->due_ms = now + ((int64_t)L->c->resend_ms << shift);
    }
    return 0;
}

static int wants_send(loader_t *L) {
    int64_t now = now_ms();
    for (int i = 0; i < L->fl.count; i++)
        if (is_due(flight_at(&L->fl, i), i, now)) return 1;
    return 0;
}

static int loop(loader_t *L, const volatile sig_atomic_t *stop) {
    int64_t t_start = now_ms(), t_checked = 0;
    while (!*stop && !L->done && !L->shutdown) {
        zmq_pollitem_t items[2] = {{L->credits, 0, ZMQ_POLLIN, 0}, {L->jobs, 0, 0, 0}};
        if (wants_send(L)) items[1].events = ZMQ_POLLOUT;
        if (zmq_poll(items, 2, POLL_MS) < 0) {
            if (zmq_errno() == EINTR) continue;
            err_set("zmq_poll: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
        TRY(drain_credits(L));
        if (L->shutdown) break;
        if (!L->started && runend_seen(L->c->run_dir, t_start, &t_checked)) {
            LOG_I("%s/%s: the run is over; nothing to send", L->c->run_dir, RUNEND_FILE);
            L->done = 1;
            break;
        }
        flight_pop_acked(&L->fl);
        if (L->end_credited && L->fl.count == 0) {
            LOG_I("END_RUN and every batch before it credited: the run is complete");
            L->done = 1;
            break;
        }
        TRY(fill(L));
        TRY(send_due(L));
        publish_in_flight(L);
    }
    return 0;
}

int loader_run(const loader_config_t *c, const volatile sig_atomic_t *stop, loader_stats_t *stats) {
    log_set_thread_name("loader");
    loader_t *L = calloc(1, sizeof *L);
    CHECK(L != NULL, "out of memory");
    L->c = c;
    L->st = stats;
    int rc = setup(L);
    if (rc == 0) rc = loop(L, stop);
    if (rc == 0 && !L->done) LOG_I("stopped before the end of the run");
    if (rc == 0 && L->done) {   /* every augmenter hears it, not just the one that took END_RUN */
        LOG_I("announcing the end of the run to the augmenters on %s", c->control_bind);
        rc = sock_announce_end(L->control, &L->scratch, L->g.epochs * L->g.steps, L->g.epochs);
    }
    teardown(L);
    free(L);
    return rc;
}
