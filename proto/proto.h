/* proto.h: the messages the stages exchange. One ZeroMQ frame = one msgpack map with "kind" (str)
 * and "v" (protocol version); tensors are msgpack bin with dtype and shape alongside.
 *
 * Decoding is strict (unknown kind, wrong version, missing or mistyped field, shape that disagrees
 * with the byte count, a count over a limit are errors naming the problem) and zero-copy: pointers in
 * a decoded message point into the frame it was decoded from, which must outlive their use. */
#ifndef PAWPIPE_PROTO_H
#define PAWPIPE_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h> /* before msg_kind_t: see MSG_BATCH below */

#include "common/aug.h"

#define PROTO_VERSION 1
#define PROTO_MAX_MEMBERS 256     /* samples in one job or batch              */
#define PROTO_MAX_DIMS 4
#define PROTO_MAX_TENSORS 64
#define PROTO_MAX_METRICS 16
#define PROTO_NAME_MAX 64         /* tensor and metric names, NUL included     */
#define PROTO_PATH_MAX 512        /* file names in jobs and checkpoints        */
#define PROTO_SPEC_MAX 16384      /* model spec text carried in a checkpoint   */

typedef enum {
    MSG_JOB = 1,      /* loader -> augmenter: which samples make batch seq, with their bytes and seeds */
    PROTO_MSG_BATCH,  /* augmenter -> trainer: the finished uint8 NHWC batch (spelt MSG_BATCH)          */
    MSG_CREDIT,       /* trainer -> loader: batch seq was taken (acknowledged)                          */
    MSG_CHECKPOINT,   /* trainer -> evaluators: weights, spec, position, training metrics               */
    MSG_METRICS,      /* trainer -> evaluators: per-epoch or per-step training metrics                  */
    MSG_CONTROL,      /* in-stream markers (end of epoch / run, sequenced like batches) and commands    */
} msg_kind_t;

/* glibc's <sys/socket.h> (which <msgpack.h> and others include) declares an enumerator MSG_BATCH, a
 * sendmmsg flag, so ours is PROTO_MSG_BATCH, and MSG_BATCH names it in code that includes this
 * header, whichever of the two headers comes first. */
#undef MSG_BATCH
#define MSG_BATCH PROTO_MSG_BATCH

typedef enum { SPLIT_TRAIN = 0, SPLIT_VALIDATION, SPLIT_TEST } split_t;
typedef enum { DT_U8 = 1, DT_F32 } dtype_t;

typedef enum {
    CTRL_START = 1,   /* trainer -> loader on the credit socket: "send from seq on" (start or resume)   */
    CTRL_END_EPOCH,   /* in the job/batch stream, sequenced: epoch `epoch` is complete                 */
    CTRL_END_RUN,     /* in the job/batch stream, sequenced: no batch follows                          */
    CTRL_SHUTDOWN,    /* anyone: stop now                                                               */
} ctrl_op_t;

typedef struct {
    uint32_t id;            /* index of the file in its split's sorted index                   */
    uint8_t label;          /* class index (sorted sub-folder order)                            */
    uint64_t seed;          /* the sample's own seed: every random choice of its augmentation   */
    uint64_t key;           /* content fingerprint: the cache reference for the decoded image   */
    char name[PROTO_PATH_MAX]; /* file name relative to the data set, for warnings              */
    const uint8_t *data;    /* encoded image bytes (JPEG/PNG), len bytes; may be NULL (len 0)   */
    size_t len;
} job_member_t;

typedef struct {
    uint64_t seq;           /* global batch number: epoch * steps_per_epoch + step              */
    uint32_t epoch, step;
    split_t split;
    uint32_t height, width; /* output size of every image                                       */
    aug_params_t aug;       /* aug.enabled == 0: plain resize                                    */
    uint32_t n_members;
    job_member_t members[PROTO_MAX_MEMBERS];
} msg_job_t;

typedef struct {
    uint64_t seq;
    uint32_t epoch, step;
    uint32_t n, height, width, channels;
    const uint8_t *images;  /* n * height * width * channels bytes, NHWC                        */
    size_t images_len;
    uint8_t labels[PROTO_MAX_MEMBERS];
    uint32_t ids[PROTO_MAX_MEMBERS];
    uint32_t skipped;       /* members replaced because their file could not be used            */
    double work_ms;         /* time the augmenter spent on this batch (decode + augment)        */
} msg_batch_t;

