/* scale.c: reference input scaling, uint8 pixels to float32 in [0, 1] (Keras rescale=1/255). */
#include "nn/ops.h"
#include "nn/ref/kernels.h"

/* src (count) -> dst (count): dst = src * float(1/255), the float32 product Keras' rescale makes. */
void ref_scale_u8(const uint8_t *src, float *dst, size_t count) {
    for (size_t i = 0; i < count; i++) dst[i] = op_scale_u8(src[i]);
}
