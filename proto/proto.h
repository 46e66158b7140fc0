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

#include "common/aug.h"

#define PROTO_VERSION 1
#define PROTO_MAX_MEMBERS 256     /* samples in one job or batch              */
#define PROTO_MAX_DIMS 4
#define PROTO_MAX_TENSORS 64
#define PROTO_MAX_METRICS 16
#define PROTO_NAME_MAX 64         /* tensor and metric names, NUL included     */
#define PROTO_PATH_MAX 512        /* file names in jobs and checkpoints        */
#define PROTO_SPEC_MAX 16384      /* model spec text carried in a checkpoint   */

/* Every public name here starts with proto_ / PROTO_: a bare MSG_BATCH, for one, is a sendmmsg flag of
 * glibc's <sys/socket.h>. */
typedef enum {
    PROTO_JOB = 1,      /* loader -> augmenter: which samples make batch seq, with their bytes and seeds */
    PROTO_BATCH,        /* augmenter -> trainer: the finished uint8 NHWC batch                          */
    PROTO_CREDIT,       /* trainer -> loader: batch seq was taken (acknowledged)                        */
    PROTO_CHECKPOINT,   /* trainer -> evaluators: weights, spec, position, training metrics             */
    PROTO_METRICS,      /* trainer -> evaluators: per-epoch or per-step training metrics                */
    PROTO_CONTROL,      /* in-stream markers (end of epoch / run, sequenced like batches) and commands  */
} proto_kind_t;

typedef enum { PROTO_SPLIT_TRAIN = 0, PROTO_SPLIT_VALIDATION, PROTO_SPLIT_TEST } proto_split_t;
typedef enum { PROTO_U8 = 1, PROTO_F32 } proto_dtype_t;

typedef enum {
    PROTO_CTRL_START = 1,   /* trainer -> loader on the credit socket: "send from seq on" (start or resume)   */
    PROTO_CTRL_END_EPOCH,   /* in the job/batch stream, sequenced: epoch `epoch` is complete                 */
    PROTO_CTRL_END_RUN,     /* in the job/batch stream, sequenced: no batch follows                          */
    PROTO_CTRL_SHUTDOWN,    /* anyone: stop now                                                               */
} proto_ctrl_t;

typedef struct {
    uint32_t id;            /* index of the file in its split's sorted index                   */
    uint8_t label;          /* class index (sorted sub-folder order)                            */
    uint64_t seed;          /* the sample's own seed: every random choice of its augmentation   */
    uint64_t key;           /* content fingerprint: the cache reference for the decoded image   */
    char name[PROTO_PATH_MAX]; /* file name relative to the data set, for warnings              */
    const uint8_t *data;    /* encoded image bytes (JPEG/PNG), len bytes; may be NULL (len 0)   */
    size_t len;
} proto_member_t;

typedef struct {
    uint64_t seq;           /* global batch number: epoch * steps_per_epoch + step              */
    uint32_t epoch, step;
    proto_split_t split;
    uint32_t height, width; /* output size of every image                                       */
    aug_params_t aug;       /* aug.enabled == 0: plain resize                                    */
    uint32_t n_members;
    proto_member_t members[PROTO_MAX_MEMBERS];
} proto_job_t;

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
} proto_batch_t;

typedef struct {
    uint64_t seq;
} proto_credit_t;

typedef struct {
    char name[PROTO_NAME_MAX];
    double value;
} proto_metric_t;

typedef struct {
    char name[PROTO_NAME_MAX];
    proto_dtype_t dtype;
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
} proto_checkpoint_t;

typedef struct {
    uint32_t epoch;
    uint64_t step;
    uint32_t n_metrics;
    proto_metric_t metrics[PROTO_MAX_METRICS];
} proto_metrics_t;

typedef struct {
    proto_ctrl_t op;
    uint64_t seq;           /* START: first seq wanted; END_*: the marker's place in the stream */
    uint32_t epoch;
    uint32_t skipped;       /* END_EPOCH: files skipped in that epoch, where known              */
    uint32_t epochs;        /* START: the run's length in epochs (0: the loader's own)          */
    int32_t steps_per_epoch;/* START: -1 the loader's (spec) value, 0 one pass, >0 this many    */
} proto_control_t;

typedef struct {
    proto_kind_t kind;
    union {
        proto_job_t job;
        proto_batch_t batch;
        proto_credit_t credit;
        proto_checkpoint_t checkpoint;
        proto_metrics_t metrics;
        proto_control_t control;
    };
} proto_msg_t;

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
} proto_buf_t;

void proto_buf_free(proto_buf_t *b);

/* Encode m into out (out->len = bytes written). 0, or -1 with err_msg(). */
int proto_encode(const proto_msg_t *m, proto_buf_t *out);

/* Decode one frame into *out (large: keep one per process). 0, or -1 with err_msg() naming the
 * problem, e.g. "batch: images is 1000 bytes but shape 2x150x150x3 needs 135000"; after -1,
 * out->kind is 0 and the rest of *out is unspecified. Wire format: docs/protocol.md. */
int proto_decode(const void *buf, size_t len, const proto_limits_t *lim, proto_msg_t *out);

const char *proto_kind_name(proto_kind_t k);   /* wire names: "job", "batch", ...; "?" when unknown */
const char *proto_ctrl_name(proto_ctrl_t op);    /* "start", "end_epoch", "end_run", "shutdown"       */
const char *proto_dtype_name(proto_dtype_t t);         /* "u8", "f32"                                       */
size_t proto_dtype_size(proto_dtype_t t);              /* bytes per element; 0 when unknown                 */
const char *proto_split_name(proto_split_t s);
int proto_split_parse(const char *s, proto_split_t *out);

/* Lookups in decoded messages: NULL / NAN when absent. */
const proto_tensor_t *proto_tensor_find(const proto_checkpoint_t *c, const char *name);
double proto_metric_get(const proto_metric_t *m, uint32_t n, const char *name);

#endif
