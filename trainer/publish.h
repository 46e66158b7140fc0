/* publish.h: the trainer's output side: checkpoint files in the run directory (plus the
 * latest.safetensors link) and the PUB socket that carries PROTO_CHECKPOINT and PROTO_METRICS to
 * evaluators. Every buffer (host parameter copy, message, encode scratch) is allocated once. */
#ifndef PAWPIPE_TRAINER_PUBLISH_H
#define PAWPIPE_TRAINER_PUBLISH_H

#include "nn/backend.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "proto/net.h"

typedef struct publisher publisher_t;

/* Creates run_dir (and its parents) and binds a PUB socket on endpoint. 0 / -1 + err_msg(). */
int publisher_new(net_t *net, const char *endpoint, const char *run_dir, const nn_model_t *m,
                  publisher_t **out);
void publisher_destroy(publisher_t **p);

/* Copies the parameters and RMSprop state out of the backend, writes run_dir/file_name
 * atomically, points run_dir/latest.safetensors at it, and publishes PROTO_CHECKPOINT (spec, epoch,
 * step, seed, path, the metrics of info, every parameter tensor) and PROTO_METRICS.
 * On success *path_out (if not NULL) is the path written, valid until the next call. */
int publisher_checkpoint(publisher_t *p, const nn_backend_t *be, void *ctx, const char *file_name,
                         const nn_ckpt_info_t *info, const char **path_out);

/* Announce the end of the run on the PUB socket (after the last checkpoint, so evaluators score it
 * and exit); takes about a second (sock_announce_end). 0 / -1 + err_msg(). */
int publisher_announce_end(publisher_t *p, uint64_t steps, uint32_t epochs);

#endif
