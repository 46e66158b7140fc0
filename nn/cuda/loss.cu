/* loss.cu: sigmoid + binary cross-entropy from the logits, on the device, so that a training step
 * needs no copy to the host: each thread computes its samples (nn/ops.h op_bce), then one thread adds
 * them up in sample order, in double, as the reference does, into the step's loss and accuracy and
 * the running sums. */
#include "nn/cuda/common.h"
#include "nn/cuda/cuda.h"
#include "nn/ops.h"

#define BCE_THREADS 256

/* logits, labels, dlogits (max_batch); hdr->n samples count. Shared memory: max_batch doubles of
 * per-sample loss and max_batch ints of correctness. */
__global__ static void bce_kernel(const float *logits, const float *labels, const cuda_hdr_t *hdr, int max_batch,
                                  int sum_up, float *dlogits, cuda_stats_t *stats) {
    extern __shared__ double shm[];
    double *loss = shm;
    int *correct = (int *)(shm + max_batch);
    int n = hdr->n;
    for (int i = threadIdx.x; i < max_batch; i += blockDim.x) {
        if (i < n) {
            loss[i] = op_bce(logits[i], labels[i], n, &dlogits[i], &correct[i]);
        } else {
            dlogits[i] = 0.0f;   /* images past n add exactly nothing to any gradient */
        }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double sum = 0.0;
        int right = 0;
        for (int i = 0; i < n; i++) sum += loss[i], right += correct[i];
        stats->loss = n > 0 ? sum / n : 0.0;
        stats->accuracy = n > 0 ? (double)right / n : 0.0;
        if (!sum_up) return;
        stats->loss_sum += stats->loss * n;
        stats->correct += stats->accuracy * n;
        stats->images += n;
        stats->steps += 1;
    }
}

extern "C" int cuda_bce(const float *logits, const float *labels, const cuda_hdr_t *hdr, int max_batch, int sum,
                        float *dlogits, cuda_stats_t *stats, cudaStream_t stream) {
    size_t shm = (size_t)max_batch * (sizeof(double) + sizeof(int));
    bce_kernel<<<1, BCE_THREADS, shm, stream>>>(logits, labels, hdr, max_batch, sum, dlogits, stats);
    LAUNCH_TRY("bce_kernel");
    return 0;
}
