/* plan.c: which files make stream batch x, and each sample's seed (Keras' infinite shuffled iterator). */
#include <stdlib.h>

#include "common/check.h"
#include "common/rng.h"
#include "loader/loader.h"

int plan_init(plan_t *p, int64_t n, int batch, uint64_t seed) {
    CHECK(n > 0 && n <= UINT32_MAX, "plan: %lld files", (long long)n);
    CHECK(batch > 0, "plan: batch size %d", batch);
    p->n = n;
    p->batch = batch;
    p->seed = seed;
    p->per_pass = (n + batch - 1) / batch;
    p->pass = -1;
    p->perm = malloc((size_t)n * sizeof *p->perm);
    CHECK(p->perm != NULL, "plan: out of memory for %lld indices", (long long)n);
    return 0;
}

void plan_free(plan_t *p) {
    free(p->perm);
    p->perm = NULL;
    p->pass = -1;
}

/* Uniform integer in [0, m), m >= 1, without modulo bias (Lemire's multiply-and-reject). */
static uint32_t uniform_below(rng_t *r, uint32_t m) {
    uint64_t prod = (uint64_t)rng_u32(r) * m;
    uint32_t low = (uint32_t)prod;
    if (low < m) {
        uint32_t threshold = (uint32_t)(-m) % m;
        while (low < threshold) {
            prod = (uint64_t)rng_u32(r) * m;
            low = (uint32_t)prod;
        }
    }
    return (uint32_t)(prod >> 32);
}

static void shuffle_pass(plan_t *p, int64_t pass) {
    for (int64_t i = 0; i < p->n; i++) p->perm[i] = (uint32_t)i;
    rng_t r;
    rng_init(&r, p->seed, (uint64_t)pass);
    for (int64_t i = p->n - 1; i > 0; i--) {
        uint32_t j = uniform_below(&r, (uint32_t)i + 1);
        uint32_t t = p->perm[i];
        p->perm[i] = p->perm[j];
        p->perm[j] = t;
    }
    p->pass = pass;
}

int64_t plan_pass_of(const plan_t *p, uint64_t x) { return (int64_t)(x / (uint64_t)p->per_pass); }

int plan_batch(plan_t *p, uint64_t x, uint32_t *ids, uint64_t *seeds) {
    int64_t pass = plan_pass_of(p, x);
    int64_t j = (int64_t)(x % (uint64_t)p->per_pass);
    if (p->pass != pass) shuffle_pass(p, pass);
    int64_t first = j * p->batch;
    int64_t end = first + p->batch < p->n ? first + p->batch : p->n;
    for (int64_t k = first; k < end; k++) {
        ids[k - first] = p->perm[k];
        seeds[k - first] = rng_derive3(p->seed, (uint64_t)pass, p->perm[k]);
    }
    return (int)(end - first);
}
