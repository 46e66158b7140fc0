/* backend.c: the backend registry: the tables this build has (ref always; cpu and cpu-direct with
 * oneDNN; cuda with the CUDA toolkit and cuDNN), looked up by name. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/check.h"
#include "nn/backend.h"
#include "nn/backends.h"

static const nn_backend_t *const backends[] = {
    &nn_backend_ref,
#ifdef PAWPIPE_HAVE_DNNL
    &nn_backend_cpu,
    &nn_backend_cpu_direct,
#endif
#ifdef PAWPIPE_HAVE_CUDA
    &nn_backend_cuda,
#endif
};
#define N_BACKENDS ((int)(sizeof(backends) / sizeof(backends[0])))

int nn_backend_count(void) { return N_BACKENDS; }

const nn_backend_t *nn_backend_at(int i) { return i >= 0 && i < N_BACKENDS ? backends[i] : NULL; }

static char names[256];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void make_names(void) {
    size_t n = 0;
    for (int i = 0; i < N_BACKENDS && n < sizeof names; i++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", backends[i]->name);
}

const char *nn_backend_names(void) {
    pthread_once(&names_once, make_names);
    return names;
}

const nn_backend_t *nn_backend_find(const char *name) {
    for (int i = 0; name && i < N_BACKENDS; i++)
        if (strcmp(backends[i]->name, name) == 0) return backends[i];
    err_set("unknown backend '%s' (available: %s)", name ? name : "(null)", nn_backend_names());
    return NULL;
}

const nn_backend_t *nn_backend_usable(const char *name) {
    const nn_backend_t *b = nn_backend_find(name);
    if (!b) return NULL;
    char why[256] = "";
    if (b->available && !b->available(why, sizeof why)) {
        err_set("the %s backend cannot run on this machine: %s", b->name, why);
        return NULL;
    }
    return b;
}

int nn_backend_open(const char *name, const nn_model_t *model, int max_batch, const nn_options_t *opts,
                    const nn_backend_t **be, void **ctx) {
    *be = NULL;
    *ctx = NULL;
    const nn_backend_t *b = nn_backend_usable(name);
    if (!b || b->create(model, max_batch, opts, ctx) != 0) return -1;
    *be = b;
    return 0;
}
