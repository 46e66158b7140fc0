/* net.h: the ref backend's context and its whole-network passes (internal to nn/ref). */
#ifndef PAWPIPE_REF_NET_H
#define PAWPIPE_REF_NET_H

#include <stdint.h>

#include "nn/backend_check.h"
#include "nn/model.h"

typedef struct {
    nn_model_t m;                  /* the model's layers and sizes, copied (spec_text not kept)     */
    int max_batch, last_n;         /* last_n: batch size of the last forward pass (0: none yet)    */
    float *params, *grads, *rms;   /* n_params each, the model layout                              */
    float *input;                  /* scaled images, max_batch * in_h * in_w * in_c                */
    float *out[NN_MAX_LAYERS];     /* layer outputs after activation; a flatten shares its input's  */
    float *logits;                 /* the last layer's output before its activation, max_batch     */
    float *grad_a, *grad_b;        /* gradient ping-pong, each max_batch * the largest layer output */
    nn_staged_t staged;            /* the batch stage() took, and the running sums of the steps    */
} ref_net_t;

/* Forward over the n images already in net->input; dropout only when training. */
void ref_net_forward(ref_net_t *net, int n, int training, uint64_t dropout_seed);

/* Backward from dlogits (n floats, already in net->grad_a) into net->grads; needs the training
 * forward of the same batch and seed just before. */
void ref_net_backward(ref_net_t *net, int n, uint64_t dropout_seed);

#endif
