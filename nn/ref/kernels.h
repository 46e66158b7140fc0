/* kernels.h: the plain-C reference kernels, the specification every other backend is tested
 * against. Layouts: activations NHWC, conv kernels HWIO (kh, kw, in_c, out_c), dense kernels
 * (in, out), all float32. Backward functions overwrite (never accumulate into) their outputs. */
#ifndef PAWPIPE_REF_KERNELS_H
#define PAWPIPE_REF_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* conv2d, stride 1, 'valid': x (n, h, w, c), k (kh, kw, c, f), b (f) -> y (n, h-kh+1, w-kw+1, f). */
void ref_conv2d_forward(const float *x, const float *k, const float *b, float *y, int n, int h, int w,
                        int c, int kh, int kw, int f);
/* dx may be NULL (first layer). */
void ref_conv2d_backward(const float *x, const float *k, const float *dy, float *dx, float *dk,
                         float *db, int n, int h, int w, int c, int kh, int kw, int f);

/* max-pool p x p, stride p, floor: x (n, h, w, c) -> y (n, h/p, w/p, c). The gradient of a window
 * goes to its first maximum in row-major order. */
void ref_maxpool_forward(const float *x, float *y, int n, int h, int w, int c, int p);
void ref_maxpool_backward(const float *x, const float *y, const float *dy, float *dx, int n, int h,
                          int w, int c, int p);

/* dense: x (n, in), k (in, out), b (out) -> y (n, out). dx may be NULL. */
void ref_dense_forward(const float *x, const float *k, const float *b, float *y, int n, int in, int out);
void ref_dense_backward(const float *x, const float *k, const float *dy, float *dx, float *dk, float *db,
                        int n, int in, int out);

/* ReLU in place; backward: dy *= (y > 0), with y the ReLU output. */
void ref_relu_forward(float *y, size_t count);
void ref_relu_backward(const float *y, float *dy, size_t count);

/* Sigmoid in place (hidden layers; the output layer's sigmoid is folded into the loss); backward:
 * dy *= y * (1 - y), with y the sigmoid output. */
void ref_sigmoid_forward(float *y, size_t count);
void ref_sigmoid_backward(const float *y, float *dy, size_t count);

/* Inverted dropout in place: element i is kept when rng_uniform_at(seed, stream, i) >= rate and
 * then scaled by 1 / (1 - rate); dropped elements become 0. Backward applies the same mask. */
void ref_dropout_forward(float *y, size_t count, double rate, uint64_t seed, uint64_t stream);
void ref_dropout_backward(float *dy, size_t count, double rate, uint64_t seed, uint64_t stream);

/* Sigmoid + binary cross-entropy from the logits, computed stably:
 * loss_i = max(z,0) - z*y + log(1 + exp(-|z|)). Returns the mean loss; dlogits (may be NULL)
 * = (sigmoid(z) - y) / n; *accuracy (may be NULL) = mean((z > 0) == (y > 0.5)). */
double ref_sigmoid_bce(const float *logits, const float *labels, int n, float *dlogits,
                       double *accuracy);

/* RMSprop, Keras semantics (no momentum, not centred):
 * rms = rho * rms + (1 - rho) * g^2;  p -= lr * g / sqrt(rms + eps). */
void ref_rmsprop(float *p, const float *g, float *rms, size_t count, double lr, double rho, double eps);

/* uint8 -> float in [0, 1] (Keras rescale=1/255). */
void ref_scale_u8(const uint8_t *src, float *dst, size_t count);

#ifdef __cplusplus
}
#endif

#endif
