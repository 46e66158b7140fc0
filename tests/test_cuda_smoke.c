/* test_cuda_smoke.c: the GPU is found and the first CUDA kernel (uint8 -> [0,1]) equals the
 * reference kernel bit for bit. Skips (exit 77) with the reason on a machine without a GPU. */
#include <stdlib.h>

#include "common/check.h"
#include "nn/cuda/cuda.h"
#include "nn/ref/kernels.h"
#include "test.h"

static int have_gpu;

TEST(probe) {
    char desc[256];
    int rc = cuda_probe(desc, sizeof desc);
    REQUIRE(rc >= 0);
    if (rc == 1) SKIP("%s", desc);
    have_gpu = 1;
    printf("device: %s\n", desc);
}

TEST(scale_matches_reference) {
    if (!have_gpu) SKIP("no CUDA device");
    enum { N = 150 * 150 * 3 * 20 };
    uint8_t *src = malloc(N);
    float *want = malloc(N * sizeof(float)), *got = malloc(N * sizeof(float));
    REQUIRE(src && want && got);
    for (int i = 0; i < N; i++) src[i] = (uint8_t)(i * 131 + 7);
    ref_scale_u8(src, want, N);
    void *d_src = NULL, *d_dst = NULL;
    REQUIRE(cuda_alloc(&d_src, N) == 0 && cuda_alloc(&d_dst, N * sizeof(float)) == 0);
    REQUIRE(cuda_copy_to_device(d_src, src, N) == 0);
    REQUIRE(cuda_scale_u8(d_src, d_dst, N) == 0);
    REQUIRE(cuda_copy_to_host(got, d_dst, N * sizeof(float)) == 0);
    EXPECT(memcmp(want, got, N * sizeof(float)) == 0);
    cuda_free(d_src);
    cuda_free(d_dst);
    free(src), free(want), free(got);
}

int main(void) {
    RUN(probe);
    RUN(scale_matches_reference);
    return TEST_SUMMARY();
}
