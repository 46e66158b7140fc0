/* backend.c: the backend registry, looking a backend table up by name. */
#include <string.h>

#include "common/check.h"
#include "nn/backend.h"
#include "nn/backends.h"

static const nn_backend_t *const backends[] = {
    &nn_backend_ref,
    &nn_backend_cpu,
    &nn_backend_cpu_direct,
#ifdef PAWPIPE_HAVE_CUDA
    &nn_backend_cuda,
#endif
};
#define N_BACKENDS (sizeof(backends) / sizeof(backends[0]))

const char *nn_backend_names(void) {
#ifdef PAWPIPE_HAVE_CUDA
    return "ref, cpu, cpu-direct, cuda";
#else
    return "ref, cpu, cpu-direct";
#endif
}

const nn_backend_t *nn_backend_find(const char *name) {
    for (size_t i = 0; name && i < N_BACKENDS; i++)
        if (strcmp(backends[i]->name, name) == 0) return backends[i];
    err_set("unknown backend '%s' (available: %s)", name ? name : "(null)", nn_backend_names());
    return NULL;
}
