/* dense.cu: fully connected layers on cuBLAS. The model's row-major x (n, in), k (in, out), y (n, out)
 * are, to column-major cuBLAS, x^T, k^T and y^T, so y^T = k^T x^T is one sgemm without copies:
 *   forward   y^T (out, n)  = k^T (out, in)  x^T (in, n)
 *   kernel    dk^T (out, in) = dy^T (out, n) (x^T)^T
 *   input     dx^T (in, n)  = (k^T)^T dy^T (out, n)
 * Math mode (set at create): fp32 the default (no TF32), tf32 CUBLAS_TF32_TENSOR_OP_MATH. */
#include "nn/cuda/net.h"

/* y = act(x k + b) for all max_batch rows */
int cuda_dense_forward(cuda_ctx_t *c, int i, const float *x) {
    cuda_layer_t *l = &c->layers[i];
    const nn_layer_t *s = l->spec;
    int in = s->in_h * s->in_w * s->in_c, out = s->units;
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_TRY(cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, out, c->max_batch, in, &one, c->P + s->w_off, out, x,
                           in, &zero, l->y, out));
    TRY(cuda_bias_act(l->y, c->P + s->b_off, l->y_count, out, l->act, c->compute));
    return 0;
}

/* dy (n, out), the gradient of the pre-activation -> dk, db into G; dx (n, in) (may be NULL) */
int cuda_dense_backward(cuda_ctx_t *c, int i, const float *x, const float *dy, float *dx) {
    cuda_layer_t *l = &c->layers[i];
    const nn_layer_t *s = l->spec;
    int in = s->in_h * s->in_w * s->in_c, out = s->units;
    const float one = 1.0f, zero = 0.0f;
    TRY(cuda_colsum(dy, (size_t)c->max_batch, out, c->partial, c->G + s->b_off, c->compute));
    CUBLAS_TRY(cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_T, out, in, c->max_batch, &one, dy, out, x, in, &zero,
                           c->G + s->w_off, out));
    if (dx)
        CUBLAS_TRY(cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, in, c->max_batch, out, &one, c->P + s->w_off, out,
                               dy, out, &zero, dx, in));
    return 0;
}