typedef struct {
    uint64_t seq;
} msg_credit_t;

typedef struct {
    char name[PROTO_NAME_MAX];
    double value;
} proto_metric_t;

typedef struct {
    char name[PROTO_NAME_MAX];
    dtype_t dtype;
    uint32_t ndim;
    uint64_t shape[PROTO_MAX_DIMS];
    const uint8_t *data;    /* little-endian, product(shape) * dtype size bytes                 */
    size_t len;
} proto_tensor_t;

typedef struct {
    uint32_t epoch;
    uint64_t step;
    uint64_t seed;
    char spec[PROTO_SPEC_MAX];  /* model spec text, NUL-terminated                              */
    char path[PROTO_PATH_MAX];  /* where the trainer saved it; may be empty                      */
    uint32_t n_metrics;
    proto_metric_t metrics[PROTO_MAX_METRICS];
    uint32_t n_tensors;
    proto_tensor_t tensors[PROTO_MAX_TENSORS];
} msg_checkpoint_t;

typedef struct {
    uint32_t epoch;
    uint64_t step;
    uint32_t n_metrics;
    proto_metric_t metrics[PROTO_MAX_METRICS];
} msg_metrics_t;

typedef struct {
    ctrl_op_t op;
    uint64_t seq;           /* START: first seq wanted; END_*: the marker's place in the stream */
    uint32_t epoch;
    uint32_t skipped;       /* END_EPOCH: files skipped in that epoch, where known              */
    uint32_t epochs;        /* START: the run's length in epochs (0: the loader's own)          */
    int32_t steps_per_epoch;/* START: -1 the loader's (spec) value, 0 one pass, >0 this many    */
} msg_control_t;

typedef struct {
    msg_kind_t kind;
    union {
        msg_job_t job;
        msg_batch_t batch;
        msg_credit_t credit;
        msg_checkpoint_t checkpoint;
        msg_metrics_t metrics;
        msg_control_t control;
    };
} msg_t;

typedef struct {
    size_t max_message;       /* bytes of one frame                       (default 256 MiB) */
    uint32_t max_members;     /* members of a job or batch                (default PROTO_MAX_MEMBERS) */
    size_t max_image_bytes;   /* one encoded image in a job               (default 64 MiB)  */
    uint32_t max_side;        /* height / width of a batch                (default 4096)    */
} proto_limits_t;

void proto_limits_default(proto_limits_t *lim);   /* a NULL lim anywhere below means these defaults */

/* A growable byte buffer for encoding, allocated once and reused (len reset by each encode). */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} pbuf_t;

void pbuf_free(pbuf_t *b);

/* Encode m into out (out->len = bytes written). 0, or -1 with err_msg(). */
int proto_encode(const msg_t *m, pbuf_t *out);

/* Decode one frame into *out (large: keep one per process). 0, or -1 with err_msg() naming the
 * problem, e.g. "batch: images is 1000 bytes but shape 2x150x150x3 needs 135000"; after -1,
 * out->kind is 0 and the rest of *out is unspecified. Wire format: docs/protocol.md. */
int proto_decode(const void *buf, size_t len, const proto_limits_t *lim, msg_t *out);

const char *msg_kind_name(msg_kind_t k);   /* wire names: "job", "batch", ...; "?" when unknown */
const char *ctrl_op_name(ctrl_op_t op);    /* "start", "end_epoch", "end_run", "shutdown"       */
const char *dtype_name(dtype_t t);         /* "u8", "f32"                                       */
size_t dtype_size(dtype_t t);              /* bytes per element; 0 when unknown                 */
const char *split_name(split_t s);
int split_parse(const char *s, split_t *out);

/* Lookups in decoded messages: NULL / NAN when absent. */
const proto_tensor_t *proto_tensor_find(const msg_checkpoint_t *c, const char *name);
double proto_metric_get(const proto_metric_t *m, uint32_t n, const char *name);

#endif
