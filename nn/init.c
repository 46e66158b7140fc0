/* init.c: Keras' default initialisation: Glorot-uniform kernels and zero biases, from a seed alone. */
#include <math.h>
#include <string.h>

#include "common/rng.h"
#include "nn/model.h"

#define GLOROT_STREAM_TAG 0x676C6F726F74ull   /* "glorot": keeps init draws apart from other uses of seed */

void nn_init_params(const nn_model_t *m, uint64_t seed, float *params) {
    uint64_t key = rng_derive(seed, GLOROT_STREAM_TAG);
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer_t *l = &m->layers[i];
        if (l->w_count == 0) continue;
        /* Keras: a conv kernel's fans are receptive field x input / output channels. */
        double rf = l->type == NN_CONV2D ? (double)l->kernel * l->kernel : 1.0;
        double fan_in = rf * l->in_c, fan_out = rf * (l->type == NN_CONV2D ? l->filters : l->units);
        double limit = sqrt(6.0 / (fan_in + fan_out));
        rng_t r;
        rng_init(&r, key, (uint64_t)i);   /* one stream per layer: each kernel independent of the others */
        float *k = params + l->w_off;
        for (size_t j = 0; j < l->w_count; j++) k[j] = (float)((2.0 * rng_uniform_f(&r) - 1.0) * limit);
        memset(params + l->b_off, 0, l->b_count * sizeof *params);
    }
}
