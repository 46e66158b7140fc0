/* evaluator.h: the evaluator stage: scores the trainer's checkpoints on the validation split (metrics,
 * history.csv, learning curves), and the one-shot tools built on the same parts (one checkpoint file,
 * feature maps, predictions). main.c parses flags into an evaluator_config_t and calls one of these;
 * tests call them directly (evaluator_run in a thread, over inproc:// with a shared ZeroMQ context).
 * Every function assumes img_init() was called once by the process. */
#ifndef PAWPIPE_EVALUATOR_H
#define PAWPIPE_EVALUATOR_H

#include <signal.h>
#include <stdint.h>

#include "proto/net.h"

/* What evaluator_run has done. */
typedef struct {
    uint64_t received;    /* checkpoint messages received                                     */
    uint64_t evaluated;   /* checkpoints scored                                               */
    uint64_t from_files;  /* of which read from run_dir/latest.safetensors, never received    */
    uint64_t skipped;     /* received but passed over because a newer one was already queued */
    uint64_t refused;     /* spec or tensors that did not fit: logged, not scored             */
    uint64_t bad_frames;  /* frames that did not decode as a message                          */
} evaluator_stats_t;

typedef struct {
    const char *checkpoints;   /* --checkpoints ENDPOINT: the trainer's PUB socket (SUB connects) */
    const char *data_dir;      /* --data DIR: DIR/<split>/<class>/...                            */
    const char *split;         /* --split: "validation" (default) or "test"                        */
    const char *backend;       /* --backend ref|cpu|cpu-direct|cuda                                */
    const char *precision;     /* --precision fp32|tf32 (tf32: cuda only)                          */
    const char *run_dir;       /* --run-dir DIR: history.csv, curves.png and the TensorBoard event
                                  files of tensorboard/validation go here; NULL: none of them       */
    int no_tensorboard;        /* with run_dir: no TensorBoard event files                         */
    const char *classes;       /* --classes "a,b": names of class 0 and 1 for predictions; NULL:
                                  the data set's folder names, else "cats,dogs"                     */
    int validation_steps;      /* --validation-steps: -1 the spec's; 0 every image of the split    */
    int digits;                /* --digits: decimals of the probabilities --predict prints         */
    int batch_size;            /* --batch-size: 0 the spec's                                       */
    int rcvhwm;                /* checkpoints ZeroMQ may queue for us before the publisher drops   */
    int max_checkpoints;       /* return after scoring this many (0: until *stop)                   */
    int stay_after_end;        /* keep waiting after the end of the run (default 0: score what is
                                  left and return)                                                 */
    net_config_t net;          /* keys, I/O threads (proto/net.h)                                   */
    void *zctx;                /* ZeroMQ context to use; NULL: evaluator_run makes its own          */
    evaluator_stats_t *stats;  /* if not NULL, filled in when evaluator_run returns                 */
    /* If not NULL, called on the evaluator's thread after each checkpoint it has dealt with (scored
     * or refused) and each frame it could not decode, with the counts so far. The evaluator waits
     * for it to return, so it can pace the stage (tests) as well as report on it. */
    void (*on_progress)(const evaluator_stats_t *stats, void *arg);
    void *progress_arg;
} evaluator_config_t;

void evaluator_config_default(evaluator_config_t *c);

/* Follow the checkpoint stream until *stop (or max_checkpoints scored): score each checkpoint on the
 * split, or only the newest when several are queued; print one line per checkpoint on stdout, append
 * it to run_dir/history.csv and redraw run_dir/curves.png. A checkpoint that does not fit is logged
 * and passed over. When idle for 2 s, a run_dir/latest.safetensors newer than every checkpoint received
 * (lost on the way) is scored from the file. At the end of the run (announced on the stream, or, when
 * idle, run_dir's END marker: an evaluator started after the run) every epoch checkpoint in run_dir
 * not yet in history.csv is scored from its file and it returns 0, unless stay_after_end. Returns 0
 * when stopped or at the end, -1 + err_msg() when it cannot go on (no data, socket). */
int evaluator_run(const evaluator_config_t *c, const volatile sig_atomic_t *stop);

/* Metrics of one scoring pass (class 1 = positive). precision/recall are 0 when undefined (as
 * Keras), auc is NAN when a class is absent. */
typedef struct {
    int64_t n;
    double loss;              /* mean binary cross-entropy, from the logits   */
    double accuracy;          /* (logit > 0) == label                         */
    double precision, recall; /* of class 1 at threshold 0.5                  */
    double auc;               /* exact ROC AUC, ties counted one half         */
    int64_t tn, fp, fn, tp;
} eval_metrics_t;

/* --checkpoint FILE: score one checkpoint file on c->split, print the line, fill *out if not NULL. */
int evaluator_eval_file(const evaluator_config_t *c, const char *ckpt_path, eval_metrics_t *out);

/* --feature-maps IMAGE --checkpoint FILE --out DIR: DIR/00_input.png and one grid per conv/pooling
 * layer at the front of the network (at most 8), DIR/NN_<layer>.png. */
int evaluator_feature_maps(const evaluator_config_t *c, const char *ckpt_path, const char *image,
                           const char *out_dir);

/* --predict IMAGE... --checkpoint FILE: one line per file, "FILE: CLASS (p=...)", or the reason it
 * could not be read. *n_ok = files scored. Returns -1 only when the model itself failed. */
int evaluator_predict(const evaluator_config_t *c, const char *ckpt_path, char *const *images,
                      int n_images, int *n_ok);

/* --export OUT.h5|OUT.keras --checkpoint FILE: write the model of FILE (a checkpoint or a Keras file)
 * with its weights and RMSprop state as a Keras file (interop/keras.h). */
int evaluator_export(const char *model_path, const char *out_path);

#endif
