/* job.c: making one batch job: the plan's members with their seeds, cache keys and file bytes,
 * encoded once into the frame the loader sends (and resends) it from. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/log.h"
#include "loader/internal.h"

int jobmaker_init(jobmaker_t *j, const ds_split_t *split, plan_t *plan, const nn_model_t *m,
                  const proto_limits_t *lim) {
    memset(j, 0, sizeof *j);
    int b = m->train.batch_size;
    CHECK(b >= 1 && b <= (int)lim->max_members, "batch size %d is outside 1..%u", b, lim->max_members);
    j->split = split;
    j->plan = plan;
    j->height = m->in_h;
    j->width = m->in_w;
    j->aug = m->aug;
    /* a job must stay under the message limit: the members share it, with room for the rest */
    size_t share = (lim->max_message - 65536) / (size_t)b;
    j->max_file = share < lim->max_image_bytes ? share : lim->max_image_bytes;
    j->msg = calloc(1, sizeof *j->msg);
    j->bufs = calloc((size_t)b, sizeof *j->bufs);
    j->caps = calloc((size_t)b, sizeof *j->caps);
    j->ids = calloc((size_t)b, sizeof *j->ids);
    j->seeds = calloc((size_t)b, sizeof *j->seeds);
    j->warned = calloc((size_t)split->n_files, 1);
    CHECK(j->msg && j->bufs && j->caps && j->ids && j->seeds && j->warned, "out of memory");
    return 0;
}

void jobmaker_free(jobmaker_t *j) {
    if (j->bufs && j->plan)
        for (int i = 0; i < j->plan->batch; i++) free(j->bufs[i]);
    free(j->bufs);
    free(j->caps);
    free(j->ids);
    free(j->seeds);
    free(j->warned);
    free(j->msg);
    memset(j, 0, sizeof *j);
}

/* The bytes of file id into member slot k; an unreadable or oversized file travels empty and the
 * augmenter replaces it (the loader says why once per file). */
static void read_member(jobmaker_t *j, int k, uint32_t id, proto_member_t *mem) {
    const ds_file_t *f = &j->split->files[id];
    size_t len = 0;
    mem->data = NULL;
    mem->len = 0;
    if (f->size > (int64_t)j->max_file) {
        if (!j->warned[id])
            LOG_W("%s: %" PRId64 " bytes is over the %zu-byte limit of one image in a job; it travels "
                  "empty and is skipped", f->rel, f->size, j->max_file);
        j->warned[id] = 1;
        return;
    }
    if (ds_read_file(f->path, &j->bufs[k], &j->caps[k], &len) != 0) {
        if (!j->warned[id]) LOG_W("%s: cannot be read (%s); it travels empty and is skipped", f->rel, err_msg());
        j->warned[id] = 1;
        err_clear();
        return;
    }
    if (len > j->max_file) {
        if (!j->warned[id])
            LOG_W("%s: %zu bytes is over the %zu-byte limit of one image in a job; it travels empty and "
                  "is skipped", f->rel, len, j->max_file);
        j->warned[id] = 1;
        return;
    }
    mem->data = j->bufs[k];
    mem->len = len;
    j->bytes_read += len;
}

int jobmaker_make(jobmaker_t *j, const pos_t *pos, proto_buf_t *out) {
    ASSERT(pos->kind == ITEM_BATCH);
    proto_msg_t *m = j->msg;
    m->kind = PROTO_JOB;
    proto_job_t *job = &m->job;
    job->seq = pos->seq;
    job->epoch = pos->epoch;
    job->step = pos->step;
    job->split = PROTO_SPLIT_TRAIN;
    job->height = (uint32_t)j->height;
    job->width = (uint32_t)j->width;
    job->aug = j->aug;
    int n = plan_batch(j->plan, pos->seq, j->ids, j->seeds);
    job->n_members = (uint32_t)n;
    for (int k = 0; k < n; k++) {
        const ds_file_t *f = &j->split->files[j->ids[k]];
        proto_member_t *mem = &job->members[k];
        mem->id = j->ids[k];
        mem->label = (uint8_t)f->label;
        mem->seed = j->seeds[k];
        mem->key = f->key;
        snprintf(mem->name, sizeof mem->name, "%s", f->rel);
        read_member(j, k, j->ids[k], mem);
    }
    TRY(proto_encode(m, out));
    return 0;
}
