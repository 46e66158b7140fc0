/* scale.c: reference input scaling, uint8 pixels to float32 in [0, 1] (Keras rescale=1/255). */
#include "nn/ref/kernels.h"

/* src (count) -> dst (count): dst = src * float(1/255), the float32 product Keras' rescale makes. */
void ref_scale_u8(const uint8_t *src, float *dst, size_t count) {
    const float s = 1.0f / 255.0f;
    for (size_t i = 0; i < count; i++) dst[i] = (float)src[i] * s;
}
