/* publish.c: checkpoint files, the latest.safetensors link, and the checkpoint/metrics PUB socket. */
#define _GNU_SOURCE
#include "trainer/publish.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "proto/sock.h"

#define PUB_HWM 4           /* checkpoints are large (13.8 MB for model1): a slow subscriber drops, never stalls */
#define PUB_LINGER_MS 3000  /* at exit, time given to the last messages to reach subscribers */

struct publisher {
    const nn_model_t *m;
    char run_dir[PROTO_PATH_MAX - 64];
    char path[PROTO_PATH_MAX];
    void *pub;
    float *params, *rms;          /* host copies of the backend's state, n_params each */
    nn_param_view_t views[PROTO_MAX_TENSORS];
    int n_views;
    proto_msg_t *msg;                   /* large (the spec text and tensor table): one, on the heap */
    proto_buf_t scratch;
};

int publisher_new(net_t *net, const char *endpoint, const char *run_dir, const nn_model_t *m,
                  publisher_t **out) {
    *out = NULL;
    CHECK(strlen(run_dir) < sizeof(((publisher_t *)0)->run_dir), "run directory name too long: %s", run_dir);
    CHECK(m->spec_text && strlen(m->spec_text) < PROTO_SPEC_MAX,
          "the model spec is too long to publish (%d bytes at most)", PROTO_SPEC_MAX - 1);
    TRY(mkdir_p(run_dir));
    publisher_t *p = calloc(1, sizeof *p);
    CHECK(p != NULL, "out of memory");
    p->m = m;
    snprintf(p->run_dir, sizeof p->run_dir, "%s", run_dir);
    p->n_views = nn_param_views(m, p->views, PROTO_MAX_TENSORS);
    CHECK_GOTO(p->n_views > 0 && p->n_views <= PROTO_MAX_TENSORS, fail,
               "model %s has %d parameter tensors, a checkpoint message carries 1..%d", m->name,
               p->n_views, PROTO_MAX_TENSORS);
    for (int i = 0; i < p->n_views; i++)
        CHECK_GOTO(strlen(p->views[i].name) < PROTO_NAME_MAX, fail, "tensor name '%s' is longer than %d bytes",
                   p->views[i].name, PROTO_NAME_MAX - 1);
    p->params = malloc(m->n_params * sizeof(float));
    p->rms = malloc(m->n_params * sizeof(float));
    p->msg = calloc(1, sizeof *p->msg);
    CHECK_GOTO(p->params && p->rms && p->msg, fail, "out of memory for %zu parameters", m->n_params);
    p->pub = net_bind(net, ZMQ_PUB, endpoint, PUB_HWM, "checkpoints");
    CHECK_GOTO(p->pub != NULL, fail, "checkpoints socket %s", endpoint);
    *out = p;
    return 0;
fail:
    publisher_destroy(&p);
    return -1;
}

void publisher_destroy(publisher_t **pp) {
    publisher_t *p = *pp;
    if (!p) return;
    if (p->pub) {   /* let the last checkpoint reach connected subscribers (sockets are made with linger 0) */
        int linger = PUB_LINGER_MS;
        if (zmq_setsockopt(p->pub, ZMQ_LINGER, &linger, sizeof linger) != 0)
            LOG_W("zmq_setsockopt(ZMQ_LINGER): %s", zmq_strerror(zmq_errno()));
    }
    sock_close(&p->pub);
    free(p->params);
    free(p->rms);
    free(p->msg);
    proto_buf_free(&p->scratch);
    free(p);
    *pp = NULL;
}

/* run_dir/latest.safetensors -> file_name (relative), replaced atomically. */
static int link_latest(publisher_t *p, const char *file_name) {
    char link[PROTO_PATH_MAX], tmp[PROTO_PATH_MAX + 8];
    snprintf(link, sizeof link, "%s/latest.safetensors", p->run_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", link);
    unlink(tmp);
    CHECK(symlink(file_name, tmp) == 0, "symlink %s: %s", tmp, strerror(errno));
    CHECK(rename(tmp, link) == 0, "rename %s: %s", tmp, strerror(errno));
    return 0;
}

static void copy_metrics(proto_metric_t *dst, uint32_t *n, const nn_ckpt_info_t *info) {
    *n = 0;
    for (int i = 0; i < info->n_metrics && *n < PROTO_MAX_METRICS; i++) {
        snprintf(dst[*n].name, PROTO_NAME_MAX, "%s", info->metric_names[i]);
        dst[*n].value = info->metric_values[i];
        (*n)++;
    }
}

static int publish(publisher_t *p, const nn_ckpt_info_t *info) {
    proto_msg_t *msg = p->msg;
    memset(msg, 0, sizeof *msg);
    msg->kind = PROTO_CHECKPOINT;
    proto_checkpoint_t *c = &msg->checkpoint;
    c->epoch = info->epoch;
    c->step = info->step;
    c->seed = info->seed;
    snprintf(c->spec, sizeof c->spec, "%s", p->m->spec_text);
    snprintf(c->path, sizeof c->path, "%s", p->path);
    copy_metrics(c->metrics, &c->n_metrics, info);
    c->n_tensors = (uint32_t)p->n_views;
    for (int i = 0; i < p->n_views; i++) {
        const nn_param_view_t *v = &p->views[i];
        proto_tensor_t *t = &c->tensors[i];
        memcpy(t->name, v->name, strlen(v->name) + 1);   /* lengths checked in publisher_new */
        t->dtype = PROTO_F32;
        t->ndim = (uint32_t)v->ndim;
        for (int d = 0; d < v->ndim; d++) t->shape[d] = (uint64_t)v->shape[d];
        t->data = (const uint8_t *)(p->params + v->offset);
        t->len = v->count * sizeof(float);
    }
    TRY(sock_send(p->pub, msg, &p->scratch, 0) < 0 ? -1 : 0);

    memset(msg, 0, sizeof *msg);
    msg->kind = PROTO_METRICS;
    msg->metrics.epoch = info->epoch;
    msg->metrics.step = info->step;
    copy_metrics(msg->metrics.metrics, &msg->metrics.n_metrics, info);
    TRY(sock_send(p->pub, msg, &p->scratch, 0) < 0 ? -1 : 0);
    return 0;
}

int publisher_announce_end(publisher_t *p, uint64_t steps, uint32_t epochs) {
    return sock_announce_end(p->pub, &p->scratch, steps, epochs);
}

int publisher_checkpoint(publisher_t *p, const nn_backend_t *be, void *ctx, const char *file_name,
                         const nn_ckpt_info_t *info, const char **path_out) {
    int n = snprintf(p->path, sizeof p->path, "%s/%s", p->run_dir, file_name);
    CHECK(n > 0 && n < (int)sizeof p->path, "checkpoint path too long");
    TRY(be->get_params(ctx, p->params, p->rms));
    TRY(nn_ckpt_save(p->path, p->m, info, p->params, p->rms));
    TRY(link_latest(p, file_name));
    TRY(publish(p, info));
    if (path_out) *path_out = p->path;
    return 0;
}
